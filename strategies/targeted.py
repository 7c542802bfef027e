"""Strategies that trade the non-return targets: volatility targeting and probability gating.

* :class:`VolTargetStrategy` holds ``exposure = target_vol / forecast_vol`` (both annualised),
  capped at ``max_leverage``, and rebalances only when the target exposure leaves a no-trade
  band around the exposure held. Its volatility forecast is ``LSTMForecast``'s ``vol`` line
  (the LSTM), a precomputed per-bar series (the EWMA/HAR/GARCH baselines' walk-forward
  forecasts) or a constant (a fixed leverage: what the strategy earns without any forecast).
* :class:`ProbabilityGate` is long only while the probability of "up after costs" (a
  direction model's ``prob`` line: its ``direction_threshold`` is the round-trip cost in a
  backtest) exceeds ``threshold``, sized by the Kelly fraction of an even-odds bet
  ``2p - 1``, scaled by ``kelly_multiplier`` and capped at ``max_fraction`` (entered as soon
  as the gate opens; resized only outside the no-trade band).
* :class:`IntervalGate` is long only while the conformal interval of the forward return lies
  above zero (``lower > 0``), sized by the Kelly fraction ``mu / sigma**2`` of the forecast
  ``mu`` and a predictive variance from the interval's width (plus the ensemble's or MC
  dropout's spread, when there is one), scaled and capped like the probability gate.

Both decide at bar t's close from values known then and send market orders that fill at bar
t+1's open (:class:`~lstm_backtrader.strategies.base.RecordingStrategy`); sizes are fractional
(``order_target_fraction``: exposure 1.0 is ``stake`` of equity).
"""

from __future__ import annotations

import logging
import math
from statistics import NormalDist

import backtrader as bt

from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.strategies.base import RecordingStrategy
from lstm_backtrader.strategies.indicators import SeriesForecast

logger = logging.getLogger(__name__)


class _TargetForecastStrategy(RecordingStrategy):
    """Shared: the forecast line (LSTM indicator, or a replayed series) and band rebalancing."""

    params = (
        ("model", None),  # fixed model: a fitted forecaster or a saved model path
        ("walkforward", None),  # walk-forward mode: a models.walkforward.WalkForward
        ("forecasts", None),  # precomputed forecasts (pd.Series by UTC bar time) to replay
        ("band", 0.1),  # no-trade band: rebalance only when |target - held| exposure > band
    )

    #: ``LSTMForecast``'s line this strategy reads.
    line_name = "forecast"

    def __init__(self) -> None:
        super().__init__()
        if not self.p.band >= 0:
            raise InputError(f"{type(self).__name__} band is {self.p.band!r}: use band >= 0")
        self.forecast = None if self.without_forecast() else self.make_forecast()

    def without_forecast(self) -> bool:
        """Whether this strategy runs on no forecast at all (a constant instead)."""
        return False

    def make_forecast(self) -> bt.LineSeries:
        """The line traded: a replayed ``forecasts`` series, or the LSTM's :attr:`line_name`."""
        if self.p.forecasts is not None:
            return SeriesForecast(self.data, series=self.p.forecasts).forecast
        from lstm_backtrader.strategies.lstm import LSTMForecast  # imports TensorFlow

        ind = LSTMForecast(self.data, model=self.p.model, walkforward=self.p.walkforward)
        self.indicator = ind
        return getattr(ind, self.line_name)

    def held_exposure(self) -> float:
        """The position's value at this close as a share of ``stake`` × equity."""
        value = float(self.broker.getvalue())
        price = float(self.data.close[0])
        if value <= 0 or not math.isfinite(price):
            return 0.0
        return float(self.position.size) * price / (self.p.stake * value)

    def rebalance(self, target: float) -> None:
        """Move to exposure ``target`` when it is outside the band around the held exposure
        (always when it is 0 and a position is held: the exit is never skipped)."""
        held = self.held_exposure()
        if target == 0.0 and self.position.size != 0:
            self.close()
        elif abs(target - held) > float(self.p.band):
            self.order_target_fraction(target)


