"""Candle frames in and out of Backtrader."""

from __future__ import annotations

import backtrader as bt
import pandas as pd

_COLUMNS = ["open", "high", "low", "close", "volume"]
_TIMEFRAMES: tuple[tuple[pd.Timedelta, int, int], ...] = (
    (pd.Timedelta(weeks=1), bt.TimeFrame.Weeks, 1),
    (pd.Timedelta(days=1), bt.TimeFrame.Days, 1),
    (pd.Timedelta(minutes=1), bt.TimeFrame.Minutes, 1),
    (pd.Timedelta(seconds=1), bt.TimeFrame.Seconds, 1),
)


def _bt_timeframe(step: pd.Timedelta) -> tuple[int, int]:
    for size, frame, _ in _TIMEFRAMES:
        if step >= size and step % size == pd.Timedelta(0):
            return frame, int(step // size)
    return bt.TimeFrame.Seconds, max(1, int(step.total_seconds()))


def candles_feed(candles: pd.DataFrame, name: str | None = None) -> bt.feeds.PandasData:
    """A Backtrader data feed over a candle frame (UTC index, OHLCV columns).

    Backtrader works in naive datetimes: the feed carries UTC wall-clock times. The bar
    timeframe/compression are inferred so resampling and analyzers know the bar size.
    """
    frame = candles[_COLUMNS].copy()
    index = pd.DatetimeIndex(frame.index)
    frame.index = index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
    step = pd.Series(frame.index[1:] - frame.index[:-1]).mode().min() if len(frame) > 1 else None
    timeframe, compression = _bt_timeframe(step) if step is not None else (bt.TimeFrame.Days, 1)
    return bt.feeds.PandasData(
        dataname=frame,
        name=name,
        openinterest=None,
        timeframe=timeframe,
        compression=compression,
    )


def bar_time(data: bt.AbstractDataBase, ago: int = 0) -> pd.Timestamp:
    """The UTC timestamp of a feed's bar ``ago`` bars back (0 = current)."""
    return pd.Timestamp(data.datetime.datetime(-ago)).tz_localize("UTC")


def bt_num_to_utc(values: object) -> pd.DatetimeIndex:
    """Backtrader's float datetimes (days since 0001-01-01) as a UTC index."""
    stamps = [bt.num2date(v) for v in values]  # type: ignore[union-attr]
    return pd.DatetimeIndex([pd.Timestamp(s) for s in stamps], name="timestamp").tz_localize("UTC")


def feed_frame(data: bt.AbstractDataBase, size: int | None = None) -> pd.DataFrame:
    """The feed's bars up to the current one as a candle frame (the last ``size`` bars)."""
    n = len(data) if size is None else min(size, len(data))
    index = bt_num_to_utc(data.datetime.get(size=n))
    cols = {c: list(getattr(data, c).get(size=n)) for c in _COLUMNS}
    return pd.DataFrame(cols, index=index, dtype="float64")


__all__ = ["bar_time", "bt_num_to_utc", "candles_feed", "feed_frame"]
