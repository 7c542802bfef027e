"""LSTMForecast counts time in bars from bar times: ``age`` and a fixed model's in-sample
boundary are right under replay (where a bar arrives as many ticks), on daily feeds stamped at
the session end (Backtrader's CSV feeds, resampled daily bars) and on a resampled clone of a
feed; walk-forward under replay gives the engine's values."""

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
from lstm_backtrader.strategies.feeds import bar_time, candles_feed
from lstm_backtrader.strategies.lstm import LSTMForecast
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TINY = ForecasterConfig(lookback=8, units=(4,), epochs=2, batch_size=32, dropout=0.0, seed=7)
AGG = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
FOUR_H = {"timeframe": bt.TimeFrame.Minutes, "compression": 240}


class Ticks(bt.Strategy):
    """Records the indicator at every call of next (every tick under replay)."""

    params = (("kw", None), ("feed", 0))

    def __init__(self) -> None:
        self.ind = LSTMForecast(self.datas[self.p.feed], **self.p.kw)
        self.ticks: list[tuple] = []

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        d, ind = self.datas[self.p.feed], self.ind
        if not len(d):
            return  # a resampled clone before its first bar
        self.ticks.append(
            (len(d), bar_time(d), float(ind.forecast[0]), float(ind.fold[0]), float(ind.age[0]))
        )

    def bars(self) -> pd.DataFrame:
        """The last tick of each bar."""
        cols = ["len", "timestamp", "forecast", "fold", "age"]
        ticks = pd.DataFrame(self.ticks, columns=cols)
        return ticks.drop_duplicates("len", keep="last").set_index("timestamp")


def _run(add, kw: dict, feed: int = 0, **cerebro_kw) -> Ticks:
    cerebro = bt.Cerebro(stdstats=False, **cerebro_kw)
    add(cerebro)
    cerebro.addstrategy(Ticks, kw=kw, feed=feed)
    (strat,) = cerebro.run()
    return strat


def _fixed_expected(model: LSTMForecaster, bars: pd.DataFrame) -> pd.DataFrame:
    fc = model.predict(bars).to_numpy()
    fold = np.where(np.arange(len(bars)) >= model.context_bars - 1, 0, -1)
    age = np.where(fold >= 0, np.cumsum(bars.index > model.train_range_[1]), -1)
    return pd.DataFrame({"forecast": fc, "fold": fold, "age": age}, index=bars.index)


