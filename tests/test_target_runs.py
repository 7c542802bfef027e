"""``lstm-bt backtest`` with configs/volatility.toml and configs/direction.toml (tiny model,
short span of the embedded sample): the run folder's files, the target's scores against its
baselines, the target's strategies beside buy & hold, and the audit of the new lines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lstm_backtrader.backtests.audit import audit
from lstm_backtrader.backtests.cli import app
from lstm_backtrader.backtests.config import load_config
from lstm_backtrader.backtests.simulation import load_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()

#: (line pattern in the shipped config, tiny replacement)
TINY = (
    (r"lookback = \d+", "lookback = 10"),
    (r"units = \[[\d, ]+\]", "units = [4]"),
    (r"epochs = \d+", "epochs = 1"),
    (r"train_bars = \d+", "train_bars = 300"),
    (r"retrain_every = \d+", "retrain_every = 150"),
    (r'sample = "1d"', 'sample = "1d"\nsince = "2018-03-01"'),
)


def _tiny(name: str, tmp_path: Path) -> Path:
    text = (REPO / "configs" / f"{name}.toml").read_text(encoding="utf-8")
    for pattern, repl in TINY:
        text, n = re.subn(pattern, repl, text, count=1)
        assert n == 1, pattern  # the shipped config still holds the field
    out = tmp_path / f"{name}.toml"
    out.write_text(text, encoding="utf-8")
    return out


@pytest.mark.parametrize(
    ("name", "baselines", "strategies", "line"),
    [
        ("volatility", ["HAR", "EWMA", "GARCH", "Persistence"],
         ["Vol target (HAR)", "Vol target (EWMA)", "Vol target (constant)"], "vol"),
        ("direction", ["Base rate", "Logistic"],
         ["Prob gate (logistic)", "Prob gate (base rate)"], "prob"),
    ],
)  # fmt: skip
def test_shipped_target_config_runs(tmp_path, name, baselines, strategies, line) -> None:
    cfg = _tiny(name, tmp_path)
    config = load_config(cfg)
    assert config.model.target == name
    if name == "direction":  # the threshold follows the round-trip cost
        assert config.model.direction_threshold == pytest.approx(0.003)
    args = ["backtest", "--config", str(cfg), "--cache-dir", str(tmp_path / "cache"),
            "--reports-dir", str(tmp_path / "reports")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output[-2000:]
    run = (tmp_path / "reports" / "latest").resolve()
    for f in ("index.html", "tearsheet.html", "summary.json", "manifest.json",
              "forecasts.csv", "equity.csv", "trades.csv"):  # fmt: skip
        assert (run / f).is_file(), f
    summary = json.loads((run / "summary.json").read_text())
    block = summary["target"]
    assert block["target"] == name and block["n"] > 100
    assert list(block["comparisons"]) == baselines
    first = block["comparisons"][baselines[0]]
    key = "qlike" if name == "volatility" else "log_loss"
    assert first[f"{key}_ratio"] == pytest.approx(first[key] / first[f"baseline_{key}"])
    assert 0 <= first[f"dm_{key}"]["p_value"] <= 1
    shown = [r["strategy"] for r in summary["strategies"]["rows"]]
    assert shown == ["LSTM", "Buy & hold", *strategies]
    assert summary["images"][-1] == ("volatility" if name == "volatility" else "reliability")
    assert (run / "plots" / f"{summary['images'][-1]}.png").is_file()
    page = (run / "index.html").read_text()
    assert f"Forecast diagnostics ({name})" in page and baselines[0] in page
    frame = pd.read_csv(run / "forecasts.csv", index_col=0)
    wanted = {"forecast", "realised", line, "fold", "age"}
    assert wanted <= set(frame.columns), frame.columns
    lstm_line = frame[line].dropna()
    assert len(lstm_line) > 100
    if name == "volatility":  # the indicator's vol line is exp of the log-vol forecast
        assert (lstm_line > 0).all()
        forecast = frame.loc[lstm_line.index, "forecast"].to_numpy()
        np.testing.assert_allclose(np.log(lstm_line.to_numpy()), forecast, rtol=1e-9)
    else:
        assert lstm_line.between(0, 1).all()
    equity = pd.read_csv(run / "equity.csv", index_col=0)
    assert list(equity.columns) == shown


def test_audit_covers_the_target_lines_and_baselines(tmp_path) -> None:
    config = load_config(_tiny("volatility", tmp_path))
    candles, _ = load_candles(config.data)
    checks = audit(candles, config, points=[len(candles) - 60], cache_dir=tmp_path / "c")
    assert checks and all(c.identical for c in checks), [c.first_difference for c in checks]


def test_audit_catches_a_leaking_probability(tmp_path) -> None:
    """A "probability" that peeks at the next bar (1 where it rises) is caught at T itself;
    the strategies it drives and the prob line are compared too."""
    config = load_config(_tiny("direction", tmp_path))
    candles, _ = load_candles(config.data)

    def leaking(c: pd.DataFrame) -> pd.Series:
        up = (c["close"].shift(-1) > c["close"]).astype(float) * 0.8 + 0.1
        return up.where(c["close"].shift(-1).notna(), 0.5)

    point = len(candles) - 60
    checks = audit(candles, config, points=[point], cache_dir=tmp_path / "c", forecast_fn=leaking)
    bad = [c for c in checks if not c.identical]
    assert bad and bad[0].first_difference.startswith(
        f"forecast at {candles.index[point].isoformat()}: "
    )
