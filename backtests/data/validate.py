"""The candle frame contract and the one validation every loader goes through.

A *candle frame* is a :class:`pandas.DataFrame` indexed by a UTC :class:`~pandas.DatetimeIndex`
named ``timestamp`` (each bar labelled by its open time), with float64 columns
``open, high, low, close, volume``, strictly increasing and without duplicates.

:func:`validate_ohlcv` turns a raw frame into a candle frame or raises a one-line
:class:`~lstm_backtrader.models.infra.errors.DataError` naming the source and the first offending
rows. It never alters data silently: it sorts rows (logged), drops *exact* duplicate rows (warned),
and refuses everything else (conflicting duplicates, NaN, non-positive prices, a high/low that does
not contain the open and close, infinite or absurdly large values, an irregular or sub-second
time grid). Gaps in the time grid are reported, never filled; bars that are valid but noteworthy
(zero volume, high = low, extreme moves) are reported by :func:`describe_ohlcv`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lstm_backtrader.backtests.data.quality import QualityReport, check_quality
from lstm_backtrader.models.infra.errors import DataError

logger = logging.getLogger(__name__)

OHLCV_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")

_SHOW = 3  # how many offending rows an error message names

#: Prices and volumes beyond these are refused: they are unit or parsing errors, and their
#: products (sizes, equity) overflow float64 into silently wrong statistics.
MAX_PRICE = 1e12
MAX_VOLUME = 1e18
#: The shortest and the longest bar the pipeline supports (exchanges offer 1 s to 1 w candles;
#: calendar months are refused separately, with their own message).
MIN_STEP = pd.Timedelta(seconds=1)
MAX_STEP = pd.Timedelta(weeks=1)

_TIMEFRAME_UNITS: tuple[tuple[str, pd.Timedelta], ...] = (
    ("w", pd.Timedelta(weeks=1)),
    ("d", pd.Timedelta(days=1)),
    ("h", pd.Timedelta(hours=1)),
    ("m", pd.Timedelta(minutes=1)),
    ("s", pd.Timedelta(seconds=1)),
)


@dataclass(frozen=True)
class GapReport:
    """Holes in a candle frame's time grid (reported, never filled).

    Attributes
    ----------
    gaps
        Number of places where one or more bars are missing.
    missing_bars
        Total number of bars missing across all gaps.
    largest
        Longest gap, as the time between the bars on either side (``None`` without gaps).
    largest_at
        Timestamp of the bar that ends the largest gap.
    """

    gaps: int
    missing_bars: int
    largest: pd.Timedelta | None
    largest_at: pd.Timestamp | None


@dataclass(frozen=True)
class DataReport:
    """What :func:`describe_ohlcv` knows about a candle frame."""

    bars: int
    start: pd.Timestamp
    end: pd.Timestamp
    timeframe: str
    gaps: GapReport
    quality: QualityReport


def timeframe_label(delta: pd.Timedelta) -> str:
    """ccxt-style label of a bar spacing (``'1d'``, ``'2h'``, ``'15m'``); raw string otherwise."""
    for unit, size in _TIMEFRAME_UNITS:
        if delta >= size and delta % size == pd.Timedelta(0):
            return f"{delta // size}{unit}"
    return str(delta)


def timeframe_delta(label: str) -> pd.Timedelta:
    """Inverse of :func:`timeframe_label`: ``'2h'`` → ``Timedelta('2h')``.

    Raises
    ------
    DataError
        When the label is not a number followed by one of ``s m h d w`` (``M`` for months is
        not a fixed spacing and is refused).
    """
    text = label.strip()
    units = dict(_TIMEFRAME_UNITS)
    if len(text) >= 2 and text[:-1].isdigit() and text[-1] in units and int(text[:-1]) > 0:
        return int(text[:-1]) * units[text[-1]]
    raise DataError(
        f"timeframe {label!r} is not understood: "
        "use a number and a unit, e.g. 1m, 15m, 1h, 2h, 1d, 1w"
    )


def infer_timeframe(index: pd.DatetimeIndex, *, source: str = "data") -> pd.Timedelta:
    """The bar spacing of a sorted index: the most common difference between bars.

    Raises
    ------
    DataError
        With fewer than two bars, where there is nothing to infer from.
    """
    if len(index) < 2:
        raise DataError(
            f"{source}: cannot infer a timeframe from {len(index)} candle(s); need at least 2"
        )
    diffs = pd.Series(index[1:] - index[:-1])
    return pd.Timedelta(diffs.mode().min())


def check_grid(index: pd.DatetimeIndex, step: pd.Timedelta, *, source: str = "data") -> None:
    """Refuse a time grid the pipeline cannot use: bars shorter than a second, calendar-month
    bars, or spacings that are not whole multiples of the bar size (e.g. timezone offsets
    shifted on some rows). Gaps of whole bars are fine (reported, not filled)."""
    if step < MIN_STEP:
        raise DataError(
            f"{source}: bars {step} apart; the shortest supported timeframe is 1 second"
        )
    diffs = index[1:] - index[:-1]
    days = diffs / pd.Timedelta(days=1)
    if step >= pd.Timedelta(days=28) and ((days >= 28) & (days <= 31)).all():
        raise DataError(
            f"{source}: calendar-month candles (1M) are not supported; use weekly or shorter bars"
        )
    if step > MAX_STEP:
        raise DataError(f"{source}: bars {step} apart; the longest supported timeframe is 1 week")
    off = index[1:][(diffs % step) != pd.Timedelta(0)]
    if len(off):
        first = index.get_loc(off[0])
        raise DataError(
            f"{source}: irregular time grid: {len(off)} bar(s) are not a whole number of "
            f"{timeframe_label(step)} bars after the previous one, first at {_rows(off)} "
            f"({index[first] - index[first - 1]} after {_fmt_ts(index[first - 1])}); "
            "check the timestamps' time zone"
        )


def find_gaps(index: pd.DatetimeIndex, timeframe: pd.Timedelta | None = None) -> GapReport:
    """Count the holes in a sorted index's time grid."""
    if len(index) < 2:
        return GapReport(0, 0, None, None)
    step = timeframe if timeframe is not None else infer_timeframe(index)
    diffs = pd.Series(index[1:] - index[:-1], index=index[1:])
    holes = diffs[diffs > step]
    if holes.empty:
        return GapReport(0, 0, None, None)
    missing = int(sum(int(np.ceil(d / step)) - 1 for d in holes))
    return GapReport(
        gaps=len(holes),
        missing_bars=missing,
        largest=pd.Timedelta(holes.max()),
        largest_at=pd.Timestamp(holes.idxmax()),
    )


