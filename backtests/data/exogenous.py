"""Exogenous series joined as-of onto the main candles: other candles (ETH/USDT, a file) and
funding-rate events, each turned into causal features on its own grid first.

The rule (:func:`asof_join`): the value for main bar t is the latest exogenous value *known at
t's close*: for candles, a bar opened at ``o`` with timeframe ``d`` is known at ``o + d`` (its
close); a funding event is known at its event time. A value is used when that time is
``<= open[t] + main step`` (t's close). Before the series starts the value is NaN (the
forecaster's windows holding it are invalid); a value older than ``max_age`` at t's close is
NaN too: a series that ends early or has holes is never forward-filled past that limit, and
how many main bars that left without a value is reported (:class:`JoinReport`).

Features of one series (:func:`series_features`), all causal on the series' own grid:

* candles: ``{name}_log_return``, ``{name}_hl_range``, ``{name}_log_volume_change`` (the
  formulas of :mod:`lstm_backtrader.models.features`);
* funding: ``{name}_funding_rate`` (the rate paid at that event).

:func:`join_exogenous` does both for every series and returns the main frame with the new
columns; it never changes the main candles.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lstm_backtrader.backtests.data.validate import find_gaps, infer_timeframe, timeframe_label
from lstm_backtrader.models.features import hl_range, log_return, log_volume_change
from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

__all__ = [
    "CANDLE_FEATURES",
    "DEFAULT_MAX_AGE_BARS",
    "ExogenousSeries",
    "JoinReport",
    "asof_join",
    "join_exogenous",
    "series_features",
]

#: Feature suffixes computed for an exogenous candle series (``{name}_{suffix}``).
CANDLE_FEATURES: tuple[str, ...] = ("log_return", "hl_range", "log_volume_change")
#: Default staleness limit: a value older than this many of the series' own bars (its
#: timeframe; funding: its usual spacing) at the main bar's close is NaN.
DEFAULT_MAX_AGE_BARS = 2


@dataclass(frozen=True)
class ExogenousSeries:
    """One loaded exogenous series.

    Attributes
    ----------
    name
        Column prefix (``eth`` gives ``eth_log_return``, ...).
    kind
        ``"candles"`` (a validated candle frame indexed by bar *open* time) or ``"funding"``
        (a frame with a ``funding_rate`` column indexed by the event time).
    frame
        The data, sorted, without duplicate times.
    max_age_bars
        The staleness limit in the series' own bars.
    """

    name: str
    kind: str
    frame: pd.DataFrame
    max_age_bars: int = DEFAULT_MAX_AGE_BARS

    def step(self) -> pd.Timedelta:
        """The series' bar size (candles) or usual event spacing (funding: the median, to the
        second)."""
        index = self.frame.index
        if self.kind == "candles":
            return infer_timeframe(index, source=f"[[data.features]] {self.name}")
        if len(index) < 2:
            raise InputError(f"[[data.features]] {self.name}: fewer than 2 funding events")
        # events are stamped a few ms late (Binance): the usual spacing to the second
        return pd.Timedelta(pd.Series(index[1:] - index[:-1]).median()).round("1s")


@dataclass(frozen=True)
class JoinReport:
    """What the join of one series left without a value, and why (reported, never filled)."""

    name: str
    step: str
    first_known: pd.Timestamp | None
    last_known: pd.Timestamp | None
    no_coverage: int  # main bars before the series' first value
    stale: int  # main bars whose latest value was older than the limit (gaps, early end)
    gaps: int  # holes in the series' own grid (candles)
    ends_early: bool  # the series' last value is known before the main data's last close

    def lines(self) -> list[str]:
        """Human-readable lines for the findings present (empty when there is none)."""
        out = []
        if self.gaps:
            out.append(f"{self.name}: {self.gaps} gap(s) in its {self.step} grid")
        if self.ends_early:
            out.append(f"{self.name}: ends at {self.last_known}, before the main data")
        if self.stale:
            out.append(
                f"{self.name}: {self.stale} main bar(s) set to NaN (latest value older than "
                "the staleness limit)"
            )
        return out

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form (for the run's data quality)."""
        return {
            "name": self.name,
            "step": self.step,
            "first_known": None if self.first_known is None else self.first_known.isoformat(),
            "last_known": None if self.last_known is None else self.last_known.isoformat(),
            "no_coverage_bars": self.no_coverage,
            "stale_bars": self.stale,
            "gaps": self.gaps,
            "ends_early": self.ends_early,
        }


def _check_index(frame: pd.DataFrame, what: str) -> None:
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise InputError(f"{what}: the index must hold UTC times (a tz-aware DatetimeIndex)")
    if index.has_duplicates:
        dup = index[index.duplicated()][0]
        raise InputError(f"{what}: duplicate time {dup.isoformat()}; one row per time")
    if not index.is_monotonic_increasing:
        raise InputError(f"{what}: times are not sorted; sort the rows")


