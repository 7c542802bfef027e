"""Resident memory of this process, sampled after every walk-forward fold (Linux).

* :func:`rss_mb`: the current resident set (``VmRSS`` of ``/proc/self/status``);
* :func:`peak_rss_mb`: the largest resident set so far (``resource.getrusage`` ``ru_maxrss``,
  the same high-water mark as ``VmHWM``), which catches peaks inside a fold that a sample
  after the fold misses;
* :class:`FoldRSS`: a ``WalkForward(progress=...)`` callback recording the RSS after each fold.

Elsewhere than Linux the ``/proc`` figures are NaN and ``ru_maxrss`` (bytes on macOS) is
converted.
"""

from __future__ import annotations

import math
import resource
import sys
from typing import Any


def _status_mb(field: str) -> float:
    """A ``kB`` field of ``/proc/self/status`` in MiB (NaN where there is no such file)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def rss_mb() -> float:
    """The current resident set size of this process, MiB (``VmRSS``)."""
    return _status_mb("VmRSS")


def hwm_mb() -> float:
    """The peak resident set size of this process, MiB, from ``/proc`` (``VmHWM``)."""
    return _status_mb("VmHWM")


def peak_rss_mb() -> float:
    """The peak resident set size of this process so far, MiB (``ru_maxrss``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


class FoldRSS:
    """Progress callback of :class:`WalkForward`: ``rss[fold]`` after each fold, MiB.

    ``then`` (optional) is another progress callback called first.
    """

    def __init__(self, then: Any = None) -> None:
        self.then = then
        self.rss: dict[int, float] = {}
        self.start = math.nan

    def __call__(self, fold: int, n_folds: int, row: dict[str, Any]) -> None:
        if self.then is not None:
            self.then(fold, n_folds, row)
        if fold < 0:
            self.start = rss_mb()
        else:
            self.rss[fold] = rss_mb()

    def after(self, fold: int) -> float:
        """RSS after ``fold`` (0-based; negative counts from the end), NaN if not recorded."""
        folds = sorted(self.rss)
        if not folds:
            return math.nan
        if fold < 0:
            fold = folds[fold] if -fold <= len(folds) else folds[0]
        return self.rss.get(fold, math.nan)

    def growth(self, early: int = 10) -> tuple[int, int, float]:
        """``(early fold, last fold, RSS after the last - RSS after the early one)``, MiB.

        ``early`` is capped to the middle of the run when the run has fewer folds.
        """
        folds = sorted(self.rss)
        if not folds:
            return -1, -1, math.nan
        first = min(early, folds[len(folds) // 2])
        return first, folds[-1], self.rss[folds[-1]] - self.rss[first]

    def sampled(self, n: int = 8) -> list[tuple[int, float]]:
        """About ``n`` ``(fold, RSS)`` pairs spread over the run (first and last included)."""
        folds = sorted(self.rss)
        if len(folds) <= n:
            picks = folds
        else:
            picks = sorted({folds[round(i * (len(folds) - 1) / (n - 1))] for i in range(n)})
        return [(f, self.rss[f]) for f in picks]
