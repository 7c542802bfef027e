"""A sweep over the feature set, with exogenous series declared in [[data.features]]: the
grid varies ``model.features`` (lists of names, joined columns and calendar features included),
each trial's data holds the joined columns, and the engine runs every trial's feature set."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstm_backtrader.backtests.sweep.spec import load_sweep
from lstm_backtrader.backtests.sweep.trials import expand_trials, load_assets
from lstm_backtrader.models.walkforward import WalkForward
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SWEEP = """
seeds = [1]
[data]
source = "file"
path = "btc.csv"
[[data.features]]
name = "eth"
source = "file"
path = "data/eth_12h.csv"
[model]
lookback = 5
units = [4]
epochs = 1
dropout = 0.0
[walkforward]
train_bars = 80
retrain_every = 60
[grid]
"model.features" = [["log_return"], ["log_return", "eth_log_return", "dow_sin", "dow_cos"]]
"""


def test_a_grid_over_features_with_exogenous_columns(tmp_path: Path) -> None:
    make_candles(160).to_csv(tmp_path / "btc.csv")
    (tmp_path / "data").mkdir()
    make_candles(340, seed=2, freq="12h", start="2019-12-28").to_csv(tmp_path / "data/eth_12h.csv")
    (tmp_path / "sweep.toml").write_text(SWEEP, encoding="utf-8")
    sweep = load_sweep(tmp_path / "sweep.toml")  # the feature file is relative to the sweep
    trials = expand_trials(sweep)
    assert [t.config.model.features for t in trials] == [
        ("log_return",),
        ("log_return", "eth_log_return", "dow_sin", "dow_cos"),
    ]
    assert all(t.config.data.features[0].name == "eth" for t in trials)
    (asset,) = load_assets(sweep).values()
    assert {"eth_log_return", "eth_hl_range", "eth_log_volume_change"} <= set(asset.candles)
    assert asset.source["exogenous"][0]["stale_bars"] == 0
    forecasts = []
    for trial in trials:
        cfg = trial.config
        wf = WalkForward(cfg.model, cfg.walkforward, cache_dir=tmp_path / "cache")
        result = wf.run(asset.candles)
        assert result.forecasts.iloc[cfg.walkforward.train_bars :].notna().all()
        forecasts.append(result.forecasts)
    assert not forecasts[0].equals(forecasts[1])  # the feature set matters
