"""Forecast-quality and strategy statistics, in plain NumPy/SciPy (no Keras, no backtrader).

Two families live here:

* **Forecast metrics** for a return forecast against the realised return of the same bars:
  RMSE, MAE, directional accuracy judged against the *always-up* rate of those bars (with an exact
  binomial test), the information coefficient (Spearman) and the Diebold–Mariano test with the
  Harvey–Leybourne–Newbold small-sample correction. :func:`forecast_metrics` bundles them, with an
  optional baseline forecast (persistence = 0 for returns).
* **Strategy statistics** on per-bar simple returns: Sharpe ratio (per bar or annualised for a 24/7
  market), Probabilistic Sharpe Ratio, Minimum Track Record Length, expected maximum Sharpe of
  ``N`` trials and the Deflated Sharpe Ratio. Each has a ``*_from_moments`` variant so published
  worked examples can be checked exactly.

Conventions shared by every function:

* Inputs may be NumPy arrays, lists or pandas Series (one-dimensional). Two Series must share the
  same index (align them first); otherwise values are paired by position.
* NaN values are dropped *pairwise*: a bar is dropped when either side (or the baseline, in
  :func:`forecast_metrics`) is NaN, so every statistic of one call is computed on the same bars.
  Infinite values are rejected.
* Bad input (length mismatch, too few observations, invalid parameter) raises :class:`ValueError`
  with a one-line message.
* Sharpe ratios inside PSR/MinTRL/DSR are **per bar** (not annualised); kurtosis is **raw**
  (Pearson, normal = 3), never excess kurtosis.

References
----------
.. [BLdP12] Bailey, D. H. and López de Prado, M. (2012). "The Sharpe Ratio Efficient Frontier".
   Journal of Risk 15(2), 3–44. (PSR and MinTRL.)
.. [BLdP14] Bailey, D. H. and López de Prado, M. (2014). "The Deflated Sharpe Ratio: Correcting
   for Selection Bias, Backtest Overfitting and Non-Normality". Journal of Portfolio Management
   40(5), 94–107. (DSR and the expected maximum Sharpe ratio.)
.. [DM95] Diebold, F. X. and Mariano, R. S. (1995). "Comparing Predictive Accuracy". Journal of
   Business & Economic Statistics 13(3), 253–263.
.. [HLN97] Harvey, D., Leybourne, S. and Newbold, P. (1997). "Testing the equality of prediction
   mean squared errors". International Journal of Forecasting 13(2), 281–291.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

logger = logging.getLogger(__name__)

__all__ = [
    "EULER_MASCHERONI",
    "DMTest",
    "DirectionalTest",
    "ForecastMetrics",
    "InformationCoefficient",
    "SharpeStats",
    "always_up_rate",
    "deflated_sharpe_ratio",
    "diebold_mariano",
    "directional_accuracy",
    "directional_test",
    "dsr_from_moments",
    "expected_max_sharpe",
    "forecast_metrics",
    "information_coefficient",
    "mae",
    "min_track_record_length",
    "min_trl_from_moments",
    "periods_per_year",
    "probabilistic_sharpe_ratio",
    "psr_from_moments",
    "return_moments",
    "rmse",
    "sharpe_ratio",
    "sharpe_stats",
]

#: Euler–Mascheroni constant γ used in the expected maximum of ``N`` normal draws [BLdP14].
EULER_MASCHERONI = 0.5772156649015329

ArrayLike = np.ndarray | pd.Series | Sequence[float]

_DAYS_PER_YEAR = 365.0  # crypto trades 24/7: calendar days, not 252 trading days
_MINUTES_PER_UNIT = {"m": 1.0, "h": 60.0, "d": 1440.0, "w": 10080.0}


# --------------------------------------------------------------------------- input helpers


def _to_1d(x: ArrayLike, name: str) -> np.ndarray:
    """A float64 1-D copy of ``x`` (NaN kept, inf rejected)."""
    arr = np.asarray(
        x.to_numpy(dtype="float64", na_value=np.nan) if isinstance(x, pd.Series) else x,
        dtype="float64",
    )
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains infinite values; clean the series before scoring it")
    return arr


def _paired(*named: tuple[ArrayLike, str]) -> list[np.ndarray]:
    """Arrays of equal length with every position where any input is NaN dropped."""
    arrays = [_to_1d(x, name) for x, name in named]
    n0, name0 = len(arrays[0]), named[0][1]
    for arr, (_, name) in zip(arrays[1:], named[1:], strict=True):
        if len(arr) != n0:
            raise ValueError(f"length mismatch: {name0} has {n0} values, {name} has {len(arr)}")
    series = [x for x, _ in named if isinstance(x, pd.Series)]
    for other in series[1:]:
        if not other.index.equals(series[0].index):
            raise ValueError(
                "input Series have different indexes; align them first "
                "(e.g. a, b = a.align(b, join='inner'))"
            )
    keep = np.ones(n0, dtype=bool)
    for arr in arrays:
        keep &= ~np.isnan(arr)
    dropped = int(n0 - keep.sum())
    if dropped:
        logger.debug("dropped %d of %d bars with a NaN on either side", dropped, n0)
    return [arr[keep] for arr in arrays]


def _require(n: int, minimum: int, what: str) -> None:
    if n < minimum:
        raise ValueError(f"{what} needs at least {minimum} non-NaN observations, got {n}")


def _returns(returns: ArrayLike, minimum: int, what: str) -> np.ndarray:
    r = _to_1d(returns, "returns")
    r = r[~np.isnan(r)]
    _require(len(r), minimum, what)
    return r


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
    f, y = _paired((forecast, "forecast"), (realised, "realised"))
    _require(len(f), 1, "rmse")
    return float(np.sqrt(np.mean((f - y) ** 2)))


def mae(forecast: ArrayLike, realised: ArrayLike) -> float:
    """Mean absolute error ``mean(|forecast - realised|)`` over the non-NaN pairs."""
    f, y = _paired((forecast, "forecast"), (realised, "realised"))
    _require(len(f), 1, "mae")
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
    f, y = _paired((forecast, "forecast"), (realised, "realised"))
    _require(len(f), 1, "directional_accuracy")
    return float(np.mean(np.sign(f) == np.sign(y)))


def always_up_rate(realised: ArrayLike) -> float:
    """Share of realised returns strictly greater than 0 (NaN dropped; flat bars count as not up).

    This is the directional accuracy of a forecaster that always calls "up", the benchmark a
    direction forecast must beat in a rising market (not 50%).
    """
    y = _returns(realised, 1, "always_up_rate")
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
    f, y = _paired((forecast, "forecast"), (realised, "realised"))
    _require(len(f), 1, "directional_test")
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
    f, y = _paired((forecast, "forecast"), (realised, "realised"))
    _require(len(f), 3, "information_coefficient")
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
        ``"squared"`` or ``"absolute"``.
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
        raise ValueError(f"h must be an integer >= 1, got {h!r}")
    if loss not in ("squared", "absolute"):
        raise ValueError(f"loss must be 'squared' or 'absolute', got {loss!r}")
    if alternative not in ("two-sided", "less", "greater"):
        raise ValueError(
            f"alternative must be 'two-sided', 'less' or 'greater', got {alternative!r}"
        )
    em, eb = _paired((e_model, "e_model"), (e_base, "e_base"))
    t_len = len(em)
    _require(t_len, max(3, h + 1), f"diebold_mariano(h={h})")
    hln = (t_len + 1 - 2 * h + h * (h - 1) / t_len) / t_len
    if hln <= 0:
        raise ValueError(f"diebold_mariano: T={t_len} is too short for horizon h={h}")
    d = em**2 - eb**2 if loss == "squared" else np.abs(em) - np.abs(eb)
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


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
        return _finite_or_none(dataclasses.asdict(self))


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
        f, y = _paired((forecast, "forecast"), (realised, "realised"))
        b = None
    else:
        if np.ndim(baseline) == 0 and not isinstance(baseline, pd.Series):
            n_raw = len(_to_1d(forecast, "forecast"))
            baseline = np.full(n_raw, float(baseline))  # type: ignore[arg-type]
            if isinstance(forecast, pd.Series):
                baseline = pd.Series(baseline, index=forecast.index)
        f, y, b = _paired((forecast, "forecast"), (realised, "realised"), (baseline, "baseline"))
    _require(len(f), 3, "forecast_metrics")
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


# --------------------------------------------------------------------------- Sharpe family


def _ppy_from_label(timeframe: str) -> float:
    label = str(timeframe).strip()
    match = re.fullmatch(r"(\d+)\s*([a-zA-Z]+)", label)
    if match is None:
        raise ValueError(f"unknown timeframe {timeframe!r}; use e.g. '15m', '1h', '4h', '1d', '1w'")
    count, unit = int(match.group(1)), match.group(2)
    if count <= 0:
        raise ValueError(f"timeframe {timeframe!r} must have a positive count")
    if unit == "M" or unit.lower() in ("mo", "mon", "month"):
        return 12.0 / count
    unit = "m" if unit.lower() in ("min", "t") else unit.lower()
    if unit not in _MINUTES_PER_UNIT:
        raise ValueError(f"unknown timeframe {timeframe!r}; use e.g. '15m', '1h', '4h', '1d', '1w'")
    return _DAYS_PER_YEAR * 1440.0 / (count * _MINUTES_PER_UNIT[unit])


def periods_per_year(timeframe: str) -> float:
    """Bars per year of a 24/7 market (crypto) for a ccxt-style timeframe label.

    ``365 · 1440 / minutes_per_bar``: ``'1d'`` → 365, ``'4h'`` → 2190, ``'2h'`` → 4380,
    ``'1h'`` → 8760, ``'15m'`` → 35040, ``'1m'`` → 525600, ``'1w'`` → 365/7 ≈ 52.14 and
    ``'1M'`` (month, capital M as in ccxt) → 12. Units: ``m`` minute, ``h`` hour, ``d`` day,
    ``w`` week (``H``/``D``/``W`` accepted too); anything else raises :class:`ValueError`.
    """
    return _ppy_from_label(timeframe)


def return_moments(returns: ArrayLike) -> tuple[float, int, float, float]:
    """Per-bar Sharpe ratio, observation count, skewness and raw kurtosis of a return series.

    Returns
    -------
    (sr, n, skew, kurtosis)
        ``sr = mean / std(ddof=1)``; ``skew`` and ``kurtosis`` are the sample (biased,
        moment-based) estimates ``scipy.stats.skew(bias=True)`` and
        ``scipy.stats.kurtosis(fisher=False, bias=True)`` — raw kurtosis, normal = 3.
        ``sr`` (and the moments) are NaN when the returns are constant.
    """
    r = _returns(returns, 3, "return_moments")
    if np.ptp(r) == 0:
        logger.warning("return_moments: constant returns, Sharpe ratio undefined")
        return math.nan, len(r), math.nan, math.nan
    skew = float(stats.skew(r, bias=True))
    kurt = float(stats.kurtosis(r, fisher=False, bias=True))
    return float(np.mean(r)) / float(np.std(r, ddof=1)), len(r), skew, kurt


def sharpe_ratio(returns: ArrayLike, periods_per_year: float | str | None = None) -> float:
    """Sharpe ratio of per-bar simple returns (risk-free rate 0).

    Parameters
    ----------
    returns
        Per-bar returns; NaN dropped.
    periods_per_year
        ``None`` (default): the per-bar ratio ``mean / std(ddof=1)``, the unit PSR/DSR need.
        A number or a timeframe label (see :func:`periods_per_year`): annualised as
        ``SR · sqrt(periods_per_year)`` — 365 for daily crypto, not 252.

    Returns
    -------
    float
        NaN when the returns are constant (zero standard deviation).
    """
    r = _returns(returns, 2, "sharpe_ratio")
    if np.ptp(r) == 0:  # exact test: std of equal floats can come out as ~1e-18, not 0
        logger.warning("sharpe_ratio: constant returns, Sharpe ratio undefined")
        return math.nan
    sr = float(np.mean(r)) / float(np.std(r, ddof=1))
    if periods_per_year is None:
        return sr
    ppy = (
        _ppy_from_label(periods_per_year)
        if isinstance(periods_per_year, str)
        else float(periods_per_year)
    )
    if not ppy > 0:
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year!r}")
    return sr * math.sqrt(ppy)


def _sr_variance_term(sr: float, skew: float, kurtosis: float) -> float:
    if kurtosis < 1:
        raise ValueError(
            f"kurtosis must be raw (Pearson, normal = 3, always >= 1), got {kurtosis}; "
            "did you pass excess kurtosis?"
        )
    term = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr**2
    if term <= 0:
        raise ValueError(
            f"1 - skew*SR + (kurtosis-1)/4*SR^2 = {term:.3g} is not positive "
            "(raw kurtosis must be >= 1 + skew^2)"
        )
    return term


def psr_from_moments(
    sr: float, sr_benchmark: float, n_obs: float, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """Probabilistic Sharpe Ratio from the moments [BLdP12]_.

    ``PSR(SR*) = Φ( (SR - SR*) · sqrt(T - 1) / sqrt(1 - γ3·SR + (γ4 - 1)/4 · SR²) )``

    Parameters
    ----------
    sr
        Observed **per-bar** Sharpe ratio.
    sr_benchmark
        Benchmark per-bar Sharpe ratio ``SR*``.
    n_obs
        Number of observations ``T`` (> 1; may be fractional, e.g. a MinTRL).
    skew
        Skewness γ3 of the returns.
    kurtosis
        **Raw** kurtosis γ4 (normal = 3), not excess kurtosis.

    Returns
    -------
    float
        Probability that the true Sharpe ratio exceeds ``sr_benchmark``; NaN if ``sr`` is NaN.
    """
    if math.isnan(sr):
        return math.nan
    if not n_obs > 1:
        raise ValueError(f"PSR needs n_obs > 1, got {n_obs}")
    term = _sr_variance_term(sr, skew, kurtosis)
    z = (sr - sr_benchmark) * math.sqrt(n_obs - 1.0) / math.sqrt(term)
    return float(stats.norm.cdf(z))


def probabilistic_sharpe_ratio(returns: ArrayLike, sr_benchmark: float = 0.0) -> float:
    """Probabilistic Sharpe Ratio of a per-bar return series [BLdP12]_.

    Uses the per-bar Sharpe ratio, the sample skewness and the **raw** sample kurtosis
    (``scipy.stats.kurtosis(fisher=False)``) in :func:`psr_from_moments`. ``sr_benchmark`` is
    per bar too (divide an annual figure by ``sqrt(periods_per_year)``). Needs >= 3 returns.
    """
    sr, n, skew, kurt = return_moments(returns)
    return psr_from_moments(sr, sr_benchmark, n, skew, kurt)


def min_trl_from_moments(
    sr: float,
    sr_benchmark: float = 0.0,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    alpha: float = 0.05,
) -> float:
    """Minimum Track Record Length from the moments [BLdP12]_.

    ``MinTRL = 1 + (1 - γ3·SR + (γ4 - 1)/4 · SR²) · (z_α / (SR - SR*))²`` with
    ``z_α = Φ⁻¹(1 - α)``: the number of bars (same frequency as ``sr``) needed for
    ``PSR(SR*) >= 1 - α``. Returns ``inf`` when ``sr <= sr_benchmark`` (never reached) and NaN
    when ``sr`` is NaN. Kurtosis is raw (normal = 3).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if math.isnan(sr):
        return math.nan
    if sr <= sr_benchmark:
        return math.inf
    term = _sr_variance_term(sr, skew, kurtosis)
    z = float(stats.norm.ppf(1.0 - alpha))
    return 1.0 + term * (z / (sr - sr_benchmark)) ** 2


