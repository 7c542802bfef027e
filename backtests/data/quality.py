"""What a valid candle frame may still hold that a user should know about: bars without volume,
bars whose high equals their low (no trade, or a filled-in candle), and extreme moves (a bar's
log return many times the series' robust scale — a real crash, or a bad print that can turn a
strategy's Sharpe ratio positive on its own). Reported with counts and first dates in
``lstm-bt data info``, in the run's log and on the run page; the data is never altered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

#: A move is extreme when ``|log return| > EXTREME_SCALES × 1.4826 × MAD`` of the series' log
#: returns (a robust standard deviation): 20 "sigmas" flags data errors and crashes such as
#: BTC's 2020-03-12 (−46%), not ordinary volatile days.
EXTREME_SCALES = 20.0
#: How many first dates a report lists.
SHOW = 3


@dataclass(frozen=True)
class Finding:
    """One kind of noteworthy bar: how many, and the first few of them."""

    count: int
    first: tuple[pd.Timestamp, ...]

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form (ISO timestamps)."""
        return {"count": self.count, "first": [t.isoformat() for t in self.first]}


@dataclass(frozen=True)
class QualityReport:
    """Noteworthy bars of a candle frame (none of them is an error).

    Attributes
    ----------
    zero_volume
        Bars with volume 0.
    flat
        Bars with high == low.
    extreme_moves
        Bars whose log return from the previous close exceeds :attr:`extreme_threshold`.
    extreme_threshold
        ``EXTREME_SCALES`` robust standard deviations of the log returns (NaN with < 3 bars).
    """

    zero_volume: Finding
    flat: Finding
    extreme_moves: Finding
    extreme_threshold: float

    def lines(self) -> list[str]:
        """One human-readable line per kind of finding present (empty when there is none)."""
        out = []
        for label, finding in (
            ("bar(s) with zero volume", self.zero_volume),
            ("bar(s) with high = low", self.flat),
            (
                f"extreme move(s), |log return| > {self.extreme_threshold:.3g} "
                f"({EXTREME_SCALES:g}x the robust scale)",
                self.extreme_moves,
            ),
        ):
            if finding.count:
                first = ", ".join(_fmt(t) for t in finding.first)
                more = ", ..." if finding.count > len(finding.first) else ""
                out.append(f"{finding.count} {label}, first at {first}{more}")
        return out

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {
            "zero_volume": self.zero_volume.to_dict(),
            "flat_bars": self.flat.to_dict(),
            "extreme_moves": self.extreme_moves.to_dict(),
            "extreme_threshold": (
                None if not np.isfinite(self.extreme_threshold) else self.extreme_threshold
            ),
        }


def _finding(index: pd.DatetimeIndex) -> Finding:
    return Finding(count=len(index), first=tuple(pd.Timestamp(t) for t in index[:SHOW]))


def _fmt(ts: pd.Timestamp) -> str:
    if ts.hour == ts.minute == ts.second == 0:
        return ts.strftime("%Y-%m-%d")
    return ts.strftime("%Y-%m-%d %H:%M:%S")


def check_quality(frame: pd.DataFrame) -> QualityReport:
    """Count the noteworthy bars of a validated candle frame (see :class:`QualityReport`)."""
    volume = frame["volume"].to_numpy(dtype="float64")
    high = frame["high"].to_numpy(dtype="float64")
    low = frame["low"].to_numpy(dtype="float64")
    close = frame["close"].to_numpy(dtype="float64")
    threshold = float("nan")
    extreme = frame.index[:0]
    if len(close) >= 3:
        rets = np.diff(np.log(close))
        scale = 1.4826 * float(np.median(np.abs(rets - np.median(rets))))
        if scale > 0:
            threshold = EXTREME_SCALES * scale
            extreme = frame.index[1:][np.abs(rets) > threshold]
    return QualityReport(
        zero_volume=_finding(frame.index[volume == 0]),
        flat=_finding(frame.index[high == low]),
        extreme_moves=_finding(extreme),
        extreme_threshold=threshold,
    )


def log_quality(report: QualityReport, source: str) -> None:
    """Warn about every kind of finding (one line each)."""
    for line in report.lines():
        logger.warning("%s: %s (kept as they are)", source, line)
