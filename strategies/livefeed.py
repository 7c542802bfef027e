"""A Backtrader live data feed of closed candles: :class:`LiveCandleFeed`.

The feed asks a *candle source* (anything with the :class:`CandleSource` methods) for the next
closed candle, one per ``_load`` call:

* a :class:`Candle` is a bar: Backtrader sees it stamped with its close time, the package's one
  convention (:func:`~lstm_backtrader.strategies.feeds.feed_stamps`);
* ``None`` means "none has closed yet": ``_load`` returns ``None`` and Backtrader's live loop
  asks again (the source waits between two polls, so the loop does not spin);
* :meth:`CandleSource.finished` true (a replay file is exhausted, a stop was requested) ends the
  feed: ``_load`` returns ``False``.

``islive()`` is true, so Backtrader runs bar by bar without preloading and indicators use their
``next()`` path. The feed knows nothing about exchanges or files (those sources live in
``lstm_backtrader.backtests.paper``); ``on_candle`` is called with each candle just before
Backtrader gets it (the paper session journals it there).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import backtrader as bt
import pandas as pd

from lstm_backtrader.strategies.feeds import DEFAULT_UNIT, feed_stamps

logger = logging.getLogger(__name__)

__all__ = ["Candle", "CandleSource", "LiveCandleFeed", "bt_timeframe"]


@dataclass(frozen=True)
class Candle:
    """One closed candle: open time (epoch ms, UTC) and OHLCV."""

    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    @property
    def open_time(self) -> pd.Timestamp:
        """The open time as a UTC timestamp."""
        return pd.Timestamp(self.open_ms, unit="ms", tz="UTC")

    def values(self) -> tuple[float, float, float, float, float]:
        """``(open, high, low, close, volume)``."""
        return (self.open, self.high, self.low, self.close, self.volume)


class CandleSource(Protocol):
    """Where a :class:`LiveCandleFeed` gets its candles."""

    def next_candle(self) -> Candle | None:
        """The next closed candle after the last one returned, or ``None`` (none yet; the
        source may wait up to its poll interval before answering ``None``)."""
        ...

    def finished(self) -> bool:
        """No candle will come any more (the feed ends)."""
        ...


def bt_timeframe(bar: pd.Timedelta) -> tuple[int, int]:
    """Backtrader's ``(timeframe, compression)`` of a bar length (days, minutes or seconds)."""
    day, minute = pd.Timedelta(days=1), pd.Timedelta(minutes=1)
    if bar >= day and bar % day == pd.Timedelta(0):
        return bt.TimeFrame.Days, int(bar // day)
    if bar >= minute and bar % minute == pd.Timedelta(0):
        return bt.TimeFrame.Minutes, int(bar // minute)
    return bt.TimeFrame.Seconds, max(1, int(bar.total_seconds()))


class LiveCandleFeed(bt.feed.DataBase):
    """A live feed over a :class:`CandleSource`.

    Parameters (Backtrader params)
    ------------------------------
    source
        The candle source.
    bar
        The bar length (a :class:`pandas.Timedelta`); sets ``timeframe``/``compression``.
    on_candle
        Called with each :class:`Candle` before Backtrader gets it (``None``: nothing).
    """

    params = (("source", None), ("bar", pd.Timedelta(days=1)), ("on_candle", None))

    def __init__(self) -> None:
        super().__init__()
        bar = pd.Timedelta(self.p.bar)
        self._bar = bar
        # Backtrader copies the params into _timeframe/_compression after __init__
        self.p.timeframe, self.p.compression = bt_timeframe(bar)
        self._timeframe, self._compression = self.p.timeframe, self.p.compression
        self._lstm_bt_unit = DEFAULT_UNIT
        self._last_ms: int | None = None

    def islive(self) -> bool:
        return True

    def haslivedata(self) -> bool:
        return False  # no queue of bars waiting: each _load asks the source itself

    def _load(self) -> bool | None:
        source = self.p.source
        candle = source.next_candle()
        if candle is None:
            return False if source.finished() else None
        if self._last_ms is not None and candle.open_ms <= self._last_ms:
            raise ValueError(
                f"candle source delivered {candle.open_time.isoformat()} after "
                f"{pd.Timestamp(self._last_ms, unit='ms', tz='UTC').isoformat()}: out of order"
            )
        on_candle: Callable[[Candle], None] | None = self.p.on_candle
        if on_candle is not None:
            on_candle(candle)
        self._last_ms = candle.open_ms
        stamp = feed_stamps(pd.DatetimeIndex([pd.Timestamp(candle.open_ms, unit="ms")]), self._bar)
        self.lines.datetime[0] = bt.date2num(stamp[0].to_pydatetime())
        self.lines.open[0] = candle.open
        self.lines.high[0] = candle.high
        self.lines.low[0] = candle.low
        self.lines.close[0] = candle.close
        self.lines.volume[0] = candle.volume
        self.lines.openinterest[0] = 0.0
        return True