class VolTargetStrategy(_TargetForecastStrategy):
    """Volatility targeting: exposure ``min(max_leverage, target_vol / forecast_vol)``.

    ``forecast_vol`` is the per-``horizon``-bars volatility forecast (a fraction: the ``vol``
    line of a volatility ``LSTMForecast``, or the ``forecasts`` series in the same units, or
    ``constant_vol``), annualised with ``sqrt(periods_per_year / horizon)``. Exposure above 1
    needs a margin account: the spot broker here fills a buy only as far as the cash allows.
    """

    params = (
        ("target_vol", 0.5),  # annualised volatility target
        ("max_leverage", 1.0),  # exposure cap (1.0: never borrow)
        ("constant_vol", None),  # annualised volatility used on every bar instead of a forecast
        ("horizon", 1),  # bars the volatility forecast covers
        ("periods_per_year", 365),  # bars per year (24/7 market: 365 daily, 8760 hourly)
    )
    line_name = "vol"

    def __init__(self) -> None:
        for name in ("target_vol", "max_leverage"):
            value = getattr(self.p, name)
            if not (isinstance(value, int | float) and value > 0 and math.isfinite(value)):
                raise InputError(f"VolTargetStrategy {name} is {value!r}: use a positive number")
        if self.p.constant_vol is not None and not self.p.constant_vol > 0:
            raise InputError(
                f"VolTargetStrategy constant_vol is {self.p.constant_vol!r}: use a positive "
                "annualised volatility or leave it out"
            )
        super().__init__()

    def without_forecast(self) -> bool:
        return self.p.constant_vol is not None

    def annualised_forecast(self) -> float:
        """The forecast volatility at this close, annualised (NaN when unknown)."""
        if self.p.constant_vol is not None:
            return float(self.p.constant_vol)
        vol = float(self.forecast[0])
        return vol * math.sqrt(float(self.p.periods_per_year) / int(self.p.horizon))

    def target_exposure(self) -> float | None:
        """``min(max_leverage, target_vol / forecast)``; ``None`` while there is no forecast."""
        vol = self.annualised_forecast()
        if not (math.isfinite(vol) and vol > 0):
            return None
        return min(float(self.p.max_leverage), float(self.p.target_vol) / vol)

    def decide(self) -> None:
        target = self.target_exposure()
        if target is not None:
            self.rebalance(target)


class _Gate(_TargetForecastStrategy):
    """Shared by the gates: enter as soon as the gate opens (however small the size), resize
    only outside the no-trade band, exit when it closes; hold while the signal is unknown."""

    def target_exposure(self) -> float | None:
        raise NotImplementedError

    def decide(self) -> None:
        target = self.target_exposure()
        if target is None:
            return
        if target > 0.0 and self.position.size == 0:
            self.order_target_fraction(target)  # the gate opened: enter, however small
        else:
            self.rebalance(target)


class ProbabilityGate(_Gate):
    """Long while ``P(up after costs) > threshold``, at ``min(max_fraction, kelly_multiplier
    × (2p - 1))``; flat otherwise.

    ``2p - 1`` is the Kelly fraction of a bet that wins or loses the same amount with
    probability ``p``: a coarse sizing for a probability of "the next h bars beat the
    round-trip cost" (the direction model's ``prob`` line, or ``forecasts`` in [0, 1]).
    """

    params = (
        ("threshold", 0.5),  # probability a long needs
        ("kelly_multiplier", 1.0),  # share of the Kelly fraction (0.5: half Kelly)
        ("max_fraction", 1.0),  # cap of the exposure
    )
    line_name = "prob"

    def __init__(self) -> None:
        if not 0.0 <= float(self.p.threshold) < 1.0:
            raise InputError(
                f"ProbabilityGate threshold is {self.p.threshold!r}: use 0 <= threshold < 1"
            )
        for name in ("kelly_multiplier", "max_fraction"):
            if not getattr(self.p, name) > 0:
                raise InputError(
                    f"ProbabilityGate {name} is {getattr(self.p, name)!r}: use a positive number"
                )
        super().__init__()

    def target_exposure(self) -> float | None:
        """The exposure for this close's probability (``None`` while it is unknown)."""
        p = float(self.forecast[0])
        if not math.isfinite(p):
            return None
        if p <= float(self.p.threshold):
            return 0.0
        kelly = float(self.p.kelly_multiplier) * (2.0 * p - 1.0)
        return max(0.0, min(float(self.p.max_fraction), kelly))


