"""End to end: ``lstm-bt backtest`` and ``lstm-bt audit`` with an exogenous candle file and
calendar features — the joined columns reach the walk-forward and the Backtrader indicator
(its forecasts equal the engine's on the joined frame), and the audit passes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lstm_backtrader.backtests.cli import app
from lstm_backtrader.backtests.config import load_config
from lstm_backtrader.backtests.simulation import load_candles
from lstm_backtrader.models.walkforward import WalkForward
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

runner = CliRunner()

CONFIG = """
[data]
source = "file"
path = "{main}"

[[data.features]]
name = "eth"
source = "file"
path = "{eth}"
timeframe = "12h"

[model]
features = ["log_return", "hl_range", "eth_log_return", "eth_hl_range", "dow_sin", "dow_cos"]
lookback = 6
units = [4]
epochs = 1

[walkforward]
train_bars = 120
retrain_every = 60
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    main = make_candles(260, seed=4, price=30_000.0)
    eth = make_candles(520, seed=5, freq="12h", price=2_000.0)
    for frame, name in ((main, "btc.csv"), (eth, "eth.csv")):
        frame.to_csv(tmp_path / name, index_label="timestamp")
    path = tmp_path / "run.toml"
    path.write_text(CONFIG.format(main=tmp_path / "btc.csv", eth=tmp_path / "eth.csv"))
    return path


def test_backtest_and_audit_with_an_exogenous_file(config: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = runner.invoke(app, ["backtest", "--config", str(config), "--cache-dir", str(cache),
                                 "--reports-dir", str(tmp_path / "reports")])  # fmt: skip
    assert result.exit_code == 0, result.output[-2000:]
    run = (tmp_path / "reports" / "latest").resolve()
    forecasts = pd.read_csv(run / "forecasts.csv", index_col=0, parse_dates=True)["forecast"]
    assert forecasts.notna().sum() > 100

    cfg = load_config(config)
    candles, source = load_candles(cfg.data)
    assert {"eth_log_return", "eth_hl_range"} <= set(candles.columns)
    engine = WalkForward(cfg.model, cfg.walkforward, cache_dir=cache).run(candles).forecasts
    engine = engine.reindex(forecasts.index)
    np.testing.assert_allclose(forecasts, engine, rtol=0, atol=1e-6, equal_nan=True)
    manifest = json.loads((run / "manifest.json").read_text())
    assert "eth" in json.dumps(manifest["data"])

    audit = runner.invoke(app, ["audit", "--config", str(config), "--cache-dir", str(cache),
                                "--points", "1"])  # fmt: skip
    assert audit.exit_code == 0, audit.output[-2000:]
    assert "exogenous" in audit.output and "audit passed" in audit.output


def test_a_missing_joined_column_is_named(config: Path, tmp_path: Path) -> None:
    text = config.read_text().replace('"eth_hl_range"', '"eth_typo"')
    config.write_text(text)
    result = runner.invoke(app, ["backtest", "--config", str(config), "--cache-dir",
                                 str(tmp_path / "c"), "--reports-dir", str(tmp_path / "r")])  # fmt: skip
    assert result.exit_code == 2
    assert "eth_typo" in result.output and "Traceback" not in result.output
