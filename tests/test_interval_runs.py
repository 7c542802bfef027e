"""``[intervals]`` in a run: the conformal interval reaches forecasts.csv, summary.json and the
page; coverage in the summary is the one recomputed from forecasts.csv; the truncation audit
compares lower/upper; the sweep can vary intervals.level; off keeps the config's dict as
before (trial ids unchanged)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from lstm_backtrader.backtests.audit import audit
from lstm_backtrader.backtests.cli import app
from lstm_backtrader.backtests.config import RunConfig, load_config
from lstm_backtrader.backtests.simulation import load_candles
from lstm_backtrader.models.conformal import IntervalSpec

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

runner = CliRunner()

TINY = """
[data]
source = "sample"
sample = "1d"
since = "2018-01-01"
until = "2019-06-01"
[model]
lookback = 8
units = [4]
epochs = 1
[walkforward]
train_bars = 300
retrain_every = 100
[intervals]
level = 0.9
window = 50
"""


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "intervals.toml"
    path.write_text(TINY, encoding="utf-8")
    return path


def test_intervals_off_leave_the_config_dict_unchanged() -> None:
    assert "intervals" not in RunConfig().to_dict()
    on = RunConfig(intervals=IntervalSpec(level=0.8))
    assert on.to_dict()["intervals"]["level"] == 0.8
    assert RunConfig.from_dict(on.to_dict()) == on
    assert RunConfig().with_overrides({"intervals": {"level": 0.9}}).intervals.level == 0.9


def test_run_with_intervals_writes_bounds_and_coverage(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    args = ["backtest", "--config", str(cfg), "--cache-dir", str(tmp_path / "cache"),
            "--reports-dir", str(tmp_path / "reports")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output[-2000:]
    run = (tmp_path / "reports" / "latest").resolve()
    frame = pd.read_csv(run / "forecasts.csv", index_col=0)
    assert {"forecast", "realised", "lower", "upper"} <= set(frame.columns)
    assert "spread" not in frame.columns  # one network, no MC dropout
    ok = frame[["lower", "upper", "realised"]].notna().all(axis=1)
    assert ok.sum() > 50
    assert (frame.loc[ok, "lower"] <= frame.loc[ok, "upper"]).all()
    inside = frame.loc[ok, "lower"].le(frame.loc[ok, "realised"]) & frame.loc[ok, "realised"].le(
        frame.loc[ok, "upper"]
    )
    summary = json.loads((run / "summary.json").read_text())
    block = summary["intervals"]
    assert block["level"] == 0.9 and block["method"] == "split" and block["window"] == 50
    assert 0 <= block["coverage"] <= 1
    assert block["coverage"] == pytest.approx(float(inside.mean()))
    assert block["bars"] == int(ok.sum())
    width = (frame["upper"] - frame["lower"]).dropna().mean()
    assert block["width"] == pytest.approx(float(width))
    fold_cov = [row["coverage"] for row in summary["folds"]["rows"]]
    assert all(c is None or 0 <= c <= 1 for c in fold_cov) and any(c is not None for c in fold_cov)
    page = (run / "index.html").read_text()
    assert "Conformal intervals" in page and "coverage" in page
    assert "coverage" in summary["images"] and (run / "plots" / "coverage.png").is_file()
    # the interval gate trades the same forecasts, only where the interval excludes zero
    equity = pd.read_csv(run / "equity.csv", index_col=0)
    assert "Interval gate (LSTM)" in equity.columns
    trades = pd.read_csv(run / "trades.csv")
    gate = trades[trades["strategy"] == "Interval gate (LSTM)"]
    above = frame.index[frame["lower"] > 0]
    bar_after = {t: frame.index[i + 1] for i, t in enumerate(frame.index[:-1])}
    allowed = {bar_after[t] for t in above if t in bar_after}  # decided at t, filled at t + 1
    assert set(gate["entry_time"].str[:10]) <= {str(t)[:10] for t in allowed}
    if not len(above):  # never open: flat, its equity the cash
        assert equity["Interval gate (LSTM)"].nunique() == 1


def test_audit_compares_the_interval_bounds(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path))
    candles, _ = load_candles(config.data)
    checks = audit(candles, config, points=[len(candles) - 40], cache_dir=tmp_path / "c")
    assert checks and all(c.identical for c in checks), [c.first_difference for c in checks]


def test_sweep_grids_over_interval_level_and_ensemble(tmp_path: Path) -> None:
    from lstm_backtrader.backtests.sweep import load_sweep
    from lstm_backtrader.backtests.sweep.trials import expand_trials

    path = tmp_path / "sweep.toml"
    path.write_text(
        '[grid]\n"intervals.level" = [0.8, 0.9]\n"model.ensemble" = [1, 2]\n', encoding="utf-8"
    )
    sweep = load_sweep(path)
    configs = [t.config for t in expand_trials(sweep)]
    assert sorted((c.intervals.level, c.model.ensemble) for c in configs) == [
        (0.8, 1), (0.8, 2), (0.9, 1), (0.9, 2)
    ]  # fmt: skip


def test_mc_dropout_run_writes_the_spread(tmp_path: Path) -> None:
    cfg = tmp_path / "mc.toml"
    cfg.write_text(TINY.replace("epochs = 1\n", "epochs = 1\nmc_dropout = 3\n"), encoding="utf-8")
    args = ["backtest", "--config", str(cfg), "--cache-dir", str(tmp_path / "cache"),
            "--reports-dir", str(tmp_path / "reports")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output[-2000:]
    frame = pd.read_csv((tmp_path / "reports" / "latest").resolve() / "forecasts.csv", index_col=0)
    assert {"spread", "lower", "upper"} <= set(frame.columns)
    spread = frame["spread"].dropna()
    assert len(spread) > 50 and (spread >= 0).all()
