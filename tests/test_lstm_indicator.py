"""LSTMForecast as a Backtrader indicator: fixed model and walk-forward, every run mode."""

from __future__ import annotations

from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.lstm import LSTMForecaster
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.walkforward import WalkForward
from lstm_backtrader.strategies.feeds import candles_feed, feed_frame
from lstm_backtrader.strategies.forecast import ForecastStrategy
from lstm_backtrader.strategies.lstm import LSTMForecast
from lstm_backtrader.strategies.runner import make_cerebro, run_strategy
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TINY = ForecasterConfig(lookback=8, units=(4,), epochs=2, batch_size=32, dropout=0.0, seed=7)
MODES = [(True, True), (False, True), (False, False)]  # (runonce, preload)


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return make_candles(150, seed=11)


@pytest.fixture(scope="module")
def fitted(candles: pd.DataFrame) -> LSTMForecaster:
    return LSTMForecaster.from_config(TINY).fit(candles.iloc[:90])


@pytest.fixture(scope="module")
def fold_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("folds")


class Probe(bt.Strategy):
    """Records the indicator's lines on every bar (NaN during prenext)."""

    params = (("kw", None),)

    def __init__(self) -> None:
        self.inds = [LSTMForecast(d, **self.p.kw) for d in self.datas]
        self.rows: list[list[float]] = []
        self.first_next: int | None = None

    def prenext(self) -> None:
        self.rows.append([np.nan] * (3 * len(self.datas)))

    def stop(self) -> None:
        self.bars = feed_frame(self.data)  # the bars the indicator saw (e.g. after resampling)

    def next(self) -> None:
        if self.first_next is None:
            self.first_next = len(self)
        self.rows.append(
            [float(v) for i in self.inds for v in (i.forecast[0], i.fold[0], i.age[0])]
        )


def _probe(candles_list, runonce: bool, preload: bool, **kw) -> tuple[np.ndarray, Probe]:
    cerebro = make_cerebro(candles_list[0], runonce=runonce, preload=preload)
    for extra in candles_list[1:]:
        cerebro.adddata(candles_feed(extra))
    cerebro.addstrategy(Probe, kw=kw)
    (strat,) = cerebro.run()
    return np.asarray(strat.rows), strat


def test_fixed_model_equals_predict_in_every_mode(candles, fitted, tmp_path) -> None:
    expected = fitted.predict(candles).to_numpy()
    path = fitted.save(tmp_path / "m.keras")
    runs = [_probe([candles], ro, pl, model=fitted)[0] for ro, pl in MODES]
    runs.append(_probe([candles], True, True, model=str(path))[0])
    for rows in runs:
        np.testing.assert_allclose(rows[:, 0], expected, atol=1e-6, equal_nan=True)
        np.testing.assert_array_equal(rows[:, 1:], runs[0][:, 1:])
    # minimum period: the first forecast needs lookback + 1 bars (one for the first return)
    first = int(np.flatnonzero(np.isfinite(runs[0][:, 0]))[0])
    assert first == fitted.context_bars - 1 == 8
    # age: 0 up to the training cutoff (bar 89, in-sample), then bars since it
    assert runs[0][89, 2] == 0 and runs[0][95, 2] == 6
    assert set(runs[0][first:, 1]) == {0.0}


def test_minperiod_gives_prenext(candles, fitted) -> None:
    _, strat = _probe([candles], True, True, model=fitted)
    assert strat.first_next == fitted.context_bars


def test_walkforward_equals_engine_in_every_mode(candles, fold_cache) -> None:
    spec = WalkForwardSpec(train_bars=70, retrain_every=30)
    result = WalkForward(TINY, spec, cache_dir=fold_cache).run(candles)
    runs = [
        _probe([candles], ro, pl, forecaster=TINY, schedule=spec, cache_dir=fold_cache)[0]
        for ro, pl in MODES
    ]
    for rows in runs:
        np.testing.assert_allclose(
            rows[:, 0], result.forecasts.to_numpy(), atol=1e-6, equal_nan=True
        )
        np.testing.assert_array_equal(rows[70:, 1], result.fold_id.to_numpy()[70:])
        np.testing.assert_array_equal(rows[70:, 2], result.age.to_numpy()[70:])
    assert np.isnan(runs[0][:70, 0]).all() and np.isfinite(runs[0][70:, 0]).all()
    assert list(np.unique(runs[0][70:, 1])) == [0.0, 1.0, 2.0]