def series_features(series: ExogenousSeries) -> pd.DataFrame:
    """The causal features of one series, indexed by the time each value becomes known.

    Returns
    -------
    pandas.DataFrame
        Candles: ``{name}_log_return``, ``{name}_hl_range``, ``{name}_log_volume_change``
        indexed by bar *close* time (open + timeframe). Funding: ``{name}_funding_rate``
        indexed by event time. Non-finite values are NaN.
    """
    what = f"[[data.features]] {series.name}"
    _check_index(series.frame, what)
    if series.kind == "candles":
        frame = series.frame
        cols = {
            f"{series.name}_log_return": log_return(frame),
            f"{series.name}_hl_range": hl_range(frame),
            f"{series.name}_log_volume_change": log_volume_change(frame),
        }
        out = pd.DataFrame({k: v.to_numpy(dtype="float64") for k, v in cols.items()})
        out.index = frame.index + series.step()
    elif series.kind == "funding":
        if "funding_rate" not in series.frame.columns:
            raise InputError(f"{what}: no funding_rate column")
        out = pd.DataFrame(
            {f"{series.name}_funding_rate": series.frame["funding_rate"].to_numpy("float64")},
            index=series.frame.index,
        )
    else:
        raise InputError(f"{what}: kind {series.kind!r}; use 'candles' or 'funding'")
    return out.where(np.isfinite(out))


def asof_join(
    main_close: pd.DatetimeIndex, known: pd.DataFrame, max_age: pd.Timedelta
) -> tuple[pd.DataFrame, np.ndarray]:
    """For each main close time, the row of ``known`` with the latest time ``<=`` it.

    Parameters
    ----------
    main_close
        The main bars' close times (open + main timeframe), sorted.
    known
        Values indexed by the time they become known (sorted, unique).
    max_age
        A row older than this at the main close is not used (NaN).

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray)
        The joined values (index ``main_close``, NaN where no row qualifies) and, per main bar,
        0 (joined), 1 (before the first row) or 2 (latest row too old).
    """
    times = known.index.as_unit("ns").asi8  # one unit for both (loaders give us, others ns)
    targets = main_close.as_unit("ns").asi8
    pos = np.searchsorted(times, targets, side="right") - 1
    status = np.zeros(len(targets), dtype=np.int8)
    status[pos < 0] = 1
    has = pos >= 0
    age = np.zeros(len(targets), dtype=np.int64)
    age[has] = targets[has] - times[pos[has]]
    status[has & (age > max_age.value)] = 2
    values = np.full((len(targets), known.shape[1]), np.nan)
    ok = status == 0
    values[ok] = known.to_numpy(dtype="float64")[pos[ok]]
    return pd.DataFrame(values, index=main_close, columns=known.columns), status


def join_exogenous(
    main: pd.DataFrame, series: list[ExogenousSeries] | tuple[ExogenousSeries, ...]
) -> tuple[pd.DataFrame, list[JoinReport]]:
    """``main`` with every series' features joined as-of (see the module docstring).

    Parameters
    ----------
    main
        The run's candle frame (bar open times, sorted).
    series
        The exogenous series; their column names must not clash with ``main``'s or each other.

    Returns
    -------
    (pandas.DataFrame, list[JoinReport])
        A copy of ``main`` with the new float64 columns, and one report per series (its
        findings are logged as warnings).
    """
    _check_index(main, "the main candles")
    out = main.copy()
    if not series:
        return out, []
    main_step = infer_timeframe(main.index, source="the main candles")
    main_close = main.index + main_step
    reports = []
    for s in series:
        known = series_features(s)
        clash = [c for c in known.columns if c in out.columns]
        if clash:
            raise InputError(f"[[data.features]] {s.name}: column {clash[0]!r} already exists")
        step = s.step()
        if s.max_age_bars < 1:
            raise InputError(f"[[data.features]] {s.name}: max_age_bars must be >= 1")
        joined, status = asof_join(main_close, known, s.max_age_bars * step)
        for col in joined.columns:
            out[col] = joined[col].to_numpy()
        gaps = find_gaps(s.frame.index, step).gaps if s.kind == "candles" else 0
        last = known.index[-1] if len(known) else None
        report = JoinReport(
            name=s.name,
            step=timeframe_label(step),
            first_known=known.index[0] if len(known) else None,
            last_known=last,
            no_coverage=int((status == 1).sum()),
            stale=int((status == 2).sum()),
            gaps=gaps,
            ends_early=last is not None and last < main_close[-1] - step,
        )
        for line in report.lines():
            logger.warning("%s (not filled)", line)
        reports.append(report)
    return out, reports