def _assert_bars(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert got.index.equals(want.index)
    np.testing.assert_allclose(got["forecast"], want["forecast"], atol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(got[["fold", "age"]], want[["fold", "age"]])


@pytest.fixture(scope="module")
def hourly() -> pd.DataFrame:
    return make_candles(4 * 130, seed=31, freq="1h")


@pytest.fixture(scope="module")
def four_h(hourly: pd.DataFrame) -> pd.DataFrame:
    return hourly.resample("4h", label="left", closed="left").agg(AGG)


@pytest.fixture(scope="module")
def fitted_4h(four_h: pd.DataFrame) -> LSTMForecaster:
    return LSTMForecaster.from_config(TINY).fit(four_h.iloc[:60])


def test_replay_age_counts_bars_not_ticks(hourly, four_h, fitted_4h) -> None:
    assert fitted_4h.train_range_[1] == four_h.index[59]
    strat = _run(lambda c: c.replaydata(candles_feed(hourly), **FOUR_H), {"model": fitted_4h})
    ticks = pd.DataFrame(strat.ticks, columns=["len", "timestamp", "forecast", "fold", "age"])
    assert len(ticks) == len(hourly)  # four ticks per 4h bar
    assert (ticks.groupby("len")["age"].nunique() == 1).all()  # age never moves intrabar
    got = strat.bars()
    want = _fixed_expected(fitted_4h, four_h)
    _assert_bars(got, want)
    # a gate "age > 0" trades exactly the bars that opened after the training cutoff
    live = got["fold"] >= 0
    assert ((got["age"] > 0) == (got.index > fitted_4h.train_range_[1]))[live].all()
    assert got.loc[four_h.index[59], "age"] == 0 and got.loc[four_h.index[60], "age"] == 1
    # the same values as Backtrader's resampling of the same bars
    resampled = _run(lambda c: c.resampledata(candles_feed(hourly), **FOUR_H), {"model": fitted_4h})
    _assert_bars(resampled.bars(), want)


def test_session_end_daily_cutoff_bar_is_in_sample(tmp_path: Path) -> None:
    daily = make_candles(100, seed=32, start="2021-01-01")
    model = LSTMForecaster.from_config(TINY).fit(daily.iloc[:60])
    cutoff = model.train_range_[1]
    assert cutoff == daily.index[59]
    path = tmp_path / "daily.csv"
    daily.assign(date=daily.index.strftime("%Y-%m-%d"))[["date", *AGG]].to_csv(path, index=False)
    want = _fixed_expected(model, daily)
    for runonce, preload in ((True, True), (False, True), (False, False)):
        feed = bt.feeds.GenericCSVData(  # date-only rows: stamped at 23:59:59.999990
            dataname=str(path), dtformat="%Y-%m-%d", openinterest=-1
        )
        strat = _run(
            lambda c, f=feed: c.adddata(f), {"model": model}, runonce=runonce, preload=preload
        )
        got = strat.bars()
        _assert_bars(got, want)
        assert got.loc[cutoff, "age"] == 0  # the cutoff bar is in-sample
        assert got.loc[daily.index[60], "age"] == 1


def test_resampled_daily_cutoff_bar_is_in_sample() -> None:
    hourly = make_candles(24 * 80, seed=33, freq="1h", start="2021-01-01")
    daily = hourly.resample("1D").agg(AGG)
    model = LSTMForecaster.from_config(TINY).fit(daily.iloc[:50])
    strat = _run(
        lambda c: c.resampledata(candles_feed(hourly), timeframe=bt.TimeFrame.Days),
        {"model": model},
    )
    got = strat.bars()
    _assert_bars(got, _fixed_expected(model, daily))
    assert got.loc[daily.index[49], "age"] == 0 and got.loc[daily.index[50], "age"] == 1


def test_indicator_on_a_resampled_clone(hourly, four_h, fitted_4h) -> None:
    """An hourly feed and its 4h resampling (a clone) side by side: the 4h indicator sees the
    exchange's 4h candles, and its values arrive with the hourly bar that closes them."""

    def add(cerebro: bt.Cerebro) -> None:
        feed = candles_feed(hourly)
        cerebro.adddata(feed)
        cerebro.resampledata(feed, **FOUR_H)

    strat = _run(add, {"model": fitted_4h}, feed=1)
    _assert_bars(strat.bars(), _fixed_expected(fitted_4h, four_h))


class Bars(bt.Strategy):
    """The bars Backtrader builds, as a candle frame."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def next(self) -> None:
        d = self.data
        self.rows.append((bar_time(d), *(float(getattr(d, c)[0]) for c in AGG)))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["timestamp", *AGG]).set_index("timestamp")


def test_walkforward_under_replay_equals_engine(hourly, tmp_path) -> None:
    """Replayed 4h bars (bar by bar, each fold trained when its first tick arrives) give the
    batched engine's values over the bars Backtrader builds (its float sums of volumes differ
    from pandas' in the last bits, so the engine runs on those very bars)."""
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.resampledata(candles_feed(hourly), **FOUR_H)
    cerebro.addstrategy(Bars)
    bars = cerebro.run()[0].frame()
    spec = WalkForwardSpec(train_bars=60, retrain_every=40)
    result = WalkForward(TINY, spec, cache_dir=tmp_path).run(bars)
    kw = {"forecaster": TINY, "schedule": spec, "cache_dir": tmp_path}
    replayed = _run(lambda c: c.replaydata(candles_feed(hourly), **FOUR_H), kw)
    want = pd.DataFrame({"forecast": result.forecasts, "fold": result.fold_id, "age": result.age})
    _assert_bars(replayed.bars(), want)
    assert replayed.ind.folds_["cached"].tolist() == [True, True]  # the engine's very folds
