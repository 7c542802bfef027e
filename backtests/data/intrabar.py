"""Realised variance of each main bar from a higher-frequency ("intrabar") candle file.

``[data] intrabar = "path/to/file"`` names a candle file of a finer timeframe that divides the
main one (2h candles under daily bars: 12 per day). :func:`realized_variance` aggregates it to
one value per main bar, the **realised variance** ``realized_var``:

``realized_var[t] = Σ_i (log(c_i / c_{i-1}))²`` over the intrabar candles ``i`` whose open time
lies in main bar t's ``[open, open + step)``, where ``c_{i-1}`` is the close of the intrabar
candle just before ``i`` — for the first candle of the bar, the *previous* main bar's last
intrabar close. The returns therefore tile the close-to-close path: their sum is
``log(close[t] / close[t-1])`` when the files agree, and each intrabar return is counted in
exactly one main bar. ``realized_var[t]`` uses intrabar candles that end at bar t's close at
the latest: it is known when bar t closes, like bar t's own high and low.

A main bar whose coverage is incomplete — an intrabar candle missing inside it (or the one
before it, which carries the first return), or a non-finite price — gets NaN, never a
rescaled guess; :func:`join_intrabar` logs how many and the first few, and puts them into the
run's data description (the page's Data table and ``summary.json``).

Consistency: the last intrabar close of a bar should equal the bar's close. A difference of
more than :data:`CLOSE_TOLERANCE` is reported (count, first bars, largest); when the typical
difference is as large as a typical bar's move the files do not describe the same prices (or
are shifted against each other: a possible look-ahead) and are refused
(:data:`MAX_MISMATCH_RATIO`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lstm_backtrader.backtests.data.validate import infer_timeframe, timeframe_label
from lstm_backtrader.models.infra.errors import DataError
from lstm_backtrader.models.targets import REALIZED_VAR

logger = logging.getLogger(__name__)

#: Largest ``|log(last intrabar close / main close)|`` taken as the same price. Candles of one
#: source agree exactly (text rounding is ~1e-12 relative); 1e-6 is below one price tick of
#: BTC/USDT (0.01 at 4,000 = 2.5e-6), so any real disagreement is reported.
CLOSE_TOLERANCE = 1e-6
#: The files are refused when the median close difference reaches this share of the median
#: bar move ``|log(close[t] / close[t-1])|``: the intrabar closes then do not track the bars
#: at all — another asset, or grids shifted by a bar (main bars labelled by their *close*
#: time would join the next bar's intrabar candles: a look-ahead), whose differences are a
#: whole bar's move (ratio ~1). The same asset on another venue differs by its basis, a small
#: fraction of a bar's move: reported, not refused.
MAX_MISMATCH_RATIO = 0.5
#: How many bars a message names.
SHOW = 3


@dataclass(frozen=True)
class IntrabarResult:
    """What :func:`realized_variance` found.

    Attributes
    ----------
    realized_var
        One value per main bar (NaN where the coverage is incomplete), named ``realized_var``.
    timeframe
        The intrabar timeframe label (``'2h'``).
    per_bar
        Intrabar candles per main bar.
    incomplete
        Main bars without complete intrabar coverage (their ``realized_var`` is NaN).
    mismatches
        Main bars whose last intrabar close differs from their close by more than
        :data:`CLOSE_TOLERANCE`.
    largest_mismatch
        The largest ``|log(intrabar close / main close)|`` over the checked bars (0.0 if none).
    checked
        Bars whose closes were compared (those with their last intrabar candle).
    """

    realized_var: pd.Series
    timeframe: str
    per_bar: int
    incomplete: pd.DatetimeIndex
    mismatches: pd.DatetimeIndex
    largest_mismatch: float
    checked: int


def check_intrabar_grid(main: pd.DataFrame, intrabar: pd.DataFrame, source: str) -> int:
    """Refuse an intrabar file that cannot be aggregated onto ``main``'s bars.

    Returns
    -------
    int
        Intrabar candles per main bar.

    Raises
    ------
    DataError
        One line naming ``source``: a timeframe that is not finer than the main one or does
        not divide it; no overlap in time; intrabar candles straddling main bar boundaries.
    """
    step = infer_timeframe(main.index, source="main data")
    sub = infer_timeframe(intrabar.index, source=source)
    main_tf, sub_tf = timeframe_label(step), timeframe_label(sub)
    if sub >= step:
        raise DataError(
            f"{source}: intrabar timeframe {sub_tf} is not finer than the main data's {main_tf}; "
            "use a higher-frequency file"
        )
    if step % sub != pd.Timedelta(0):
        raise DataError(
            f"{source}: intrabar timeframe {sub_tf} does not divide the main data's {main_tf}; "
            "use one that does (e.g. 1h or 2h under 1d)"
        )
    if intrabar.index[-1] < main.index[0] or intrabar.index[0] >= main.index[-1] + step:
        raise DataError(
            f"{source}: no overlap with the main data ({_fmt(intrabar.index[0])} .. "
            f"{_fmt(intrabar.index[-1])} vs {_fmt(main.index[0])} .. {_fmt(main.index[-1])})"
        )
    off = intrabar.index[((intrabar.index - main.index[0]) % sub) != pd.Timedelta(0)]
    if len(off):
        raise DataError(
            f"{source}: {len(off)} intrabar candle(s) straddle the main bars' boundaries "
            f"(misaligned grids), first at {_rows(off)}; the {sub_tf} candles must start on the "
            f"{main_tf} bars' open times"
        )
    return int(step // sub)


def realized_variance(
    main: pd.DataFrame, intrabar: pd.DataFrame, *, source: str = "intrabar"
) -> IntrabarResult:
    """Aggregate intrabar candles to one realised variance per main bar (a pure function).

    Parameters
    ----------
    main
        The run's candle frame (bars labelled by their open time).
    intrabar
        A candle frame of a finer timeframe dividing ``main``'s, on the same grid.
    source
        The intrabar file's name, for messages.

    Returns
    -------
    IntrabarResult
        ``realized_var`` per main bar (see the module docstring) with the coverage and the
        close consistency found.

    Raises
    ------
    DataError
        The grids do not fit (:func:`check_intrabar_grid`), or the closes disagree by as much
        as a bar's move (:data:`MAX_MISMATCH_RATIO`).
    """
    m = check_intrabar_grid(main, intrabar, source)
    step = infer_timeframe(main.index, source="main data")
    sub = step // m
    anchor = main.index[0]
    ts = intrabar.index
    close = intrabar["close"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        logc = np.log(np.where(close > 0, close, np.nan))
    ret = np.full(len(ts), np.nan)
    if len(ts) > 1:
        follows = (ts[1:] - ts[:-1]) == sub  # the previous intrabar candle exists
        ret[1:] = np.where(follows, logc[1:] - logc[:-1], np.nan)
    # position of each intrabar candle's main bar, by time (main bars may have gaps)
    slot = np.asarray((ts - anchor) // step, dtype=np.int64)
    main_slot = np.asarray((main.index - anchor) // step, dtype=np.int64)
    row = pd.Index(main_slot).get_indexer(slot)  # -1: no such main bar
    inside = row >= 0
    n = len(main)
    ok_ret = inside & np.isfinite(ret)
    sums = np.bincount(row[ok_ret], weights=ret[ok_ret] ** 2, minlength=n)
    counts = np.bincount(row[ok_ret], minlength=n)
    complete = counts == m
    rv = np.where(complete, sums, np.nan)
    incomplete = main.index[~complete]
    # the last intrabar candle of each bar opens at open + step - sub
    last_pos = pd.Index(ts).get_indexer(main.index + (step - sub))
    has_last = (last_pos >= 0) & np.isfinite(logc[np.maximum(last_pos, 0)])
    main_close = main["close"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = np.abs(logc[np.maximum(last_pos, 0)] - np.log(main_close))
    dev = np.where(has_last & np.isfinite(dev), dev, np.nan)
    checked = int(np.isfinite(dev).sum())
    bad = np.isfinite(dev) & (dev > CLOSE_TOLERANCE)
    mismatches = main.index[bad]
    largest = float(np.nanmax(dev)) if checked else 0.0
    typical = float(np.nanmedian(dev)) if checked else 0.0
    move = float(np.median(np.abs(np.diff(np.log(main_close))))) if n > 1 else 0.0
    if checked and typical > 0 and typical >= MAX_MISMATCH_RATIO * move:
        raise DataError(
            f"{source}: the last intrabar close differs from the main bar's close by a median "
            f"|log ratio| of {typical:.3g} ({len(mismatches)} of {checked} bars differ, first at "
            f"{_rows(mismatches)}), as much as a typical bar's move ({move:.3g}): the files do "
            "not describe the same prices (another asset, or grids shifted by a bar, e.g. bars "
            "labelled by their close time)"
        )
    return IntrabarResult(
        realized_var=pd.Series(rv, index=main.index, name=REALIZED_VAR),
        timeframe=timeframe_label(sub),
        per_bar=m,
        incomplete=incomplete,
        mismatches=mismatches,
        largest_mismatch=largest,
        checked=checked,
    )


def join_intrabar(
    candles: pd.DataFrame, path: str | os.PathLike[str] | None, source: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``candles`` with the column ``realized_var`` from the intrabar file at ``path`` (read
    and validated like any candle file), and ``source`` with what the aggregation found (file,
    timeframe, incomplete bars, close mismatches); both unchanged when ``path`` is ``None``.

    Logs one warning line each for incomplete bars and for close mismatches.
    """
    if path is None:
        return candles, source
    from lstm_backtrader.backtests.data.files import load_ohlcv

    name = str(path)
    found = realized_variance(candles, load_ohlcv(path), source=name)
    out = candles.copy()
    out[REALIZED_VAR] = found.realized_var
    info = {
        **source,
        "intrabar": name,
        "intrabar_timeframe": f"{found.timeframe} ({found.per_bar} per bar)",
        "intrabar_incomplete_bars": len(found.incomplete),
        "intrabar_close_mismatches": len(found.mismatches),
    }
    if len(found.incomplete):
        info["intrabar_incomplete_first"] = _rows(found.incomplete)
        logger.warning(
            "%s: %d of %d bar(s) lack complete %s coverage and get no realized_var (NaN), "
            "first at %s",
            name, len(found.incomplete), len(candles), found.timeframe, _rows(found.incomplete),
        )  # fmt: skip
    if len(found.mismatches):
        info["intrabar_close_mismatch_first"] = _rows(found.mismatches)
        logger.warning(
            "%s: the last intrabar close differs from the bar's close (|log ratio| > %g) on %d "
            "of %d bar(s), largest %.3g, first at %s (kept as they are)",
            name, CLOSE_TOLERANCE, len(found.mismatches), found.checked,
            found.largest_mismatch, _rows(found.mismatches),
        )  # fmt: skip
    return out, info


def _fmt(ts: pd.Timestamp) -> str:
    if ts.hour == ts.minute == ts.second == 0:
        return ts.strftime("%Y-%m-%d")
    return ts.strftime("%Y-%m-%d %H:%M")


def _rows(index: pd.DatetimeIndex) -> str:
    shown = ", ".join(_fmt(t) for t in index[:SHOW])
    return shown + (f" (+{len(index) - SHOW} more)" if len(index) > SHOW else "")


__all__ = [
    "CLOSE_TOLERANCE",
    "REALIZED_VAR",
    "IntrabarResult",
    "check_intrabar_grid",
    "join_intrabar",
    "realized_variance",
]
