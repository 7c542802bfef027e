"""Candle frames in and out of Backtrader, and the one timestamp convention between them.

Timestamp convention
--------------------
Our candle frames (exchanges, files, the embedded sample) label each bar with its **open** time,
as Binance does. Backtrader labels each bar with its **close** time: its resampler builds the
bucket ``(t - 4h, t]`` for the 4h bar stamped ``t``, and its daily bars are stamped at the end
of their session (23:59:59.999990 of their own day). The two meet here, once:

* the feed Backtrader sees (:func:`candles_feed`) carries close times, ``open + bar length``
  (:func:`feed_stamps`); a close at midnight UTC is stamped at Backtrader's own end of session,
  :data:`SESSION_END_OFFSET` (10 µs) before midnight, so that it stays on its own day. Backtrader's
  ``resampledata``/``replaydata`` then build exactly the exchange's candles (4h, daily, weekly);
* every time we report or look up — records' equity index, fills and trades, the indicators'
  frames, lookups and fold boundaries — is the bar's open time, :func:`bar_time` /
  :func:`bar_times`: ``round(stamp, 1 ms) - bar length``, where the bar length is the feed's
  ``timeframe`` x ``compression`` (after resampling, the resampled one). While a bar is being
  replayed its stamp is that of the last tick; its open time is then the start of the time
  bucket the tick falls in (likewise for a resampled weekly bar, which Backtrader stamps with
  its last tick).

Feeds built otherwise must follow Backtrader's convention too (a bar stamped with its close; a
daily bar at the end of its session, as ``GenericCSVData`` stamps date-only rows).
"""

from __future__ import annotations

import datetime as _dt
import keyword
import logging

import backtrader as bt
import numpy as np
import pandas as pd

from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

_COLUMNS = ["open", "high", "low", "close", "volume"]
_TIMEFRAMES: tuple[tuple[pd.Timedelta, int, int], ...] = (
    (pd.Timedelta(weeks=1), bt.TimeFrame.Weeks, 1),
    (pd.Timedelta(days=1), bt.TimeFrame.Days, 1),
    (pd.Timedelta(minutes=1), bt.TimeFrame.Minutes, 1),
    (pd.Timedelta(seconds=1), bt.TimeFrame.Seconds, 1),
)
_UNIT: dict[int, pd.Timedelta] = {
    bt.TimeFrame.MicroSeconds: pd.Timedelta(microseconds=1),
    bt.TimeFrame.Seconds: pd.Timedelta(seconds=1),
    bt.TimeFrame.Minutes: pd.Timedelta(minutes=1),
    bt.TimeFrame.Days: pd.Timedelta(days=1),
    bt.TimeFrame.Weeks: pd.Timedelta(weeks=1),
}

#: How far before midnight UTC a bar closing at midnight is stamped: Backtrader's own end of
#: session (its default ``sessionend`` is 23:59:59.999990; its float day numbers hold ~10 µs).
SESSION_END_OFFSET = pd.Timedelta(microseconds=10)

#: Backtrader's day number of 1970-01-01 00:00 UTC (``bt.date2num``).
_EPOCH_NUM = bt.date2num(_dt.datetime(1970, 1, 1))
_MS_PER_DAY = 86_400_000
_MONDAY = pd.Timestamp("1970-01-05")  # weekly buckets start on Mondays (ISO weeks)
#: The index unit of the candle frames the feeds' bars are given back in.
DEFAULT_UNIT = "us"


