"""The conformal intervals of ``LSTMForecast``'s bar-by-bar path (``next()``).

:class:`BarIntervals` keeps what the batched walk-forward computes over the whole frame —
``models.conformal.conformal_intervals`` of the forecasts against the realised targets — one
bar at a time, through the same :class:`~lstm_backtrader.models.conformal.ConformalState`: when
bar t arrives, the realised target of bar ``t - h`` is computed from the last ``h + 2`` bars
the indicator keeps (``models.targets.target_series``, the very function the batched run
uses: a return or a volatility target, with the feed's holes and NaN bars exactly as there),
then the interval of bar t's forecast. No value after bar t is ever read.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from lstm_backtrader.models.conformal import ConformalState, IntervalSpec
from lstm_backtrader.models.targets import target_series

logger = logging.getLogger(__name__)


class BarIntervals:
    """Bar-by-bar conformal intervals for a forecaster ``config`` with ``spec`` on.

    Call :meth:`new_bar` once per new bar (before its forecast is known) with the indicator's
    bar tail, then :meth:`interval` with the bar's forecast (again on each tick of a replayed
    bar: the latest call counts)."""

    def __init__(self, config: Any, spec: IntervalSpec) -> None:
        self.config = config
        self.horizon = int(config.horizon)
        self._state = ConformalState(spec, self.horizon)

    @property
    def bars_needed(self) -> int:
        """Bars the tail must hold: bar ``t - h``, the one before it, and the h after."""
        return self.horizon + 2

    def new_bar(self, tail: Any) -> None:
        """Bar t (the tail's last bar) arrived: score bar ``t - h`` with its realised target."""
        n = min(len(tail), self.bars_needed)
        pos = n - 1 - self.horizon  # bar t - h within the last n bars
        realised = math.nan
        if pos >= 0:
            realised = float(target_series(tail.frame(n), self.config).iloc[pos])
        self._state.push(realised)

    def interval(self, forecast: float) -> tuple[float, float]:
        """``(lower, upper)`` of bar t's ``forecast`` (NaN, NaN while unknown)."""
        return self._state.interval(forecast)


__all__ = ["BarIntervals"]