class IntervalGate(_Gate):
    """Long while the interval of the forward return excludes zero from above; flat otherwise.

    At bar t's close, with the return forecast ``mu`` (``log(close[t+h] / close[t])``), its
    conformal interval ``[lower, upper]`` at the nominal ``level`` and, when the forecast
    comes from an ensemble or MC dropout, its ``spread`` (the members' standard deviation):

    * ``lower <= 0`` (zero inside the interval, or the interval below it): exposure 0;
    * ``lower > 0``: exposure ``min(max_fraction, kelly_multiplier * mu / sigma**2)``, where
      ``sigma**2 = (half_width / z)**2 + spread**2``, ``z`` the standard normal quantile of
      ``(1 + level) / 2``: the interval's width read as a normal predictive spread of the
      return (what the past out-of-sample errors say), plus the model's own disagreement.
      ``mu / sigma**2`` is the Kelly (growth-optimal) fraction for small returns. While the
      gate is open ``mu > z * sigma``, so that fraction exceeds ``z / sigma`` — above 1 for any
      horizon whose return spread is below ``z`` (164% at 90%): in practice ``max_fraction``
      (or a small ``kelly_multiplier``) sets the size; the gate itself is the signal.

    Nothing is traded while the interval is unknown (its first ``window`` bars). The lines come
    from an ``LSTMForecast`` (its ``forecast``, ``lower``, ``upper`` and ``spread``) or, to
    replay precomputed values, from the ``forecasts``, ``lower``, ``upper`` (and ``spread``)
    series indexed by bar time — as the walk-forward's result holds them.
    """

    params = (
        ("lower", None),  # replay: pd.Series of the intervals' lower bounds (with forecasts=)
        ("upper", None),  # replay: pd.Series of the intervals' upper bounds
        ("spread", None),  # replay: pd.Series of the forecast's spread (ensemble / MC dropout)
        ("level", 0.9),  # the intervals' nominal coverage (turns the half-width into a std)
        ("kelly_multiplier", 0.5),  # share of the Kelly fraction (0.5: half Kelly)
        ("max_fraction", 1.0),  # cap of the exposure
    )
    line_name = "forecast"

    def __init__(self) -> None:
        if not 0.0 < float(self.p.level) < 1.0:
            raise InputError(f"IntervalGate level is {self.p.level!r}: use 0 < level < 1")
        for name in ("kelly_multiplier", "max_fraction"):
            if not getattr(self.p, name) > 0:
                raise InputError(
                    f"IntervalGate {name} is {getattr(self.p, name)!r}: use a positive number"
                )
        if self.p.forecasts is not None and (self.p.lower is None or self.p.upper is None):
            raise InputError(
                "IntervalGate replaying forecasts= needs the intervals too: lower= and upper= "
                "series (the walk-forward's lower/upper with [intervals] level > 0)"
            )
        super().__init__()
        self._z = NormalDist().inv_cdf(0.5 + float(self.p.level) / 2.0)
        self.lower, self.upper, self.spread = self._interval_lines()

    def _interval_lines(self) -> tuple[bt.LineSeries, bt.LineSeries, bt.LineSeries | None]:
        if self.p.forecasts is not None:
            spread = self.p.spread
            return (
                SeriesForecast(self.data, series=self.p.lower).forecast,
                SeriesForecast(self.data, series=self.p.upper).forecast,
                None if spread is None else SeriesForecast(self.data, series=spread).forecast,
            )
        ind = self.indicator
        missing = [name for name in ("lower", "upper") if not hasattr(ind.lines, name)]
        if missing:
            raise InputError(f"IntervalGate: the forecast indicator has no {missing} line")
        return ind.lower, ind.upper, getattr(ind.lines, "spread", None)

    def target_exposure(self) -> float | None:
        """The exposure for this close's forecast and interval (``None`` while unknown)."""
        mu, lo, hi = float(self.forecast[0]), float(self.lower[0]), float(self.upper[0])
        if not (math.isfinite(mu) and math.isfinite(lo) and math.isfinite(hi)):
            return None
        if lo <= 0.0:
            return 0.0
        var = ((hi - lo) / (2.0 * self._z)) ** 2
        if self.spread is not None and math.isfinite(float(self.spread[0])):
            var += float(self.spread[0]) ** 2
        if not var > 0.0:
            return float(self.p.max_fraction)  # a zero-width interval above zero: the cap
        kelly = float(self.p.kelly_multiplier) * mu / var
        return max(0.0, min(float(self.p.max_fraction), kelly))


__all__ = ["IntervalGate", "ProbabilityGate", "VolTargetStrategy"]