def _bt_timeframe(step: pd.Timedelta) -> tuple[int, int]:
    for size, frame, _ in _TIMEFRAMES:
        if step >= size and step % size == pd.Timedelta(0):
            return frame, int(step // size)
    return bt.TimeFrame.Seconds, max(1, int(step.total_seconds()))


def feed_stamps(open_times: pd.DatetimeIndex, bar: pd.Timedelta) -> pd.DatetimeIndex:
    """The times Backtrader sees for bars opening at ``open_times`` (see the module docstring).

    Parameters
    ----------
    open_times
        The bars' open times (a candle frame's index).
    bar
        The bar length.

    Returns
    -------
    pandas.DatetimeIndex
        ``open + bar``, except that a close at midnight is stamped :data:`SESSION_END_OFFSET`
        before it (on the bar's own day, where Backtrader puts the end of a daily session).
    """
    close = pd.DatetimeIndex(open_times) + bar
    at_midnight = close == close.normalize()
    return close.where(~at_midnight, close - SESSION_END_OFFSET)


#: Line names a Backtrader feed has already (or reserves): an extra column may not take them.
_RESERVED = frozenset({*_COLUMNS, "datetime", "openinterest", "lines", "params", "p", "plotinfo",
                       "plotlines", "array", "line", "data", "datas"})  # fmt: skip
_FEED_CLASSES: dict[tuple[str, ...], type] = {}


def extra_columns(candles: pd.DataFrame) -> list[str]:
    """The numeric columns of a candle frame other than OHLCV (in the frame's order): the extra
    lines :func:`candles_feed` carries.

    Raises
    ------
    InputError
        For a numeric column whose name is not a valid identifier or is a Backtrader line name.
    """
    extras = []
    for column in candles.columns:
        if column in _COLUMNS or not pd.api.types.is_numeric_dtype(candles[column]):
            continue
        if pd.api.types.is_bool_dtype(candles[column]):
            continue
        name = str(column)
        if not isinstance(column, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise InputError(
                f"candle column {column!r} cannot be a Backtrader line: rename it to a Python "
                "identifier (letters, digits, underscores, not starting with a digit)"
            )
        if name in _RESERVED or name.startswith("_"):
            raise InputError(
                f"candle column {name!r} clashes with a Backtrader line or attribute name: "
                "rename it (e.g. 'x_" + name.lstrip("_") + "')"
            )
        extras.append(name)
    return extras


def feed_class(extras: tuple[str, ...]) -> type:
    """A ``PandasData`` subclass with one more line per name in ``extras`` (each read from the
    frame's column of that name); plain ``PandasData`` for none. One class per set of names."""
    if not extras:
        return bt.feeds.PandasData
    cls = _FEED_CLASSES.get(extras)
    if cls is None:
        cls = type(
            "CandlesData_" + "_".join(extras)[:60],
            (bt.feeds.PandasData,),
            {"lines": extras, "params": tuple((c, c) for c in extras)},
        )
        _FEED_CLASSES[extras] = cls
    return cls


def candles_feed(
    candles: pd.DataFrame, name: str | None = None, *, issues_reported: bool = False
) -> bt.feeds.PandasData:
    """A Backtrader data feed over a candle frame (UTC index of open times, OHLCV columns).

    Every other numeric column of the frame (an exogenous series joined onto the candles, a
    realised-variance column, a causal indicator) becomes an extra line of the same name
    (:func:`extra_columns`), so that an indicator whose model uses it as a feature reads it
    from the feed; non-numeric columns are not carried (Backtrader lines hold floats).

    Backtrader works in naive datetimes: the feed carries UTC wall-clock **close** times
    (:func:`feed_stamps`). The bar timeframe/compression are inferred from the most common step
    so that resampling, analyzers and :func:`bar_time` know the bar size.

    Parameters
    ----------
    candles
        A candle frame.
    name
        The feed's name (Backtrader's writers and plots show it); default: the frame's
        ``attrs["symbol"]`` or ``"candles"``.
    issues_reported
        The candles' holes were reported already (the project's loaders validate and report
        them): indicators on this feed do not warn about them again (see
        :func:`mark_issues_reported`).
    """
    extras = tuple(extra_columns(candles))
    frame = candles[[*_COLUMNS, *extras]].astype("float64")
    index = pd.DatetimeIndex(frame.index)
    index = index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
    step = pd.Series(index[1:] - index[:-1]).mode().min() if len(frame) > 1 else None
    timeframe, compression = _bt_timeframe(step) if step is not None else (bt.TimeFrame.Days, 1)
    frame.index = feed_stamps(index, _UNIT[timeframe] * compression)
    feed = feed_class(extras)(
        dataname=frame,
        name=name or str(candles.attrs.get("symbol") or "candles"),
        openinterest=None,
        timeframe=timeframe,
        compression=compression,
    )
    feed._lstm_bt_unit = str(getattr(index, "unit", DEFAULT_UNIT))  # the frame's index unit
    if issues_reported:
        mark_issues_reported(feed)
    return feed


def mark_issues_reported(data: bt.AbstractDataBase) -> bool:
    """Record that a feed's holes and NaN bars have been reported; ``True`` the first time
    (the caller then reports them), ``False`` when they were reported already."""
    if getattr(data, "_lstm_bt_issues_reported", False):
        return False
    data._lstm_bt_issues_reported = True
    return True


def frame_unit(data: bt.AbstractDataBase) -> str:
    """The index unit of the candle frame a feed was built from (``DEFAULT_UNIT`` if unknown);
    a clone (``cerebro.resampledata`` of a feed already added) answers for its original."""
    unit = getattr(data, "_lstm_bt_unit", None)
    if unit is None and isinstance(data, bt.DataClone):
        unit = getattr(data.data, "_lstm_bt_unit", None)
    return str(unit or DEFAULT_UNIT)


def bar_length(data: bt.AbstractDataBase) -> pd.Timedelta | None:
    """The length of a feed's bars (``timeframe`` x ``compression``; ``None`` for ticks, months
    and years, which have no fixed length)."""
    unit = _UNIT.get(int(data._timeframe))
    return None if unit is None else unit * int(data._compression)


def _open_ms(data: bt.AbstractDataBase, stamps_ms: np.ndarray) -> np.ndarray:
    """Open times (ms since the epoch) of bars stamped ``stamps_ms`` (rounded to 1 ms)."""
    frame = int(data._timeframe)
    length = bar_length(data)
    if frame in (bt.TimeFrame.Months, bt.TimeFrame.Years):
        freq = "M" if frame == bt.TimeFrame.Months else "Y"
        last = pd.to_datetime(stamps_ms - 1, unit="ms")  # the last instant inside the bar
        return np.asarray(last.to_period(freq).start_time.as_unit("ms").asi8, dtype=np.int64)
    if length is None:  # ticks: a tick is its own time
        return stamps_ms
    step = int(length / pd.Timedelta(milliseconds=1))
    if not getattr(data, "resampling", 0):
        return stamps_ms - step
    # resampled or replayed: the stamp may be the last tick's (a replayed bar's, or a weekly
    # bar's, which Backtrader does not move to the bucket's edge); the bar opens at the start
    # of its bucket, which Backtrader anchors at midnight (intraday), at the epoch (days) or on
    # Mondays (weeks)
    inside = stamps_ms - 1
    if frame < bt.TimeFrame.Days:
        origin = inside - inside % _MS_PER_DAY
    elif frame == bt.TimeFrame.Weeks:
        origin = np.full_like(inside, _MONDAY.value // 1_000_000)
    else:
        origin = np.zeros_like(inside)
    return inside - (inside - origin) % step


def _stamps_ms(nums: object) -> np.ndarray:
    days = np.asarray(nums, dtype="float64") - _EPOCH_NUM
    return np.rint(days * _MS_PER_DAY).astype(np.int64)


def bar_times_ns(data: bt.AbstractDataBase, nums: object) -> np.ndarray:
    """:func:`bar_times` as int64 nanoseconds since the epoch (no index built: per-bar use)."""
    return _open_ms(data, _stamps_ms(nums)) * 1_000_000


def bar_times(
    data: bt.AbstractDataBase, nums: object, unit: str = DEFAULT_UNIT
) -> pd.DatetimeIndex:
    """The UTC open times of the bars of ``data`` whose Backtrader datetimes are ``nums``.

    Parameters
    ----------
    data
        The feed the datetimes come from (its bar length and whether it is resampled).
    nums
        Backtrader datetime numbers (``data.datetime.array[...]``, ``order.executed.dt``, ...).
    unit
        Resolution of the returned index.
    """
    opened = _open_ms(data, _stamps_ms(nums))
    index = pd.DatetimeIndex(opened.astype("datetime64[ms]"), name="timestamp")
    return index.tz_localize("UTC").as_unit(unit)


def bar_time(data: bt.AbstractDataBase, ago: int = 0) -> pd.Timestamp:
    """The UTC open time of a feed's bar ``ago`` bars back (0 = current): the time we report."""
    return bar_times(data, [data.datetime[-ago]])[0]


def bt_num_to_utc(values: object) -> pd.DatetimeIndex:
    """Backtrader's float datetimes (days since 0001-01-01) as a UTC index, unchanged (the stamps
    themselves, i.e. close times; :func:`bar_times` gives the bars' open times)."""
    stamps = [bt.num2date(v) for v in values]  # type: ignore[union-attr]
    return pd.DatetimeIndex([pd.Timestamp(s) for s in stamps], name="timestamp").tz_localize("UTC")


def held_bars(data: bt.AbstractDataBase, extra: tuple[str, ...] = ()) -> int:
    """How many of a feed's bars, up to the current one, all its datetime and OHLCV lines still
    hold (every bar, except under ``exactbars=1``, where Backtrader keeps in each line only the
    bars its users read: a line nobody reads back holds the current bar alone); ``extra``: the
    names of further lines to count in."""
    held = len(data)
    for name in ("datetime", *_COLUMNS, *extra):
        line = getattr(data.lines, name)
        if line.mode == line.QBuffer:
            held = min(held, len(line.array))
    return held


def feed_frame(data: bt.AbstractDataBase, size: int | None = None) -> pd.DataFrame:
    """The feed's bars up to the current one as a candle frame indexed by open time.

    Parameters
    ----------
    data
        A data feed.
    size
        The last ``size`` bars (``None``: every bar the feed's lines still hold, see
        :func:`held_bars`); never more than the lines hold.
    """
    n = held_bars(data) if size is None else min(size, held_bars(data))
    index = bar_times(data, data.datetime.get(size=n))
    cols = {c: list(getattr(data, c).get(size=n)) for c in _COLUMNS}
    return pd.DataFrame(cols, index=index, dtype="float64")


__all__ = [
    "SESSION_END_OFFSET",
    "bar_length",
    "bar_time",
    "bar_times",
    "bar_times_ns",
    "bt_num_to_utc",
    "candles_feed",
    "extra_columns",
    "feed_class",
    "feed_frame",
    "feed_stamps",
    "frame_unit",
    "held_bars",
]