def describe_ohlcv(frame: pd.DataFrame, *, source: str = "data") -> DataReport:
    """Summarise a validated candle frame: range, bars, timeframe, gaps and noteworthy bars
    (zero volume, high = low, extreme moves: :mod:`~lstm_backtrader.backtests.data.quality`)."""
    step = infer_timeframe(frame.index, source=source)
    return DataReport(
        bars=len(frame),
        start=frame.index[0],
        end=frame.index[-1],
        timeframe=timeframe_label(step),
        gaps=find_gaps(frame.index, step),
        quality=check_quality(frame),
    )


def _rows(index: pd.Index) -> str:
    shown = ", ".join(_fmt_ts(ts) for ts in index[:_SHOW])
    more = f" (+{len(index) - _SHOW} more)" if len(index) > _SHOW else ""
    return shown + more


def _fmt_ts(ts: object) -> str:
    stamp = pd.Timestamp(ts)  # type: ignore[arg-type]
    if stamp.hour == stamp.minute == stamp.second == 0:
        return stamp.strftime("%Y-%m-%d")
    return stamp.strftime("%Y-%m-%d %H:%M:%S")


def to_utc_index(values: pd.Index | pd.Series, *, source: str, field: str) -> pd.DatetimeIndex:
    """Timestamps (tz-aware, or naive taken as UTC) as a UTC index named ``timestamp``."""
    try:
        idx = pd.DatetimeIndex(values)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{source}: column {field!r} does not hold timestamps ({exc})") from None
    if idx.hasnans:
        bad = np.flatnonzero(idx.isna())
        raise DataError(
            f"{source}: column {field!r} has {len(bad)} empty or unparseable timestamp(s), "
            f"first at data row {bad[0] + 1}; fix or remove those rows"
        )
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    return idx.rename("timestamp")


