"""LSTMForecaster with target='direction' (sigmoid, binary cross-entropy) and
target='volatility' (standardised log volatility, MSE), on tiny real Keras models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.factory import load_forecaster
from lstm_backtrader.models.lstm import LSTMForecaster
from lstm_backtrader.models.targets import target_fwd_logvol
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

TINY = dict(lookback=8, units=(4,), epochs=3, batch_size=32, validation_fraction=0.1, seed=3)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return make_candles(260, seed=12)


@pytest.fixture(scope="module")
def direction(data: pd.DataFrame) -> LSTMForecaster:
    return LSTMForecaster(**TINY, target="direction", horizon=2).fit(data.iloc[:200])


@pytest.fixture(scope="module")
def volatility(data: pd.DataFrame) -> LSTMForecaster:
    return LSTMForecaster(**TINY, target="volatility", vol_estimator="parkinson").fit(
        data.iloc[:200]
    )


def test_direction_forecasts_probabilities(direction: LSTMForecaster, data: pd.DataFrame) -> None:
    pred = direction.predict(data)
    assert pred.name == "forecast_fwd_up_2"
    p = pred.dropna()
    assert len(p) == len(data) - direction.context_bars + 1
    assert ((p > 0) & (p < 1)).all() and p.std() > 0
    assert direction.target_mean_ == 0.0 and direction.target_std_ == 1.0
    # binary cross-entropy of a near-uninformed network is about ln 2, not an MSE of 0/1 labels
    assert 0.4 < direction.history_["loss"][0] < 1.2
    assert direction.model_.layers[-1].activation.__name__ == "sigmoid"
    assert direction.predict_last(data.iloc[:230]) == pytest.approx(pred.iloc[229], abs=1e-6)


def test_volatility_forecasts_log_vol(volatility: LSTMForecaster, data: pd.DataFrame) -> None:
    pred = volatility.predict(data)
    assert pred.name == "forecast_fwd_logvol_1"
    y = target_fwd_logvol(data.iloc[:200], 1, "parkinson").dropna()
    assert abs(pred.dropna().mean() - y.mean()) < 3 * y.std()  # log-vol units, not standardised
    assert volatility.target_mean_ == pytest.approx(y.mean(), abs=0.2)
    assert volatility.model_.layers[-1].activation.__name__ == "linear"


def test_target_architectures_do_not_share_a_trainer(
    direction: LSTMForecaster, volatility: LSTMForecaster
) -> None:
    ret = LSTMForecaster(**TINY)
    assert ret._architecture(3) == volatility._architecture(3)  # same linear network
    assert ret._architecture(3) != direction._architecture(3)
    assert direction._architecture(3).output == "sigmoid"


@pytest.mark.parametrize("which", ["direction", "volatility"])
def test_save_load_round_trip(
    which: str,
    direction: LSTMForecaster,
    volatility: LSTMForecaster,
    data: pd.DataFrame,
    tmp_path: Path,
) -> None:
    f = direction if which == "direction" else volatility
    f.save(tmp_path / "m.keras")
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["config"]["target"] == which
    assert doc["target"]["name"] == (
        "target_fwd_up_2" if which == "direction" else "target_fwd_logvol_1"
    )
    back = load_forecaster(tmp_path / "m.keras")
    assert back.config == f.config
    pd.testing.assert_series_equal(back.predict(data), f.predict(data))


def test_same_seed_same_direction_forecasts(direction: LSTMForecaster, data: pd.DataFrame) -> None:
    again = LSTMForecaster(**TINY, target="direction", horizon=2).fit(data.iloc[:200])
    np.testing.assert_array_equal(
        again.predict(data).to_numpy(), direction.predict(data).to_numpy()
    )
