"""The bars an indicator keeps for itself: a bounded tail of OHLCV + open time, and the holes
and NaN bars of its feed.

Backtrader's lines may hold far fewer bars than the indicator needs (``exactbars=1`` keeps only
the strategy's minimum period), so ``LSTMForecast``'s bar-by-bar path never asks them for
history: it copies each bar into a :class:`BarTail` as the bar arrives (and again on each tick
of a replayed bar) and reads its windows from there.

No TensorFlow here.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

OHLCV: tuple[str, ...] = ("open", "high", "low", "close", "volume")


class BarTail:
    """A ring buffer of the last ``capacity`` bars (open time in ns, OHLCV and any extra
    columns as float64).

    Parameters
    ----------
    capacity
        Bars kept (the oldest are dropped); ``None`` keeps every bar (an expanding window).
    unit
        Resolution of the candle frames' index (that of the frames the feed was built from, so
        that the frames hash like them).
    columns
        The columns of each row: OHLCV (the default), then any extra feed lines the model reads.
    """

    def __init__(
        self, capacity: int | None, unit: str = "us", columns: tuple[str, ...] = OHLCV
    ) -> None:
        if capacity is not None and capacity < 1:
            raise ValueError(f"BarTail capacity is {capacity}: use at least 1 (or None)")
        self.capacity = capacity
        self.unit = unit
        self.columns = tuple(columns)
        size = capacity if capacity is not None else 1024
        self._times = np.zeros(size, dtype=np.int64)
        self._values = np.zeros((size, len(self.columns)), dtype=np.float64)
        self._count = 0  # bars pushed so far (all of them, not only those kept)

    def __len__(self) -> int:
        """Bars held."""
        return min(self._count, len(self._times))

    @property
    def pushed(self) -> int:
        """Bars pushed since the start (held or dropped)."""
        return self._count

    def push(self, time_ns: int, values: tuple[float, ...]) -> None:
        """Append a new bar."""
        if self.capacity is None and self._count == len(self._times):
            self._times = np.concatenate([self._times, np.zeros_like(self._times)])
            self._values = np.concatenate([self._values, np.zeros_like(self._values)])
        slot = self._count % len(self._times)
        self._times[slot] = time_ns
        self._values[slot] = values
        self._count += 1

    def replace_last(self, time_ns: int, values: tuple[float, ...]) -> None:
        """Overwrite the newest bar (a replayed bar updated by a new tick)."""
        if not self._count:
            raise IndexError("BarTail is empty")
        slot = (self._count - 1) % len(self._times)
        self._times[slot] = time_ns
        self._values[slot] = values

    def _slots(self, last: int | None) -> np.ndarray:
        n = len(self) if last is None else min(last, len(self))
        return np.arange(self._count - n, self._count) % len(self._times)

    def times(self, last: int | None = None) -> np.ndarray:
        """Open times (ns since the epoch) of the last ``last`` bars held (all for ``None``)."""
        return self._times[self._slots(last)]

    def values(self, last: int | None = None) -> np.ndarray:
        """Rows (float64, oldest first; :attr:`columns`) of the last ``last`` bars held (all for
        ``None``)."""
        return self._values[self._slots(last)]

    def frame(self, last: int | None = None) -> pd.DataFrame:
        """The last ``last`` bars held (all for ``None``) as a candle frame."""
        slots = self._slots(last)
        return candle_frame(self._times[slots], self._values[slots], self.unit, self.columns)


def candle_frame(
    times_ns: np.ndarray,
    values: np.ndarray,
    unit: str = "us",
    columns: tuple[str, ...] = OHLCV,
) -> pd.DataFrame:
    """A candle frame from open times (ns since the epoch) and rows of ``columns`` (OHLCV and
    any extra columns)."""
    index = pd.DatetimeIndex(np.asarray(times_ns).astype("datetime64[ns]"), name="timestamp")
    index = index.tz_localize("UTC").as_unit(unit)
    return pd.DataFrame(np.asarray(values, dtype=np.float64), index=index, columns=list(columns))


@dataclass(frozen=True)
class FeedIssues:
    """Holes in a feed's time grid and bars with NaN values, counted over the bars seen.

    Attributes
    ----------
    holes
        Places where one or more bars are missing.
    missing_bars
        Bars missing across all holes.
    nan_bars
        Bars with a NaN (or infinite) open, high, low, close or volume.
    first_hole
        Open time of the first bar after the first hole (``None`` without holes).
    """

    holes: int = 0
    missing_bars: int = 0
    nan_bars: int = 0
    first_hole: pd.Timestamp | None = None

    def __bool__(self) -> bool:
        return bool(self.holes or self.nan_bars)

    def describe(self, feed: str, step: pd.Timedelta | None) -> str:
        """One line for the log."""
        grid = f" {_fmt_step(step)}" if step is not None else ""
        where = f", the first before {self.first_hole.isoformat()}" if self.first_hole else ""
        return (
            f"feed {feed!r} has {self.holes} hole(s) in its{grid} time grid "
            f"({self.missing_bars} bar(s) missing{where}) and {self.nan_bars} NaN bar(s)"
        )


def _fmt_step(step: pd.Timedelta) -> str:
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        seconds = step.total_seconds()
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return str(step)


def missing_between(times_ns: np.ndarray, step_ns: int | None) -> np.ndarray:
    """Bars missing before each bar (0 for the first, and everywhere without a fixed step)."""
    out = np.zeros(len(times_ns), dtype=np.int64)
    if step_ns is None or len(times_ns) < 2:
        return out
    diffs = np.diff(times_ns)
    out[1:] = np.where(diffs > step_ns, np.ceil(diffs / step_ns).astype(np.int64) - 1, 0)
    return out


def nan_rows(values: np.ndarray) -> np.ndarray:
    """Whether each bar (a row of OHLCV) holds a NaN or infinite value."""
    return ~np.isfinite(values).all(axis=1)


def window_gaps(missing: np.ndarray, window: int) -> np.ndarray:
    """1.0 where the ``window`` bars ending at a bar cross a hole (bars missing between two of
    them), 0.0 otherwise; uses bars <= t only."""
    holes = np.cumsum(missing > 0)
    # a hole before bar j lies inside the window ending at t when t - window + 2 <= j <= t
    before = np.concatenate([np.zeros(window - 1, dtype=holes.dtype), holes])[: len(holes)]
    return (holes - before > 0).astype(np.float64)


def scan(times_ns: np.ndarray, values: np.ndarray, step_ns: int | None) -> FeedIssues:
    """The holes and NaN bars of a whole frame (times in ns, OHLCV rows)."""
    missing = missing_between(times_ns, step_ns)
    holes = np.flatnonzero(missing)
    first = pd.Timestamp(int(times_ns[holes[0]]), tz="UTC") if len(holes) else None
    return FeedIssues(
        holes=len(holes),
        missing_bars=int(missing.sum()),
        nan_bars=int(nan_rows(values).sum()),
        first_hole=first,
    )


class IssueCounter:
    """Counts holes and NaN bars bar by bar (the bar-by-bar twin of :func:`scan`), and tells
    whether the window of the last ``window`` bars crosses a hole."""

    def __init__(self, step_ns: int | None, window: int) -> None:
        self.step_ns = step_ns
        self.window = window
        self._issues = FeedIssues()
        self._last_hole = -(10**18)  # position of the latest bar that follows a hole
        self._last_nan = False  # whether the newest bar (maybe still being replayed) is NaN

    def add(self, position: int, time_ns: int, prev_ns: int | None, values: tuple) -> None:
        """Count a new bar at feed position ``position`` (``prev_ns``: the previous bar's time)."""
        issues = self._issues
        if prev_ns is not None and self.step_ns is not None and time_ns - prev_ns > self.step_ns:
            missing = math.ceil((time_ns - prev_ns) / self.step_ns) - 1
            first = issues.first_hole or pd.Timestamp(int(time_ns), tz="UTC")
            issues = FeedIssues(
                issues.holes + 1, issues.missing_bars + missing, issues.nan_bars, first
            )
            self._last_hole = position
        if self._last_nan:  # the previous bar is final now
            issues = FeedIssues(
                issues.holes, issues.missing_bars, issues.nan_bars + 1, issues.first_hole
            )
        self._issues = issues
        self._last_nan = not all(math.isfinite(v) for v in values)

    def update(self, values: tuple) -> None:
        """The newest bar changed (a replayed bar's new tick)."""
        self._last_nan = not all(math.isfinite(v) for v in values)

    @property
    def issues(self) -> FeedIssues:
        """The counts so far (the newest bar included)."""
        i = self._issues
        return FeedIssues(i.holes, i.missing_bars, i.nan_bars + self._last_nan, i.first_hole)

    def gap(self, position: int) -> float:
        """1.0 when the window ending at bar ``position`` crosses a hole, else 0.0."""
        return 1.0 if self._last_hole >= position - self.window + 2 else 0.0
