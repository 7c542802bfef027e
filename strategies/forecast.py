"""Strategies that trade a return forecast: :class:`ForecastStrategy` and its persistence twin."""

from __future__ import annotations

import logging
import math

import backtrader as bt
import numpy as np

from lstm_backtrader.strategies.base import RecordingStrategy
from lstm_backtrader.strategies.indicators import LastReturn, SeriesForecast

logger = logging.getLogger(__name__)


class ForecastStrategy(RecordingStrategy):
    """Long when the forecast clears an entry threshold, flat when it falls below an exit one.

    The forecast is a forward log return known at the close of each bar. At that close the
    strategy decides; the market order fills at the next bar's open.

    * ``entry=None`` makes the entry threshold cost-aware: a forecast smaller than the
      round-trip cost ``2 × (fee + slippage)`` is not worth trading.
    * ``allow_short`` mirrors the rule for venues that allow shorting (forecast below
      ``-entry`` opens a short, above ``-exit`` closes it).
    * ``vol_target`` (annualised, e.g. 0.5) scales the position at entry by
      ``min(1, vol_target / realised volatility)`` over the last ``vol_window`` returns; never
      leverages; no entry until ``vol_window`` returns exist.
    * ``stop_loss`` (e.g. 0.1) rests a stop order that far from the entry fill.

    The forecast comes from :meth:`make_forecast`: by default an ``LSTMForecast`` indicator
    built from the ``model`` (fixed) or ``walkforward`` parameters, or a ``forecasts`` Series
    replayed as it is (no TensorFlow needed). Subclasses may override :meth:`make_forecast`.
    """

    params = (
        ("model", None),  # fixed model: a fitted forecaster or a path saved by LSTMForecaster.save
        ("walkforward", None),  # walk-forward mode: a models.walkforward.WalkForward
        ("forecasts", None),  # precomputed forecasts (pd.Series by UTC bar time) to replay
        ("entry", None),  # go long above this forecast; None = round-trip cost
        ("exit", 0.0),  # back to flat below this forecast
        ("allow_short", False),  # mirror the rule on the short side
        ("vol_target", None),  # annualised volatility target, None = always full stake
        ("vol_window", 30),  # bars of realised volatility for vol targeting
        ("periods_per_year", 365),  # bars per year (24/7 market: 365 daily, 8760 hourly)
        ("stop_loss", None),  # stop distance from the entry fill, fraction; None = no stop
    )

    def __init__(self) -> None:
        super().__init__()
        self.forecast = self.make_forecast()
        self._stop_order: bt.Order | None = None

    # --- the forecast ------------------------------------------------------------------------
    def make_forecast(self) -> bt.LineSeries:
        """The forecast line this strategy trades."""
        if self.p.forecasts is not None:
            return SeriesForecast(self.data, series=self.p.forecasts)
        from lstm_backtrader.strategies.lstm import (
            LSTMForecast,  # imports TensorFlow: only when needed
        )

        return LSTMForecast(self.data, model=self.p.model, walkforward=self.p.walkforward)

    @property
    def entry_threshold(self) -> float:
        """The forecast (log return) a new position needs."""
        if self.p.entry is not None:
            return float(self.p.entry)
        return 2.0 * (self.p.fee + self.p.slippage)

    # --- decisions ---------------------------------------------------------------------------
    def decide(self) -> None:
        f = float(self.forecast[0])
        if not math.isfinite(f):
            return
        entry, exit_ = self.entry_threshold, float(self.p.exit)
        pos = float(self.position.size)
        if pos > 0 and f < exit_ or pos < 0 and f > -exit_:
            self._exit()
            pos = 0.0  # the exit fills at the next open: size the new entry from flat
        if pos == 0.0 and (f > entry or self.p.allow_short and f < -entry):
            fraction = self._size_fraction()
            if fraction is not None:
                self.order_target_fraction(fraction if f > entry else -fraction, current=0.0)

    def _size_fraction(self) -> float | None:
        """Full stake, or the vol-targeted share of it (None until volatility is known)."""
        if self.p.vol_target is None:
            return 1.0
        n = int(self.p.vol_window) + 1
        if len(self.data) < n:
            return None
        closes = np.asarray(self.data.close.get(size=n), dtype="float64")
        vol = float(np.std(np.diff(np.log(closes)), ddof=1)) * math.sqrt(self.p.periods_per_year)
        return 1.0 if vol <= 0 else min(1.0, float(self.p.vol_target) / vol)

    # --- stop-loss ---------------------------------------------------------------------------
    def order_update(self, order: bt.Order) -> None:
        # Backtrader notifies clones of orders: compare references, never identities
        stop = self._stop_order
        if stop is not None and order.ref == stop.ref:
            if order.status not in (order.Submitted, order.Accepted):
                self._stop_order = None  # triggered, cancelled or refused: no stop rests
            return
        if order.status not in (order.Completed, order.Partial):
            return
        # an entry filled (in full, or as far as the cash allowed: the rest is cancelled)
        if self.p.stop_loss and self.position.size != 0 and self._stop_order is None:
            price = float(order.executed.price)
            size = abs(float(self.position.size))
            if self.position.size > 0:
                stop_price = price * (1.0 - self.p.stop_loss)
                self._stop_order = self.sell(exectype=bt.Order.Stop, price=stop_price, size=size)
            else:
                stop_price = price * (1.0 + self.p.stop_loss)
                self._stop_order = self.buy(exectype=bt.Order.Stop, price=stop_price, size=size)

    def _exit(self) -> None:
        """Close the position at the next open; the resting stop and the exit are one OCO
        group, so whichever fills first cancels the other — even when the stop was placed
        this very bar and the broker has not accepted it yet (a plain cancel would miss it,
        leave it resting, and a later trigger would sell a position that no longer exists)."""
        stop = self._stop_order
        if stop is not None and stop.alive():
            self.close(oco=stop)
        else:
            self.close()
        self._stop_order = None


class PersistenceSignal(ForecastStrategy):
    """The persistence baseline as a strategy: trades the sign of the last bar's return
    (:class:`~lstm_backtrader.strategies.indicators.LastReturn`) with exactly the rules and costs of
    :class:`ForecastStrategy`, so the LSTM is compared like with like."""

    def make_forecast(self) -> bt.LineSeries:
        return LastReturn(self.data)
