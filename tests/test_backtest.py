"""End-to-end ``lstm-bt backtest`` / ``report`` / ``audit`` with a tiny model (real Keras,
real Backtrader, real quantstats), offline."""

from __future__ import annotations

import json
import math
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
runner = CliRunner()

TINY = """
[model]
lookback = 8
units = [4]
epochs = 2
batch_size = 32
dropout = 0.0
[walkforward]
train_bars = {train_bars}
retrain_every = {retrain_every}
"""
FILES = ("tearsheet.html", "index.html", "summary.json", "forecasts.csv", "trades.csv",
         "equity.csv", "manifest.json")  # fmt: skip


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("backtest")


@pytest.fixture(scope="module")
def tiny_config(work: Path) -> Path:
    path = work / "tiny.toml"
    path.write_text(TINY.format(train_bars=1500, retrain_every=100))
    return path


def _backtest(*args: str) -> object:
    result = runner.invoke(app, ["backtest", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def first_run(work: Path, tiny_config: Path) -> Path:
    _backtest("--config", str(tiny_config), "--reports-dir", str(work / "reports"),
              "--cache-dir", str(work / "cache"))  # fmt: skip
    return (work / "reports" / "latest").resolve()


def _stats_from_equity(equity: pd.Series) -> dict[str, float]:
    """Independent recomputation (plain numpy) of the headline numbers."""
    values = equity.to_numpy()
    r = values[1:] / values[:-1] - 1.0
    years = (equity.index[-1] - equity.index[0]).total_seconds() / 86400 / 365.25
    peak = np.maximum.accumulate(values)
    return {
        "total_return": values[-1] / values[0] - 1.0,
        "cagr": (values[-1] / values[0]) ** (1.0 / years) - 1.0,
        "sharpe": r.mean() / r.std(ddof=1) * math.sqrt(365),
        "max_drawdown": (values / peak - 1.0).min(),
        "final_equity": values[-1],
    }


def test_run_folder_holds_every_file(first_run: Path, work: Path) -> None:
    for name in FILES:
        assert (first_run / name).is_file(), name
    assert (work / "reports" / "latest").is_symlink()
    page = (first_run / "index.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert "href='tearsheet.html'" in page and "data:image/png;base64," in page
    assert "id='fig-backtrader'" in page and (first_run / "plots" / "backtrader.png").is_file()
    tear = (first_run / "tearsheet.html").read_text()
    for heading in ("Key Performance Metrics", "EOY Returns vs Benchmark", "Buy &amp; hold"):
        assert heading in tear
    manifest = json.loads((first_run / "manifest.json").read_text())
    assert manifest["seeds"]["model"] == 42 and manifest["versions"]["tensorflow"]
    assert len(manifest["fold_model_hashes"]) == 3
    assert len(manifest["data"]["sha256"]) == 64


def test_summary_agrees_with_equity_csv(first_run: Path) -> None:
    summary = json.loads((first_run / "summary.json").read_text())
    equity = pd.read_csv(first_run / "equity.csv", index_col="timestamp", parse_dates=True)
    rows = {row["strategy"]: row for row in summary["strategies"]["rows"]}
    assert set(rows) == {"LSTM", "Buy & hold", "SMA cross", "Persistence sign"}
    assert set(equity.columns) == set(rows)
    assert equity.index[0] == pd.Timestamp(summary["data"]["out_of_sample_start"])
    for name, row in rows.items():
        expected = _stats_from_equity(equity[name])
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, key)
    trades = pd.read_csv(first_run / "trades.csv")
    for name, row in rows.items():
        assert row["n_trades"] == int((trades["strategy"] == name).sum())
    fc = pd.read_csv(first_run / "forecasts.csv", index_col="timestamp", parse_dates=True)
    ok = fc[["forecast", "realised"]].dropna()
    rmse = float(np.sqrt(((ok["forecast"] - ok["realised"]) ** 2).mean()))
    assert summary["forecast"]["rmse"] == pytest.approx(rmse, rel=1e-9)
    assert summary["forecast"]["baseline_rmse"] == pytest.approx(
        float(np.sqrt((ok["realised"] ** 2).mean())), rel=1e-9
    )
    assert set(fc["fold"]) == {0, 1, 2}


def test_second_run_is_identical_and_cached(first_run: Path, work: Path, tiny_config: Path) -> None:
    result = _backtest("--config", str(tiny_config), "--reports-dir", str(work / "reports"),
                       "--cache-dir", str(work / "cache"))  # fmt: skip
    second = (work / "reports" / "latest").resolve()
    assert second != first_run
    for name in ("summary.json", "forecasts.csv", "equity.csv", "trades.csv"):
        assert (second / name).read_bytes() == (first_run / name).read_bytes(), name
    assert "LSTM vs persistence: RMSE ratio" in result.output


def test_report_rebuilds_html_without_retraining(first_run: Path, work: Path) -> None:
    before = (first_run / "index.html").read_bytes()
    (first_run / "index.html").unlink()
    result = runner.invoke(app, ["report", str(first_run)])
    assert result.exit_code == 0, result.output
    assert (first_run / "index.html").read_bytes() == before
    assert (first_run / "tearsheet.html").is_file()
    # with the run's cache: the tearsheet comes back from the report pieces, byte for byte,
    # nothing is rendered or stored again
    tearsheet = (first_run / "tearsheet.html").read_bytes()
    pieces = sorted((work / "cache" / "report").iterdir())
    (first_run / "tearsheet.html").unlink()
    result = runner.invoke(app, ["report", str(first_run), "--cache-dir", str(work / "cache")])
    assert result.exit_code == 0, result.output
    assert (first_run / "tearsheet.html").read_bytes() == tearsheet
    assert sorted((work / "cache" / "report").iterdir()) == pieces
    result = runner.invoke(app, ["report", str(work)])
    assert result.exit_code == 2 and "not a run folder" in result.output


def test_real_binance_daily_data(btc_1d_path: Path, work: Path) -> None:
    cfg = work / "real.toml"
    cfg.write_text(TINY.format(train_bars=2750, retrain_every=90))
    _backtest("--config", str(cfg), "--data", str(btc_1d_path), "--reports-dir",
              str(work / "real"), "--cache-dir", str(work / "cache"))  # fmt: skip
    run = (work / "real" / "latest").resolve()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["data"]["bars"] == 2931 and summary["data"]["out_of_sample_bars"] == 181
    assert summary["forecast"]["n"] == 180  # the last bar's outcome is not known yet
    equity = pd.read_csv(run / "equity.csv", index_col="timestamp", parse_dates=True)
    bh = _stats_from_equity(equity["Buy & hold"])
    row = next(r for r in summary["strategies"]["rows"] if r["strategy"] == "Buy & hold")
    assert row["total_return"] == pytest.approx(bh["total_return"], rel=1e-9)


def test_audit_passes_on_the_pipeline_and_catches_a_leak(tiny_config: Path, work: Path) -> None:
    config = load_config(tiny_config).with_overrides({"walkforward": {"retrain_every": 130}})
    candles, _ = load_candles(config.data)
    candles = candles.iloc[:1700]
    checks = audit(candles, config, points=[1600], cache_dir=work / "cache")
    assert [(c.variant, c.identical) for c in checks] == [("cut", True), ("noise", True)]

    def leaking(c: pd.DataFrame) -> pd.Series:  # uses tomorrow's close: a look-ahead bug
        return np.log(c["close"].shift(-1) / c["close"])

    checks = audit(candles, config, points=[1600], forecast_fn=leaking)
    assert not any(c.identical for c in checks)
    # the leak shows at T itself: the full run's forecast at T used the bar after T
    assert checks[0].first_difference.startswith(f"forecast at {checks[0].point.isoformat()}: ")


def test_audit_cli(tiny_config: Path, work: Path) -> None:
    result = runner.invoke(app, ["audit", "--config", str(tiny_config), "--points", "1",
                                 "--cache-dir", str(work / "cache")], env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "audit passed: 2 checks" in result.output


def test_bad_config_and_bad_data_are_one_line(work: Path) -> None:
    bad = work / "bad.toml"
    bad.write_text("[walkforward]\nretrain_every = 0\n")
    result = runner.invoke(app, ["backtest", "--config", str(bad)])
    assert result.exit_code == 2
    assert (
        result.output.strip()
        == f"error: {bad}: [walkforward] retrain_every is 0: use an integer >= 1"
    )
    data = work / "bad.csv"
    data.write_text(
        "timestamp,open,high,low,close,volume\n2021-01-01,1,2,0.5,1,1\n2021-01-01,2,2,0.5,1,1\n"
    )
    result = runner.invoke(app, ["backtest", "--data", str(data)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {data}: 1 timestamp(s) appear")


def test_from_scratch_folds_on_two_processes_match_serial(tiny_config: Path, work: Path) -> None:
    """`--from-scratch --workers 2` trains the independent folds in two spawned processes and
    produces byte-identical results to the same run in this process."""
    outs = []
    for tag, extra in (("serial", []), ("procs", ["--workers", "2"])):
        _backtest("--config", str(tiny_config), "--from-scratch", *extra,
                  "--reports-dir", str(work / f"scratch-{tag}"),
                  "--cache-dir", str(work / f"scratch-cache-{tag}"))  # fmt: skip
        outs.append((work / f"scratch-{tag}" / "latest").resolve())
    for name in ("summary.json", "forecasts.csv", "equity.csv", "trades.csv"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    manifest = json.loads((outs[1] / "manifest.json").read_text())
    assert manifest["config"]["walkforward"]["warm_start"] is False
