"""Every setting is declared once and acts where it should: values written in a TOML file are
followed to the place that uses them (fold boundaries, the network's input, the fills' fees,
the annualisation of volatility targeting)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.backtests.config import RunConfig, StrategyConfig, load_config
from lstm_backtrader.backtests.data.sample import sample
from lstm_backtrader.backtests.simulation import simulate
from lstm_backtrader.models.config import LSTM_FIELDS, PLUGIN_FIELDS, ForecasterConfig
from lstm_backtrader.models.lstm import LSTMForecaster
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.strategies.base import RecordingStrategy
from lstm_backtrader.strategies.costs import DEFAULT_FEE, DEFAULT_SLIPPAGE, DEFAULT_STAKE
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_toml_values_reach_where_they_act(tmp_path: Path) -> None:
    candles = make_candles(260, seed=3)
    data = tmp_path / "candles.csv"
    candles.to_csv(data)
    toml = tmp_path / "run.toml"
    toml.write_text(
        f'[data]\nsource = "file"\npath = "{data}"\n'
        "[model]\nlookback = 12\nunits = [4]\nepochs = 1\nbatch_size = 32\ndropout = 0.0\n"
        "[walkforward]\ntrain_bars = 150\nretrain_every = 45\n"
        "[strategy]\nfee = 0.002\nentry = -1.0\nexit = -2.0\n"  # always long: fills exist
    )
    config = load_config(toml)
    assert isinstance(config.walkforward, WalkForwardSpec)  # the same object the engine runs
    sim = simulate(candles, config, cache_dir=tmp_path / "cache")

    # retrain_every: a new model every 45 bars from bar 150 on
    starts = [candles.index.get_loc(t) for t in sim.folds["first_forecast"]]
    assert starts == [150, 195, 240]
    assert sim.fold_id.iloc[150:].tolist() == [(i - 150) // 45 for i in range(150, 260)]

    # lookback: the network each fold trained takes windows of 12 bars
    entry = next((tmp_path / "cache" / "folds").glob("*/model.keras"))
    fold_model = LSTMForecaster.load(entry)
    assert fold_model.lookback == 12 and fold_model.model_.input_shape[1] == 12
    sidecar = json.loads(entry.with_suffix(".json").read_text())
    assert sidecar["config"]["lookback"] == 12

    # fee: every fill of every strategy pays 0.2% of its value
    fills = pd.concat([r.fills for r in sim.records.values() if len(r.fills)])
    assert len(fills) >= 4
    np.testing.assert_allclose(fills["commission"], 0.002 * fills["value"], rtol=1e-9)


def test_cost_defaults_are_declared_once() -> None:
    st = StrategyConfig()
    assert (st.fee, st.slippage, st.stake) == (DEFAULT_FEE, DEFAULT_SLIPPAGE, DEFAULT_STAKE)
    params = dict(RecordingStrategy.params._getitems())
    assert (params["fee"], params["slippage"], params["stake"]) == (st.fee, st.slippage, st.stake)


def test_lstm_hyperparameters_come_from_the_config() -> None:
    f = LSTMForecaster(lookback=30, units=(8,))
    assert f.config == ForecasterConfig(lookback=30, units=(8,))
    assert f.get_params() == {n: getattr(f.config, n) for n in LSTM_FIELDS}
    assert set(LSTM_FIELDS) == set(ForecasterConfig.field_names()) - {"kind", *PLUGIN_FIELDS}
    assert f.config is f.config  # held, not rebuilt on every access
    f.set_params(lookback=20)
    assert f.lookback == 20 and f.config.lookback == 20
    clone = type(f)(**f.get_params())
    assert clone.config == f.config and not hasattr(clone, "weights_")
    with pytest.raises(Exception, match="lookback"):
        LSTMForecaster(lookback=0)


def test_vol_targeting_annualises_with_the_data_timeframe() -> None:
    """Hourly candles annualise volatility with 8760 bars a year, not 365 (the run passes the
    data's periods per year to the forecast strategies)."""
    candles = sample("1h").iloc[:600]
    config = dataclasses.replace(
        RunConfig(),
        walkforward=WalkForwardSpec(train_bars=400, retrain_every=100),
        strategy=StrategyConfig(vol_target=0.5, entry=0.0),
    )
    sim = simulate(candles, config, forecast_fn=lambda c: pd.Series(0.01, index=c.index))
    fill = sim.records["LSTM"].fills.iloc[0]
    decided = candles.index.get_loc(sim.oos_start)  # decided at this close, filled next open
    closes = candles["close"].to_numpy()[decided - 30 : decided + 1]
    vol = float(np.std(np.diff(np.log(closes)), ddof=1)) * math.sqrt(8760)
    fraction = min(1.0, 0.5 / vol)
    assert fraction < 0.99  # the hourly vol of BTC is far above 50%: the target bites
    equity = sim.records["LSTM"].equity.iloc[0]
    expected_size = fraction * DEFAULT_STAKE * equity / closes[-1]
    assert fill["size"] == pytest.approx(expected_size, rel=1e-9)
