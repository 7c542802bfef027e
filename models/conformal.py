"""Conformal prediction intervals from past out-of-sample residuals only.

Two methods over the walk-forward's forecasts ``f`` and realised targets ``y`` (scores
``|y[s] - f[s]|``):

* ``'split'`` - rolling split conformal: the interval at bar t is ``f[t] ± q``, ``q`` the
  ``ceil((m + 1) * level)``-th smallest of the last ``window`` scores known at t (``m`` of
  them): the finite-sample conformal quantile. Until ``ceil((m + 1) * level) <= m`` there is
  no interval (NaN).
* ``'aci'`` - adaptive conformal inference (Gibbs & Candès 2021): the same quantile at the
  level ``1 - alpha_t``, where ``alpha_{t+1} = alpha_t + gamma * (alpha - err_t)`` and
  ``err_t`` = 1 when the interval missed ``y``. With horizon h the miss of bar s is known at
  bar s + h, so the update is delayed by h bars. ``alpha_t <= 0`` (theoretically the whole
  line) reports the widest score and counts as covering; ``alpha_t >= 1`` (the empty set)
  reports the narrowest score and counts as a miss when it misses.

No look-ahead: the score of bar s needs ``y[s]``, a target over bars s+1..s+h, fully realised
at the close of s + h, so the interval at bar t uses only scores of bars ``s <= t - h``
(tested by truncation: changing every bar after T leaves every interval up to T unchanged).
For target ``'return'`` the interval is on the forward log return, for ``'volatility'`` on
the log volatility; a ``'direction'`` probability gets no interval (its outcome is 0/1: the
columns are NaN).
"""

from __future__ import annotations

import bisect
import logging
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

#: Interval methods of :class:`IntervalSpec`.
METHODS: tuple[str, ...] = ("split", "aci")


@dataclass(frozen=True)
class IntervalSpec:
    """Settings of the walk-forward's conformal intervals (``WalkForward(intervals=...)``).

    Attributes
    ----------
    level
        Nominal coverage in (0, 1), e.g. 0.9; 0 turns intervals off (the default).
    window
        Scores (past out-of-sample absolute residuals) in the rolling window (>= 2).
    method
        ``'split'`` (rolling split conformal) or ``'aci'`` (adaptive conformal inference).
    gamma
        ACI step size (> 0; used by ``'aci'`` only).
    """

    level: float = 0.0
    window: int = 250
    method: str = "split"
    gamma: float = 0.005

    def __post_init__(self) -> None:
        level = self.level
        if (
            isinstance(level, bool)
            or not isinstance(level, int | float)
            or not (level == 0 or 0 < level < 1)
        ):
            raise InputError(f"interval level is {level!r}: use 0 (off) or 0 < level < 1")
        object.__setattr__(self, "level", float(level))
        w = self.window
        if not isinstance(w, int) or isinstance(w, bool) or w < 2:
            raise InputError(f"interval window is {w!r}: use an integer >= 2")
        if self.method not in METHODS:
            raise InputError(f"interval method is {self.method!r}: use one of {', '.join(METHODS)}")
        g = self.gamma
        if isinstance(g, bool) or not isinstance(g, int | float) or not 0 < g < 1:
            raise InputError(f"interval gamma is {g!r}: use 0 < gamma < 1")
        object.__setattr__(self, "gamma", float(g))

    @property
    def on(self) -> bool:
        """Whether intervals are computed."""
        return self.level > 0


def conformal_intervals(
    forecast: np.ndarray, realised: np.ndarray, horizon: int, spec: IntervalSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar ``lower``, ``upper`` from the scores of bars ``s <= t - horizon``.

    Parameters
    ----------
    forecast, realised
        Out-of-sample forecasts and realised targets per bar (NaN where unknown).
    horizon
        Bars until a target is realised (the walk-forward's ``h``; a smaller value leaks).
    spec
        The interval settings (``spec.level`` > 0).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Lower and upper bounds (NaN without a forecast or enough scores).
    """
    f = np.asarray(forecast, dtype="float64")
    y = np.asarray(realised, dtype="float64")
    n = len(f)
    lower = np.full(n, np.nan)
    upper = np.full(n, np.nan)
    if not spec.on:
        return lower, upper
    alpha = 1.0 - spec.level
    alpha_t = np.full(n, np.nan)  # the ACI level each interval was made with
    a = alpha
    window: deque[float] = deque()
    ordered: list[float] = []  # the window's scores, sorted
    for t in range(n):
        s = t - int(horizon)
        if s >= 0 and math.isfinite(f[s]) and math.isfinite(y[s]):
            score = abs(y[s] - f[s])
            window.append(score)
            bisect.insort(ordered, score)
            if len(window) > spec.window:
                ordered.pop(bisect.bisect_left(ordered, window.popleft()))
            if spec.method == "aci" and math.isfinite(lower[s]):
                miss = not lower[s] <= y[s] <= upper[s] and alpha_t[s] > 0
                a += spec.gamma * (alpha - float(miss))
        if not math.isfinite(f[t]):
            continue
        m = len(ordered)
        if math.ceil((m + 1) * (1 - alpha)) > m:
            continue  # too few scores for the nominal level
        k = math.ceil((m + 1) * (1 - (a if spec.method == "aci" else alpha)))
        q = ordered[min(max(k, 1), m) - 1]
        lower[t], upper[t] = f[t] - q, f[t] + q
        alpha_t[t] = a
    return lower, upper


def _known(lower: np.ndarray, upper: np.ndarray, realised: np.ndarray) -> np.ndarray:
    return np.isfinite(lower) & np.isfinite(upper) & np.isfinite(realised)


def interval_coverage(lower: np.ndarray, upper: np.ndarray, realised: np.ndarray) -> float:
    """Share of the bars with an interval and a realised target inside the interval (NaN if
    none)."""
    lo, up, y = (np.asarray(a, dtype="float64") for a in (lower, upper, realised))
    ok = _known(lo, up, y)
    if not ok.any():
        return float("nan")
    return float(np.mean((lo[ok] <= y[ok]) & (y[ok] <= up[ok])))


def interval_width(lower: np.ndarray, upper: np.ndarray) -> float:
    """Mean ``upper - lower`` over the bars with an interval (NaN if none)."""
    lo, up = np.asarray(lower, dtype="float64"), np.asarray(upper, dtype="float64")
    ok = np.isfinite(lo) & np.isfinite(up)
    return float(np.mean(up[ok] - lo[ok])) if ok.any() else float("nan")
