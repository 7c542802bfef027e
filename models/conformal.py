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


class ConformalState:
    """The rolling conformal computation one bar at a time, so a bar-by-bar consumer (the
    ``LSTMForecast`` indicator in ``next()``) and :func:`conformal_intervals` share it.

    Per bar t: :meth:`push` when the bar starts, with the realised target of bar ``t - h``
    (known at t's close: NaN when unknown); then :meth:`interval` with bar t's forecast, as
    often as the forecast changes (a replayed bar's ticks), which returns the interval. Only
    the scores of bars ``s <= t - h`` are ever used; memory is bounded by ``window + h``.
    """

    def __init__(self, spec: IntervalSpec, horizon: int) -> None:
        self.spec = spec
        self.horizon = int(horizon)
        self.alpha = 1.0 - spec.level
        self._a = self.alpha  # the ACI level now
        self._window: deque[float] = deque()
        self._ordered: list[float] = []  # the window's scores, sorted
        #: (forecast, lower, upper, alpha_t) of the last h bars, oldest first
        self._pending: deque[tuple[float, float, float, float]] = deque()

    def push(self, realised_past: float) -> None:
        """A new bar t starts; ``realised_past`` is the realised target of bar ``t - h``."""
        if len(self._pending) == self.horizon:
            f, lo, up, a_s = self._pending.popleft()
            self._score(f, lo, up, a_s, float(realised_past))
        self._pending.append((math.nan, math.nan, math.nan, math.nan))

    def _score(self, f: float, lo: float, up: float, a_s: float, y: float) -> None:
        if not (math.isfinite(f) and math.isfinite(y)):
            return
        score = abs(y - f)
        self._window.append(score)
        bisect.insort(self._ordered, score)
        if len(self._window) > self.spec.window:
            self._ordered.pop(bisect.bisect_left(self._ordered, self._window.popleft()))
        if self.spec.method == "aci" and math.isfinite(lo):
            miss = not lo <= y <= up and a_s > 0
            self._a += self.spec.gamma * (self.alpha - float(miss))

    def interval(self, forecast: float) -> tuple[float, float]:
        """The interval of the current bar's ``forecast`` (NaN, NaN without a forecast or
        enough scores); the bar's record is replaced by the latest call."""
        f = float(forecast)
        lo = up = a_t = math.nan
        m = len(self._ordered)
        if math.isfinite(f) and math.ceil((m + 1) * (1 - self.alpha)) <= m:
            a = self._a if self.spec.method == "aci" else self.alpha
            k = math.ceil((m + 1) * (1 - a))
            q = self._ordered[min(max(k, 1), m) - 1]
            lo, up, a_t = f - q, f + q, self._a
        self._pending[-1] = (f, lo, up, a_t)
        return lo, up


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
    h = int(horizon)
    state = ConformalState(spec, h)
    for t in range(n):
        state.push(y[t - h] if t >= h else math.nan)
        lower[t], upper[t] = state.interval(f[t])
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
