"""Strategy statistics on per-bar simple returns: Sharpe ratio (per bar or annualised for a
24/7 market), Probabilistic Sharpe Ratio, Minimum Track Record Length, expected maximum Sharpe
of N trials and the Deflated Sharpe Ratio. See :mod:`lstm_backtrader.models.metrics`."""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.metrics.arrays import ArrayLike, clean_returns, finite_or_none

logger = logging.getLogger(__name__)

#: Euler–Mascheroni constant γ used in the expected maximum of ``N`` normal draws [BLdP14].
EULER_MASCHERONI = 0.5772156649015329

_DAYS_PER_YEAR = 365.0  # crypto trades 24/7: calendar days, not 252 trading days
_MINUTES_PER_UNIT = {"s": 1.0 / 60.0, "m": 1.0, "h": 60.0, "d": 1440.0, "w": 10080.0}

# --------------------------------------------------------------------------- Sharpe family


def _ppy_from_label(timeframe: str) -> float:
    label = str(timeframe).strip()
    match = re.fullmatch(r"(\d+)\s*([a-zA-Z]+)", label)
    if match is None:
        raise InputError(f"unknown timeframe {timeframe!r}; use e.g. '15m', '1h', '4h', '1d', '1w'")
    count, unit = int(match.group(1)), match.group(2)
    if count <= 0:
        raise InputError(f"timeframe {timeframe!r} must have a positive count")
    if unit == "M" or unit.lower() in ("mo", "mon", "month"):
        return 12.0 / count
    unit = "m" if unit.lower() in ("min", "t") else unit.lower()
    if unit not in _MINUTES_PER_UNIT:
        raise InputError(f"unknown timeframe {timeframe!r}; use e.g. '15m', '1h', '4h', '1d', '1w'")
    return _DAYS_PER_YEAR * 1440.0 / (count * _MINUTES_PER_UNIT[unit])


def periods_per_year(timeframe: str) -> float:
    """Bars per year of a 24/7 market (crypto) for a ccxt-style timeframe label.

    ``365 · 1440 / minutes_per_bar``: ``'1d'`` → 365, ``'4h'`` → 2190, ``'2h'`` → 4380,
    ``'1h'`` → 8760, ``'15m'`` → 35040, ``'1m'`` → 525600, ``'1w'`` → 365/7 ≈ 52.14 and
    ``'1s'`` → 31,536,000, ``'1M'`` (month, capital M as in ccxt) → 12. Units: ``s`` second,
    ``m`` minute, ``h`` hour, ``d`` day, ``w`` week (``H``/``D``/``W`` accepted too); anything
    else raises :class:`~lstm_backtrader.models.infra.errors.InputError`.
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
    r = clean_returns(returns, 3, "return_moments")
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
    r = clean_returns(returns, 2, "sharpe_ratio")
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
        raise InputError(f"periods_per_year must be positive, got {periods_per_year!r}")
    return sr * math.sqrt(ppy)


def _sr_variance_term(sr: float, skew: float, kurtosis: float) -> float:
    if kurtosis < 1:
        raise InputError(
            f"kurtosis must be raw (Pearson, normal = 3, always >= 1), got {kurtosis}; "
            "did you pass excess kurtosis?"
        )
    term = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr**2
    if term <= 0:
        raise InputError(
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
        raise InputError(f"PSR needs n_obs > 1, got {n_obs}")
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
        raise InputError(f"alpha must be in (0, 1), got {alpha}")
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
        raise InputError(f"n_trials must be an integer >= 1, got {n_trials!r}")
    if not var_trials_sr >= 0:
        raise InputError(f"var_trials_sr must be >= 0, got {var_trials_sr!r}")
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
        return finite_or_none(dataclasses.asdict(self))


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
