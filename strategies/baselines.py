"""Baseline strategies every report shows beside the LSTM: buy-and-hold and an SMA cross.

(The persistence-signal baseline lives with
:class:`~lstm_backtrader.strategies.forecast.ForecastStrategy`, whose rules it shares.)
"""

from __future__ import annotations

import backtrader as bt

from lstm_backtrader.strategies.base import RecordingStrategy


class BuyAndHold(RecordingStrategy):
    """Buys a full stake at the first bar's close (filled at the next open) and holds."""

    def __init__(self) -> None:
        super().__init__()
        self._bought = False

    def decide(self) -> None:
        if not self._bought:
            self._bought = self.order_target_fraction(1.0) is not None


class SMACross(RecordingStrategy):
    """Long while the fast simple moving average is above the slow one, flat otherwise."""

    params = (
        ("fast", 20),  # bars of the fast SMA
        ("slow", 50),  # bars of the slow SMA
        ("allow_short", False),  # short while fast < slow instead of staying flat
    )

    def __init__(self) -> None:
        super().__init__()
        if self.p.fast >= self.p.slow:
            raise ValueError(f"SMACross: fast ({self.p.fast}) must be below slow ({self.p.slow})")
        fast = bt.ind.SMA(self.data.close, period=self.p.fast)
        slow = bt.ind.SMA(self.data.close, period=self.p.slow)
        self.above = fast > slow

    def decide(self) -> None:
        want = 1.0 if self.above[0] else (-1.0 if self.p.allow_short else 0.0)
        have = 1.0 if self.position.size > 0 else (-1.0 if self.position.size < 0 else 0.0)
        if want != have:
            self.order_target_fraction(want)
