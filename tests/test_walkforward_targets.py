"""WalkForward with the direction and volatility targets: the realised column follows the
target, and every new forecaster (baselines and the LSTM) passes the truncation test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.targets import target_fwd_logvol, target_fwd_up
from lstm_backtrader.models.walkforward import WalkForward
from tests.conftest import make_candles, splice_candles

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

N, TRAIN, EVERY, T = 200, 100, 35, 150  # folds start at bars 100, 135, 170
LSTM = dict(lookback=8, units=(4,), epochs=2, batch_size=32, validation_fraction=0.1, seed=1)
CONFIGS = {
    "persistence-vol": ForecasterConfig(kind="persistence", target="volatility", horizon=2),
    "drift-vol": ForecasterConfig(kind="drift", target="volatility", horizon=2),
    "ewma": ForecasterConfig(kind="ewma", target="volatility", lookback=20, horizon=2),
    "har": ForecasterConfig(kind="har", target="volatility", horizon=2),
    "garch": ForecasterConfig(kind="garch", target="volatility", lookback=20, horizon=2),
    "base_rate": ForecasterConfig(kind="base_rate", target="direction", horizon=2),
    "logistic": ForecasterConfig(
        kind="logistic", target="direction", lookback=5, direction_threshold=0.001
    ),
    "lstm-direction": ForecasterConfig(**LSTM, target="direction", horizon=2),  # type: ignore[arg-type]
    "lstm-volatility": ForecasterConfig(**LSTM, target="volatility", vol_estimator="parkinson"),  # type: ignore[arg-type]
}


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    return make_candles(N, seed=21)


def _run(cfg: ForecasterConfig, candles: pd.DataFrame, tmp: object = None) -> object:
    spec = WalkForwardSpec(
        train_bars=TRAIN, retrain_every=EVERY, warm_start=True, warm_start_epochs=1
    )
    return WalkForward(cfg, spec, cache_dir=tmp).run(candles)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_truncation_invariance_per_target(series: pd.DataFrame, name: str) -> None:
    cfg = CONFIGS[name]
    full = _run(cfg, series)
    stem = "fwd_up" if cfg.target == "direction" else "fwd_logvol"
    assert full.forecasts.name == f"forecast_{stem}_{cfg.horizon}"
    assert full.folds["fold"].tolist() == [0, 1, 2]
    assert full.forecasts.iloc[TRAIN:].notna().all() and full.forecasts.iloc[:TRAIN].isna().all()
    keep = slice(0, T + 1)
    for other in (_run(cfg, series.iloc[: T + 1]), _run(cfg, splice_candles(series, T))):
        pd.testing.assert_series_equal(
            other.forecasts.iloc[keep],
            full.forecasts.iloc[keep],
            check_exact=True,
            check_freq=False,
        )
    if cfg.target == "direction":
        p = full.forecasts.dropna()
        assert ((p > 0) & (p < 1)).all()


def test_fold_metrics_follow_the_target(series: pd.DataFrame) -> None:
    vol = _run(CONFIGS["har"], series)
    realised = target_fwd_logvol(series, 2).to_numpy()
    sl = slice(TRAIN, TRAIN + EVERY)
    f = vol.forecasts.to_numpy()[sl]
    expected = np.sqrt(np.mean((f - realised[sl]) ** 2))
    assert vol.folds["rmse"].iloc[0] == pytest.approx(expected, rel=1e-12)
    assert vol.folds["directional_accuracy"].isna().all()
    up = _run(CONFIGS["base_rate"], series)
    y = target_fwd_up(series["close"], 2).to_numpy()[sl]
    p = up.forecasts.to_numpy()[sl]
    assert up.folds["rmse"].iloc[0] == pytest.approx(np.sqrt(np.mean((p - y) ** 2)), rel=1e-12)
    assert up.folds["directional_accuracy"].iloc[0] == pytest.approx(
        np.mean((p > 0.5) == (y > 0.5))
    )


def test_cached_rerun_and_distinct_keys(series: pd.DataFrame, tmp_path: object) -> None:
    first = _run(CONFIGS["garch"], series, tmp_path)
    again = _run(CONFIGS["garch"], series, tmp_path)
    assert again.folds["cached"].all() and not first.folds["cached"].any()
    pd.testing.assert_series_equal(first.forecasts, again.forecasts)
    ewma = _run(CONFIGS["ewma"], series, tmp_path)  # same cache, another kind: its own folds
    assert not ewma.folds["cached"].any()
