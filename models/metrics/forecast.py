"""Forecast metrics of a return forecast against the realised return of the same bars: RMSE,
MAE, directional accuracy against the always-up rate (exact binomial test), the information
coefficient and the Diebold–Mariano test with the HLN correction; :func:`forecast_metrics`
bundles them with an optional baseline. See :mod:`lstm_backtrader.models.metrics`."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.metrics.arrays import (
    ArrayLike,
    as_1d,
    clean_returns,
    finite_or_none,
    paired,
    require,
)

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- point metrics


def rmse(forecast: ArrayLike, realised: ArrayLike) -> float:
    """Root mean squared error ``sqrt(mean((forecast - realised)**2))``.

    Parameters
    ----------
    forecast, realised
        Forecast and realised values of the same bars (arrays or Series of equal length).

    Returns
    -------
    float
        The RMSE over the bars where neither side is NaN.
    """
    f, y = paired((forecast, "forecast"), (realised, "realised"))
    require(len(f), 1, "rmse")
    return float(np.sqrt(np.mean((f - y) ** 2)))


def mae(forecast: ArrayLike, realised: ArrayLike) -> float:
    """Mean absolute error ``mean(|forecast - realised|)`` over the non-NaN pairs."""
    f, y = paired((forecast, "forecast"), (realised, "realised"))
    require(len(f), 1, "mae")
    return float(np.mean(np.abs(f - y)))


def directional_accuracy(forecast: ArrayLike, realised: ArrayLike) -> float:
    """Share of bars where the forecast has the sign of the realised return.

    ``mean(sign(forecast) == sign(realised))`` with NumPy's ``sign`` (``sign(0) == 0``).

    Zero handling (deliberate): a forecast of exactly 0 is *no call*. It is still counted in the
    denominator and scores as a hit only when the realised return is also exactly 0. Hence the
    persistence baseline (all zeros) scores the share of exactly-flat bars (about 0), not 50%:
    making no call earns no credit. Symmetrically, a non-zero forecast on an exactly-flat bar is a
    miss. An "always up" forecast (+1 on every bar) therefore scores exactly
    :func:`always_up_rate`, which is the benchmark :func:`directional_test` uses.

    Parameters
    ----------
    forecast, realised
        Forecast and realised returns of the same bars.

    Returns
    -------
    float
        Directional accuracy in [0, 1].
    """
    f, y = paired((forecast, "forecast"), (realised, "realised"))
    require(len(f), 1, "directional_accuracy")
    return float(np.mean(np.sign(f) == np.sign(y)))


def always_up_rate(realised: ArrayLike) -> float:
    """Share of realised returns strictly greater than 0 (NaN dropped; flat bars count as not up).

    This is the directional accuracy of a forecaster that always calls "up", the benchmark a
    direction forecast must beat in a rising market (not 50%).
    """
    y = clean_returns(realised, 1, "always_up_rate")
    return float(np.mean(y > 0))


@dataclass(frozen=True)
class DirectionalTest:
    """Directional accuracy compared with the always-up rate of the same bars.

    Attributes
    ----------
    accuracy
        :func:`directional_accuracy` of the forecast.
    always_up_rate
        :func:`always_up_rate` of the same bars.
    n
        Number of bars scored.
    p_value
        Exact one-sided binomial p-value of ``accuracy * n`` correct calls or more when each call
        is right with probability ``always_up_rate`` (H1: the forecast beats always-up).
    """

    accuracy: float
    always_up_rate: float
    n: int
    p_value: float

    @property
    def n_correct(self) -> int:
        """Number of correct calls."""
        return round(self.accuracy * self.n)

    @property
    def edge(self) -> float:
        """Accuracy minus the always-up rate (positive = better than always calling "up")."""
        return self.accuracy - self.always_up_rate


def directional_test(forecast: ArrayLike, realised: ArrayLike) -> DirectionalTest:
    """Exact binomial test of directional accuracy against the always-up rate (not 50%).

    The number of correct calls ``k`` out of ``n`` bars is tested with
    ``scipy.stats.binomtest(k, n, p=always_up_rate, alternative="greater")``, where
    ``always_up_rate`` is the share of up bars in the same sample. The benchmark rate is estimated
    from the sample itself, so the test is a practical screen rather than an exact test of a fixed
    null; it is conservative compared with testing against 0.5 whenever the market mostly rose.
    Zeros are treated as in :func:`directional_accuracy`.

    Returns
    -------
    DirectionalTest
    """
    f, y = paired((forecast, "forecast"), (realised, "realised"))
    require(len(f), 1, "directional_test")
    n = len(f)
    k = int(np.sum(np.sign(f) == np.sign(y)))
    up = float(np.mean(y > 0))
    p = float(stats.binomtest(k, n, p=up, alternative="greater").pvalue)
    return DirectionalTest(accuracy=k / n, always_up_rate=up, n=n, p_value=p)


@dataclass(frozen=True)
class InformationCoefficient:
    """Spearman rank correlation of forecast and realised return.

    Attributes
    ----------
    ic
        Spearman's rho in [-1, 1]; NaN when either side is constant (e.g. the all-zero
        persistence forecast), since ranks then carry no information.
    p_value
        Two-sided p-value of ``scipy.stats.spearmanr`` (H0: no rank correlation); NaN when
        ``ic`` is NaN.
    n
        Number of bars used.
    """

    ic: float
    p_value: float
    n: int


def information_coefficient(forecast: ArrayLike, realised: ArrayLike) -> InformationCoefficient:
    """Information coefficient: Spearman rank correlation with its p-value.

    A dataclass (``ic``, ``p_value``, ``n``) is returned rather than a bare float so a report
    can show whether the IC is distinguishable from 0. Needs at least 3 bars. If either side is
    constant the IC is undefined and NaN is returned (no SciPy warning).

    Returns
    -------
    InformationCoefficient
    """
    f, y = paired((forecast, "forecast"), (realised, "realised"))
    require(len(f), 3, "information_coefficient")
    if np.ptp(f) == 0 or np.ptp(y) == 0:
        logger.debug("information_coefficient: constant input, IC undefined")
        return InformationCoefficient(ic=math.nan, p_value=math.nan, n=len(f))
    res = stats.spearmanr(f, y)
    return InformationCoefficient(ic=float(res.statistic), p_value=float(res.pvalue), n=len(f))


# --------------------------------------------------------------------------- Diebold–Mariano


@dataclass(frozen=True)
class DMTest:
    """Result of :func:`diebold_mariano`.

    Attributes
    ----------
    statistic
        HLN-corrected DM statistic. Negative means the model's loss is smaller than the base's.
    p_value
        p-value from Student t with ``n - 1`` degrees of freedom for the chosen alternative.
    n
        Number of loss differentials used.
    h
        Forecast horizon (autocovariances up to lag ``h - 1`` enter the variance).
    mean_loss_diff
        Mean of ``d_t = L(e_model,t) - L(e_base,t)``.
    loss
        ``"squared"`` or ``"absolute"`` (:func:`diebold_mariano`), or the name given to
        :func:`diebold_mariano_losses`.
    alternative
        ``"two-sided"``, ``"less"`` (model better) or ``"greater"`` (model worse).
    """

    statistic: float
    p_value: float
    n: int
    h: int
    mean_loss_diff: float
    loss: str = "squared"
    alternative: str = "two-sided"


def diebold_mariano(
    e_model: ArrayLike,
    e_base: ArrayLike,
    h: int = 1,
    loss: Literal["squared", "absolute"] = "squared",
    alternative: Literal["two-sided", "less", "greater"] = "two-sided",
) -> DMTest:
    """Diebold–Mariano test of equal predictive accuracy with the HLN correction.

    With loss differential ``d_t = L(e_model,t) - L(e_base,t)`` ([DM95]_), ``T`` pairs and
    autocovariances ``γ̂_k = (1/T) Σ_{t=k+1..T} (d_t - d̄)(d_{t-k} - d̄)``::

        DM  = d̄ / sqrt( (γ̂_0 + 2 Σ_{k=1}^{h-1} γ̂_k) / T )
        DM* = DM · sqrt( (T + 1 - 2h + h(h - 1)/T) / T )          # [HLN97]_

    and the p-value comes from Student t with ``T - 1`` degrees of freedom. For ``h = 1`` DM*
    equals the one-sample t statistic of ``d``.

    Parameters
    ----------
    e_model, e_base
        Forecast errors (realised − forecast) of the model and of the base forecast on the same
        bars. Pairs with a NaN on either side are dropped.
    h
        Forecast horizon in bars (>= 1).
    loss
        ``"squared"`` (MSE, default) or ``"absolute"`` (MAE).
    alternative
        ``"two-sided"`` (default); ``"less"``: H1 the model has the smaller expected loss;
        ``"greater"``: H1 the model has the larger expected loss.

    Returns
    -------
    DMTest

    Notes
    -----
    Degenerate cases (documented decisions):

    * ``d`` identically 0 (identical losses): statistic 0.0 and p-value 1.0 whatever the
      alternative; there is no evidence either way.
    * ``d`` constant but non-zero: zero variance, statistic ``±inf`` and p-value 0 or 1.
    * If the long-run variance with ``h > 1`` is not positive (the rectangular window can
      produce that), it falls back to ``γ̂_0`` alone, with a warning in the log.
    """
    if not isinstance(h, int | np.integer) or h < 1:
        raise InputError(f"h must be an integer >= 1, got {h!r}")
    if loss not in ("squared", "absolute"):
        raise InputError(f"loss must be 'squared' or 'absolute', got {loss!r}")
    if alternative not in ("two-sided", "less", "greater"):
        raise InputError(
            f"alternative must be 'two-sided', 'less' or 'greater', got {alternative!r}"
        )
    em, eb = paired((e_model, "e_model"), (e_base, "e_base"))
    d = em**2 - eb**2 if loss == "squared" else np.abs(em) - np.abs(eb)
    return _dm_of_differential(d, int(h), loss, alternative)


def diebold_mariano_losses(
    loss_model: ArrayLike,
    loss_base: ArrayLike,
    h: int = 1,
    alternative: Literal["two-sided", "less", "greater"] = "two-sided",
    loss: str = "custom",
) -> DMTest:
    """:func:`diebold_mariano` (with the HLN correction) of any per-bar losses: the loss
    differential is ``d_t = loss_model[t] - loss_base[t]`` (e.g. log loss, Brier score, QLIKE).

    Parameters
    ----------
    loss_model, loss_base
        Per-bar losses of the model and of the base forecast on the same bars (pairs with a
        NaN dropped).
    h, alternative
        As for :func:`diebold_mariano`.
    loss
        The loss's name, recorded in :attr:`DMTest.loss`.
    """
    if not isinstance(h, int | np.integer) or h < 1:
        raise InputError(f"h must be an integer >= 1, got {h!r}")
    if alternative not in ("two-sided", "less", "greater"):
        raise InputError(
            f"alternative must be 'two-sided', 'less' or 'greater', got {alternative!r}"
        )
    lm, lb = paired((loss_model, "loss_model"), (loss_base, "loss_base"))
    return _dm_of_differential(lm - lb, int(h), loss, alternative)


def _dm_of_differential(d: np.ndarray, h: int, loss: str, alternative: str) -> DMTest:
    """The DM statistic with the HLN correction of the loss differential ``d``."""
    t_len = len(d)
    require(t_len, max(3, h + 1), f"diebold_mariano(h={h})")
    hln = (t_len + 1 - 2 * h + h * (h - 1) / t_len) / t_len
    if hln <= 0:
        raise InputError(f"diebold_mariano: T={t_len} is too short for horizon h={h}")
    d_bar = float(np.mean(d))
    result = {
        "n": t_len,
        "h": int(h),
        "mean_loss_diff": d_bar,
        "loss": loss,
        "alternative": alternative,
    }

    if np.all(d == 0):
        logger.info("diebold_mariano: identical losses on all %d bars, no evidence", t_len)
        return DMTest(statistic=0.0, p_value=1.0, **result)

    dc = d - d_bar
    gammas = [float(np.dot(dc[k:], dc[: t_len - k]) / t_len) for k in range(h)]
    long_run = gammas[0] + 2.0 * sum(gammas[1:])
    if long_run <= 0 and h > 1:
        logger.warning(
            "diebold_mariano: long-run variance %.3g <= 0 with h=%d, using gamma_0 only",
            long_run,
            h,
        )
        long_run = gammas[0]
    if long_run <= 0:
        stat = math.copysign(math.inf, d_bar) if d_bar != 0 else 0.0
    else:
        stat = d_bar / math.sqrt(long_run / t_len) * math.sqrt(hln)
    dist = stats.t(df=t_len - 1)
    if alternative == "two-sided":
        p = 2.0 * float(dist.sf(abs(stat)))
    elif alternative == "less":
        p = float(dist.cdf(stat))
    else:
        p = float(dist.sf(stat))
    return DMTest(statistic=float(stat), p_value=min(p, 1.0), **result)


# --------------------------------------------------------------------------- bundle


def _safe_ratio(num: float, den: float) -> float:
    """``num / den``; ``inf`` when only ``den`` is 0 and NaN when both are."""
    if den > 0:
        return num / den
    return math.nan if num == 0 else math.inf


@dataclass(frozen=True)
class ForecastMetrics:
    """Forecast quality of a model, optionally against a baseline forecast.

    Attributes
    ----------
    n
        Bars scored (after dropping bars with a NaN in forecast, realised or baseline).
    rmse, mae
        Errors of the model forecast.
    directional
        :class:`DirectionalTest` against the always-up rate.
    ic
        :class:`InformationCoefficient`.
    baseline_rmse, baseline_mae
        Errors of the baseline forecast (``None`` without a baseline).
    rmse_ratio
        ``rmse / baseline_rmse``; below 1 means the model beats the baseline (``None`` without a
        baseline; ``inf`` when only the baseline is perfect, NaN when both are).
    dm_vs_baseline
        :class:`DMTest` of model errors against baseline errors (``None`` without a baseline).
    """

    n: int
    rmse: float
    mae: float
    directional: DirectionalTest
    ic: InformationCoefficient
    baseline_rmse: float | None = None
    baseline_mae: float | None = None
    rmse_ratio: float | None = None
    dm_vs_baseline: DMTest | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict for JSON; non-finite floats (NaN, inf) become ``None``."""
        return finite_or_none(dataclasses.asdict(self))