def test_walkforward_next_mode_without_cache_dir(candles) -> None:
    """next() needs fold models on disk: without a cache_dir it uses a private temporary one."""
    kw = dict(
        forecaster=TINY,
        schedule=WalkForwardSpec(train_bars=100, retrain_every=40, warm_start=False),
    )
    a, _ = _probe([candles], True, True, **kw)
    b, strat = _probe([candles], False, False, **kw)
    np.testing.assert_allclose(a, b, atol=1e-6, equal_nan=True)
    assert strat.inds[0].folds_["fold"].tolist() == [0, 1]
    assert strat.inds[0].result_ is None  # bar by bar: no batched run


def test_two_feeds_one_indicator_each(candles, fitted) -> None:
    other = make_candles(150, seed=12, price=2_000.0)
    rows, _ = _probe([candles, other], True, True, model=fitted)
    np.testing.assert_allclose(
        rows[:, 0], fitted.predict(candles).to_numpy(), atol=1e-6, equal_nan=True
    )
    np.testing.assert_allclose(
        rows[:, 3], fitted.predict(other).to_numpy(), atol=1e-6, equal_nan=True
    )
    assert not np.allclose(rows[20:, 0], rows[20:, 3])


def test_intraday_and_resampled_feeds(fitted) -> None:
    hourly = make_candles(400, seed=13, freq="1h")
    rows, _ = _probe([hourly], True, True, model=fitted)
    np.testing.assert_allclose(
        rows[:, 0], fitted.predict(hourly).to_numpy(), atol=1e-6, equal_nan=True
    )
    # resampled 1h -> 4h inside Backtrader: the indicator sees the 4h bars
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.resampledata(candles_feed(hourly), timeframe=bt.TimeFrame.Minutes, compression=240)
    cerebro.addstrategy(Probe, kw={"model": fitted})
    (strat,) = cerebro.run()
    rows = np.asarray(strat.rows)
    bars = strat.bars
    assert len(bars) == len(rows) and 100 <= len(bars) <= 101
    assert (bars.index[1:] - bars.index[:-1]).max() == pd.Timedelta(hours=4)
    np.testing.assert_allclose(bars["volume"].sum(), hourly["volume"].sum())
    np.testing.assert_allclose(
        rows[:, 0], fitted.predict(bars).to_numpy(), atol=1e-6, equal_nan=True
    )


def test_strategy_truncation_invariance_with_walkforward(candles, fold_cache) -> None:
    """Altering every bar after T changes no forecast, fill or equity value up to T."""
    t_cut = 120
    altered = candles.copy()
    altered.iloc[t_cut + 1 :] = make_candles(150, seed=99, price=500.0).iloc[t_cut + 1 :].to_numpy()
    spec = WalkForwardSpec(train_bars=70, retrain_every=30)
    kw = dict(walkforward=WalkForward(TINY, spec, cache_dir=fold_cache), entry=0.0)
    a = run_strategy(candles, ForecastStrategy, **kw)
    b = run_strategy(altered, ForecastStrategy, **kw)
    cutoff = candles.index[t_cut]
    assert len(a.fills) > 2
    pd.testing.assert_series_equal(a.equity[:cutoff], b.equity[:cutoff])
    pd.testing.assert_frame_equal(
        a.fills[a.fills["time"] <= cutoff].reset_index(drop=True),
        b.fills[b.fills["time"] <= cutoff].reset_index(drop=True),
    )
    assert not a.equity.equals(b.equity)


def test_a_registered_time_feature_works_bar_by_bar(candles, fold_cache) -> None:
    """A user's registered feature may read the time index: the bar-by-bar path then builds a
    candle frame (the fast bare-rows path is only for the built-in OHLCV features)."""
    from lstm_backtrader.models.features import FEATURE_REGISTRY, register_feature

    register_feature(
        "weekday_test", lambda c: pd.Series(c.index.dayofweek / 6.0, index=c.index), warmup=0
    )
    try:
        cfg = TINY.replace(features=("log_return", "weekday_test"))
        spec = WalkForwardSpec(train_bars=70, retrain_every=40)
        runs = [
            _probe([candles], ro, pl, forecaster=cfg, schedule=spec, cache_dir=fold_cache)[0]
            for ro, pl in ((True, True), (False, False))
        ]
        np.testing.assert_allclose(runs[0][:, 0], runs[1][:, 0], atol=1e-6, equal_nan=True)
        assert np.isfinite(runs[1][70:, 0]).all()
    finally:
        FEATURE_REGISTRY.pop("weekday_test", None)