def min_track_record_length(
    returns: ArrayLike, sr_benchmark: float = 0.0, alpha: float = 0.05
) -> float:
    """Minimum Track Record Length (in bars) of a per-bar return series [BLdP12]_.

    See :func:`min_trl_from_moments`; ``sr_benchmark`` is per bar. ``inf`` when the observed
    Sharpe ratio does not exceed the benchmark. Divide by :func:`periods_per_year` for years.
    """
    sr, _, skew, kurt = return_moments(returns)
    return min_trl_from_moments(sr, sr_benchmark, skew, kurt, alpha)


def expected_max_sharpe(n_trials: int, var_trials_sr: float) -> float:
    """Expected maximum Sharpe ratio of ``N`` independent zero-skill trials, SR₀ of the DSR.

    ``SR₀ = sqrt(V) · ( (1 - γ)·Φ⁻¹(1 - 1/N) + γ·Φ⁻¹(1 - 1/(N·e)) )`` [BLdP14]_, with γ the
    Euler–Mascheroni constant.

    Parameters
    ----------
    n_trials
        Number of independent trials (configurations tried), integer >= 1. ``N = 1`` gives 0:
        nothing to deflate.
    var_trials_sr
        Variance ``V`` of the trials' **per-bar** Sharpe ratios. An annualised variance converts
        as ``V_annual / periods_per_year`` (the Sharpe scales by the square root, its variance
        by the factor itself).

    Returns
    -------
    float
        SR₀ in per-bar units.
    """
    if isinstance(n_trials, bool) or not float(n_trials).is_integer() or n_trials < 1:
        raise ValueError(f"n_trials must be an integer >= 1, got {n_trials!r}")
    if not var_trials_sr >= 0:
        raise ValueError(f"var_trials_sr must be >= 0, got {var_trials_sr!r}")
    n = int(n_trials)
    if n == 1 or var_trials_sr == 0:
        return 0.0
    g = EULER_MASCHERONI
    spread = (1.0 - g) * stats.norm.ppf(1.0 - 1.0 / n) + g * stats.norm.ppf(
        1.0 - 1.0 / (n * math.e)
    )
    return float(math.sqrt(var_trials_sr) * spread)