def forecast_metrics(
    forecast: ArrayLike,
    realised: ArrayLike,
    baseline: ArrayLike | float | None = None,
    *,
    h: int = 1,
    loss: Literal["squared", "absolute"] = "squared",
    alternative: Literal["two-sided", "less", "greater"] = "two-sided",
) -> ForecastMetrics:
    """All forecast metrics of a return forecast, with an optional baseline.

    Parameters
    ----------
    forecast, realised
        Forecast and realised returns of the same bars.
    baseline
        Optional baseline forecast of the same bars, or a scalar used on every bar (``0.0`` is
        the persistence forecast of returns). Bars where the baseline is NaN are dropped from
        *every* metric so model and baseline are scored on the same bars.
    h, loss, alternative
        Passed to :func:`diebold_mariano` for the model-vs-baseline test.

    Returns
    -------
    ForecastMetrics
    """
    if baseline is None:
        f, y = paired((forecast, "forecast"), (realised, "realised"))
        b = None
    else:
        if np.ndim(baseline) == 0 and not isinstance(baseline, pd.Series):
            n_raw = len(as_1d(forecast, "forecast"))
            baseline = np.full(n_raw, float(baseline))  # type: ignore[arg-type]
            if isinstance(forecast, pd.Series):
                baseline = pd.Series(baseline, index=forecast.index)
        f, y, b = paired((forecast, "forecast"), (realised, "realised"), (baseline, "baseline"))
    require(len(f), 3, "forecast_metrics")
    out: dict[str, Any] = {
        "n": len(f),
        "rmse": rmse(f, y),
        "mae": mae(f, y),
        "directional": directional_test(f, y),
        "ic": information_coefficient(f, y),
    }
    if b is not None:
        b_rmse = rmse(b, y)
        ratio = _safe_ratio(out["rmse"], b_rmse)
        out.update(
            baseline_rmse=b_rmse,
            baseline_mae=mae(b, y),
            rmse_ratio=ratio,
            dm_vs_baseline=diebold_mariano(y - f, y - b, h=h, loss=loss, alternative=alternative),
        )
    return ForecastMetrics(**out)