def validate_ohlcv(raw: pd.DataFrame, *, source: str = "data") -> pd.DataFrame:
    """Check and normalise a raw OHLCV frame into a candle frame.

    Parameters
    ----------
    raw
        Either indexed by timestamps or with a ``timestamp`` column, and with (at least) the
        columns ``open, high, low, close, volume``. Naive timestamps are taken as UTC.
    source
        Name of the file or feed, used in every message (``'btc.csv'``).

    Returns
    -------
    pandas.DataFrame
        A new candle frame; ``raw`` is not modified.

    Raises
    ------
    DataError
        One line naming ``source``, the problem and the first offending rows.
    """
    missing = [c for c in OHLCV_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {', '.join(missing)}; "
            f"found {', '.join(map(str, raw.columns))}"
        )
    if "timestamp" in raw.columns:
        index = to_utc_index(raw["timestamp"], source=source, field="timestamp")
    elif isinstance(raw.index, pd.DatetimeIndex):
        index = to_utc_index(raw.index, source=source, field="timestamp")
    else:
        raise DataError(f"{source}: no 'timestamp' column and the index is not a DatetimeIndex")
    if raw.empty:
        raise DataError(f"{source}: no candles")

    frame = pd.DataFrame(index=index)
    for col in OHLCV_COLUMNS:
        values = pd.to_numeric(pd.Series(np.asarray(raw[col]), index=index), errors="coerce")
        frame[col] = values.astype("float64")

    nan_rows = frame.index[frame.isna().any(axis=1)]
    if len(nan_rows):
        cols = [c for c in OHLCV_COLUMNS if frame[c].isna().any()]
        raise DataError(
            f"{source}: {len(nan_rows)} row(s) with missing or non-numeric {'/'.join(cols)}, "
            f"first at {_rows(nan_rows)}; fix or remove those rows"
        )

    values = frame.to_numpy(dtype="float64")
    inf_rows = frame.index[np.isinf(values).any(axis=1)]
    if len(inf_rows):
        cols = [c for c in OHLCV_COLUMNS if np.isinf(frame[c].to_numpy()).any()]
        raise DataError(
            f"{source}: {len(inf_rows)} row(s) with an infinite {'/'.join(cols)}, first at "
            f"{_rows(inf_rows)}; fix or remove those rows"
        )
    for cols, limit, what in ((PRICE_COLUMNS, MAX_PRICE, "price"), (("volume",), MAX_VOLUME,
                                                                   "volume")):  # fmt: skip
        huge = frame[list(cols)].abs() > limit
        mask = huge.any(axis=1).to_numpy()
        rows = frame.index[mask]
        if len(rows):
            at = int(np.flatnonzero(mask)[0])  # by position: a timestamp may repeat here
            first = ", ".join(f"{c}={frame[c].iloc[at]:g}" for c in cols if bool(huge[c].iloc[at]))
            raise DataError(
                f"{source}: {len(rows)} row(s) with a {what} above {limit:g}, first at "
                f"{_rows(rows)} ({first}); check the file's units"
            )

    if not frame.index.is_monotonic_increasing:
        logger.info("%s: rows were not in time order; sorted them", source)
        frame = frame.sort_index(kind="stable")

    dup_mask = frame.index.duplicated(keep=False)
    if dup_mask.any():
        dups = frame[dup_mask]
        exact = dups.reset_index().duplicated(keep=False).to_numpy()
        conflicting = dups.index[~exact].unique()
        if len(conflicting):
            raise DataError(
                f"{source}: {len(conflicting)} timestamp(s) appear more than once with different "
                f"values, first at {_rows(conflicting)}; keep one row per timestamp"
            )
        dropped = int(frame.index.duplicated(keep="first").sum())
        logger.warning("%s: dropped %d exact duplicate row(s)", source, dropped)
        frame = frame[~frame.index.duplicated(keep="first")]

    prices = frame[list(PRICE_COLUMNS)]
    nonpos = frame.index[(prices <= 0).any(axis=1)]
    if len(nonpos):
        raise DataError(
            f"{source}: {len(nonpos)} row(s) with a zero or negative price, first at "
            f"{_rows(nonpos)}; prices must be positive"
        )
    negvol = frame.index[frame["volume"] < 0]
    if len(negvol):
        raise DataError(
            f"{source}: {len(negvol)} row(s) with a negative volume, first at {_rows(negvol)}"
        )
    body_hi = frame[["open", "close"]].max(axis=1)
    body_lo = frame[["open", "close"]].min(axis=1)
    bad_hl = frame.index[
        (frame["high"] < body_hi) | (frame["low"] > body_lo) | (frame["high"] < frame["low"])
    ]
    if len(bad_hl):
        first = frame.loc[bad_hl[0]]
        raise DataError(
            f"{source}: {len(bad_hl)} row(s) whose high/low do not contain open and close, "
            f"first at {_rows(bad_hl)} (open={first.open:g} high={first.high:g} low={first.low:g} "
            f"close={first.close:g}); fix or remove those rows"
        )

    future = frame.index[frame.index > pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)]
    if len(future):
        raise DataError(
            f"{source}: {len(future)} candle(s) dated in the future, first at {_rows(future)}; "
            "check the timestamps (their unit or time zone)"
        )
    if len(frame) >= 2:
        step = infer_timeframe(frame.index, source=source)
        check_grid(frame.index, step, source=source)
        gaps = find_gaps(frame.index, step)
        if gaps.gaps:
            logger.warning(
                "%s: %d gap(s) in the %s grid, %d bar(s) missing, largest %s ending %s "
                "(not filled)",
                source,
                gaps.gaps,
                timeframe_label(step),
                gaps.missing_bars,
                gaps.largest,
                _fmt_ts(gaps.largest_at),
            )
    return frame