def dsr_from_moments(
    sr: float, n_obs: float, skew: float, kurtosis: float, n_trials: int, var_trials_sr: float
) -> float:
    """Deflated Sharpe Ratio from the moments: ``PSR(SR₀)`` with SR₀ from
    :func:`expected_max_sharpe` [BLdP14]_. All Sharpe quantities per bar; kurtosis raw."""
    sr0 = expected_max_sharpe(n_trials, var_trials_sr)
    return psr_from_moments(sr, sr0, n_obs, skew, kurtosis)


def deflated_sharpe_ratio(returns: ArrayLike, n_trials: int, var_trials_sr: float) -> float:
    """Deflated Sharpe Ratio of the selected strategy's per-bar returns [BLdP14]_.

    ``DSR = PSR(SR₀)``: the probability that the true Sharpe ratio exceeds the best Sharpe ratio
    expected from ``n_trials`` zero-skill trials whose per-bar Sharpe ratios have variance
    ``var_trials_sr``. With ``n_trials = 1`` this is ``PSR(0)``.
    """
    sr, n, skew, kurt = return_moments(returns)
    return dsr_from_moments(sr, n, skew, kurt, n_trials, var_trials_sr)


@dataclass(frozen=True)
class SharpeStats:
    """Sharpe-family summary of one strategy's per-bar returns (see :func:`sharpe_stats`)."""

    n: int
    sharpe_per_bar: float
    sharpe_annualised: float
    periods_per_year: float
    skew: float
    kurtosis: float
    psr: float
    min_trl_bars: float
    n_trials: int
    expected_max_sharpe: float
    dsr: float

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON; non-finite floats (NaN, inf) become ``None``."""
        return _finite_or_none(dataclasses.asdict(self))


def sharpe_stats(
    returns: ArrayLike,
    periods_per_year: float | str,
    *,
    n_trials: int = 1,
    var_trials_sr: float = 0.0,
    sr_benchmark: float = 0.0,
    alpha: float = 0.05,
) -> SharpeStats:
    """Sharpe ratio (per bar and annualised), PSR, MinTRL and DSR of one return series.

    ``sr_benchmark`` and ``var_trials_sr`` are per bar; kurtosis is raw.
    """
    ppy = (
        _ppy_from_label(periods_per_year)
        if isinstance(periods_per_year, str)
        else float(periods_per_year)
    )
    sr, n, skew, kurt = return_moments(returns)
    sr0 = expected_max_sharpe(n_trials, var_trials_sr)
    return SharpeStats(
        n=n,
        sharpe_per_bar=sr,
        sharpe_annualised=sr * math.sqrt(ppy),
        periods_per_year=ppy,
        skew=skew,
        kurtosis=kurt,
        psr=psr_from_moments(sr, sr_benchmark, n, skew, kurt),
        min_trl_bars=min_trl_from_moments(sr, sr_benchmark, skew, kurt, alpha),
        n_trials=int(n_trials),
        expected_max_sharpe=sr0,
        dsr=psr_from_moments(sr, sr0, n, skew, kurt),
    )
