"""The timestamp convention between candle frames (open times) and Backtrader (close times):
Backtrader's own resampling and replay build the exchange's candles, and every time we report
is the candle's open time. No TensorFlow here."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.strategies.feeds import (
    SESSION_END_OFFSET,
    bar_length,
    bar_time,
    candles_feed,
    feed_frame,
    feed_stamps,
)
from tests.conftest import make_candles

AGG = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def _aggregate(candles: pd.DataFrame, rule: str) -> pd.DataFrame:
    """Candles aggregated independently, labelled by open time like the exchange's."""
    return candles.resample(rule, label="left", closed="left").agg(AGG)


class Bars(bt.Strategy):
    """Records each bar as Backtrader delivers it, with the open time we report."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.lens: list[int] = []

    def next(self) -> None:
        d = self.data
        values = (d.open[0], d.high[0], d.low[0], d.close[0], d.volume[0])
        if self.lens and self.lens[-1] == len(d):  # a replayed bar's new tick: keep the last
            self.rows[-1] = (bar_time(d), *values)
        else:
            self.rows.append((bar_time(d), *values))
            self.lens.append(len(d))

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows, columns=["timestamp", *AGG]).set_index("timestamp")
        return frame


def _run(feed_maker, **kwargs) -> pd.DataFrame:
    cerebro = bt.Cerebro(stdstats=False)
    feed_maker(cerebro, **kwargs)
    cerebro.addstrategy(Bars)
    (strat,) = cerebro.run()
    return strat.frame()


def _assert_same_candles(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert got.index.equals(want.index)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("n_hours", [24 * 15, 24 * 15 + 5])  # whole days, then a partial one
@pytest.mark.parametrize(
    ("rule", "timeframe", "compression"),
    [
        ("4h", bt.TimeFrame.Minutes, 240),
        ("1D", bt.TimeFrame.Days, 1),
        ("W-MON", bt.TimeFrame.Weeks, 1),
    ],
)
@pytest.mark.parametrize("how", ["resampledata", "replaydata"])
def test_backtrader_builds_the_exchange_candles(n_hours, rule, timeframe, compression, how):
    hourly = make_candles(n_hours, seed=3, freq="1h", start="2020-01-01")  # a Wednesday

    def add(cerebro: bt.Cerebro) -> None:
        getattr(cerebro, how)(candles_feed(hourly), timeframe=timeframe, compression=compression)

    _assert_same_candles(_run(add), _aggregate(hourly, rule))


def test_daily_to_weekly_and_plain_feeds_keep_open_times() -> None:
    daily = make_candles(40, seed=4, start="2020-01-01")
    _assert_same_candles(
        _run(lambda c: c.resampledata(candles_feed(daily), timeframe=bt.TimeFrame.Weeks)),
        _aggregate(daily, "W-MON"),
    )
    for frame in (daily, make_candles(50, seed=5, freq="2h"), make_candles(50, freq="15min")):
        _assert_same_candles(_run(lambda c, f=frame: c.adddata(candles_feed(f))), frame)


def test_feed_stamps_are_close_times() -> None:
    hourly = pd.date_range("2020-01-01 21:00", periods=4, freq="1h", tz="UTC")
    stamps = feed_stamps(hourly, pd.Timedelta(hours=1))
    assert list(stamps.strftime("%H:%M:%S.%f")) == [
        "22:00:00.000000",
        "23:00:00.000000",
        "23:59:59.999990",  # a close at midnight: Backtrader's end of session, on its own day
        "01:00:00.000000",
    ]
    assert pd.Timedelta(microseconds=10) == SESSION_END_OFFSET
    feed = candles_feed(make_candles(3, start="2020-01-01"))
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(feed)
    cerebro.addstrategy(Bars)
    cerebro.run()
    # what Backtrader sees: the daily bar of 2020-01-01 closes at the end of that day
    assert feed.datetime.datetime(0) >= dt.datetime(2020, 1, 3, 23, 59, 59, 999900)
    assert bar_length(feed) == pd.Timedelta(days=1)
    assert bar_time(feed) == pd.Timestamp("2020-01-03", tz="UTC")


def test_generic_csv_daily_session_end_stamps(tmp_path: Path) -> None:
    """Backtrader's own daily CSV feed stamps date-only rows at the session end: the open
    time we report is still the candle's date."""
    daily = make_candles(10, seed=6, start="2021-03-01")
    path = tmp_path / "daily.csv"
    daily.assign(date=daily.index.strftime("%Y-%m-%d"))[["date", *AGG]].to_csv(path, index=False)
    feed = bt.feeds.GenericCSVData(
        dataname=str(path), dtformat="%Y-%m-%d", openinterest=-1, timeframe=bt.TimeFrame.Days
    )
    got = _run(lambda c: c.adddata(feed))
    assert feed.datetime.datetime(0).time() >= dt.time(23, 59, 59)
    _assert_same_candles(got, daily)


def test_feed_name_and_writer(tmp_path: Path) -> None:
    candles = make_candles(30)
    assert candles_feed(candles)._name == "candles"
    candles.attrs["symbol"] = "BTC/USDT"
    assert candles_feed(candles)._name == "BTC/USDT"
    assert candles_feed(candles, name="btc")._name == "btc"
    out = tmp_path / "writer.csv"
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(candles_feed(candles))
    cerebro.addstrategy(Bars)
    cerebro.addwriter(bt.WriterFile, csv=True, out=str(out))
    cerebro.run()
    text = out.read_text()
    assert "BTC/USDT" in text.splitlines()[1]  # the header names the feed
    assert len([line for line in text.splitlines() if line[:1].isdigit()]) == len(candles)


def test_feed_frame_never_asks_for_more_than_the_lines_hold() -> None:
    candles = make_candles(60)

    class Tail(bt.Strategy):
        def __init__(self) -> None:
            self.sma = bt.ind.SMA(self.data.close, period=5)
            self.frames: list[pd.DataFrame] = []

        def next(self) -> None:
            self.frames.append(feed_frame(self.data))

    # exactbars=1: the SMA keeps 5 closes, but nobody reads the datetime line back: 1 bar
    for exactbars, held in ((0, 60), (1, 1)):
        cerebro = bt.Cerebro(stdstats=False, exactbars=exactbars)
        cerebro.adddata(candles_feed(candles))
        cerebro.addstrategy(Tail)
        (strat,) = cerebro.run()
        last = strat.frames[-1]
        assert len(last) == held
        pd.testing.assert_frame_equal(last, candles.iloc[-held:], check_freq=False)
