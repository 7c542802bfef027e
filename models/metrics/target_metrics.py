"""Metrics of probability (direction) and volatility forecasts, each against a baseline.

Direction, a probability ``p`` of the outcome ``y`` in {0, 1}:

* log loss ``-[y ln p + (1 - y) ln(1 - p)]`` (``p`` clipped to [1e-15, 1 - 1e-15]);
* Brier score ``(p - y)^2``;
* reliability table: bins of ``p``, with the mean forecast, the observed frequency of
  ``y = 1`` and the count of each bin (a reliability diagram in numbers).

Volatility, forecasts ``f`` and realised values ``y`` in log-volatility units (what
:func:`~lstm_backtrader.models.targets.target_fwd_logvol` holds); variances ``h = exp(2f)`` and
``σ² = exp(2y)``:

* QLIKE ``σ²/h - ln(σ²/h) - 1`` (Patton 2011: robust to the noise of the variance proxy);
* MSE on log variance ``(ln σ² - ln h)^2 = 4 (y - f)^2``.

Models are compared with their baseline by the Diebold–Mariano test with the HLN correction
on the per-bar loss differential (:func:`~lstm_backtrader.models.metrics.forecast.
diebold_mariano_losses`). :func:`target_metrics` dispatches on the target.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.metrics.arrays import ArrayLike, as_1d, finite_or_none, paired, require
from lstm_backtrader.models.metrics.forecast import (
    DMTest,
    ForecastMetrics,
    diebold_mariano_losses,
    forecast_metrics,
)

logger = logging.getLogger(__name__)

_CLIP = 1e-15

Alternative = Literal["two-sided", "less", "greater"]


def _check_probabilities(p: np.ndarray, y: np.ndarray, what: str) -> None:
    if ((p < 0) | (p > 1)).any():
        raise InputError(f"{what}: probabilities must lie in [0, 1]")
    if not np.isin(y, (0.0, 1.0)).all():
        raise InputError(f"{what}: outcomes must be 0 or 1")


def log_loss_terms(prob: ArrayLike, outcome: ArrayLike) -> np.ndarray:
    """Per-bar log loss ``-[y ln p + (1-y) ln(1-p)]`` over the non-NaN pairs."""
    p, y = paired((prob, "prob"), (outcome, "outcome"))
    _check_probabilities(p, y, "log_loss")
    p = np.clip(p, _CLIP, 1 - _CLIP)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def log_loss(prob: ArrayLike, outcome: ArrayLike) -> float:
    """Mean log loss (natural log; 0.693 for ``p = 0.5`` everywhere)."""
    terms = log_loss_terms(prob, outcome)
    require(len(terms), 1, "log_loss")
    return float(np.mean(terms))


def brier_terms(prob: ArrayLike, outcome: ArrayLike) -> np.ndarray:
    """Per-bar Brier score ``(p - y)^2`` over the non-NaN pairs."""
    p, y = paired((prob, "prob"), (outcome, "outcome"))
    _check_probabilities(p, y, "brier_score")
    return (p - y) ** 2


def brier_score(prob: ArrayLike, outcome: ArrayLike) -> float:
    """Mean Brier score (0.25 for ``p = 0.5`` everywhere)."""
    terms = brier_terms(prob, outcome)
    require(len(terms), 1, "brier_score")
    return float(np.mean(terms))


def reliability_table(prob: ArrayLike, outcome: ArrayLike, bins: int = 10) -> pd.DataFrame:
    """Equal-width bins of the forecast probability on [0, 1] (the last bin closed).

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin: ``bin_low``, ``bin_high``, ``mean_predicted``,
        ``observed_frequency`` (share of outcomes 1) and ``count``.
    """
    if not isinstance(bins, int) or bins < 1:
        raise InputError(f"reliability_table: bins is {bins!r}: use an integer >= 1")
    p, y = paired((prob, "prob"), (outcome, "outcome"))
    _check_probabilities(p, y, "reliability_table")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    rows = [
        {
            "bin_low": float(edges[b]),
            "bin_high": float(edges[b + 1]),
            "mean_predicted": float(p[which == b].mean()),
            "observed_frequency": float(y[which == b].mean()),
            "count": int((which == b).sum()),
        }
        for b in range(bins)
        if (which == b).any()
    ]
    cols = ["bin_low", "bin_high", "mean_predicted", "observed_frequency", "count"]
    return pd.DataFrame(rows, columns=cols)


def qlike_terms(forecast_logvol: ArrayLike, realised_logvol: ArrayLike) -> np.ndarray:
    """Per-bar QLIKE ``σ²/h - ln(σ²/h) - 1`` of log-volatility forecasts (0 when exact)."""
    f, y = paired((forecast_logvol, "forecast"), (realised_logvol, "realised"))
    log_ratio = 2.0 * (y - f)  # ln(σ²/h)
    return np.exp(log_ratio) - log_ratio - 1.0


def qlike(forecast_logvol: ArrayLike, realised_logvol: ArrayLike) -> float:
    """Mean QLIKE of log-volatility forecasts (Patton 2011)."""
    terms = qlike_terms(forecast_logvol, realised_logvol)
    require(len(terms), 1, "qlike")
    return float(np.mean(terms))


def mse_log_var_terms(forecast_logvol: ArrayLike, realised_logvol: ArrayLike) -> np.ndarray:
    """Per-bar squared error of the log variance, ``(2y - 2f)^2``."""
    f, y = paired((forecast_logvol, "forecast"), (realised_logvol, "realised"))
    return (2.0 * (y - f)) ** 2


def mse_log_var(forecast_logvol: ArrayLike, realised_logvol: ArrayLike) -> float:
    """Mean squared error on log variance of log-volatility forecasts."""
    terms = mse_log_var_terms(forecast_logvol, realised_logvol)
    require(len(terms), 1, "mse_log_var")
    return float(np.mean(terms))


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")


@dataclass(frozen=True)
class ProbabilityMetrics:
    """Log loss, Brier score and reliability of a probability forecast; with a baseline, its
    scores, the ratios model/baseline (< 1: the model is better) and DM tests of each loss."""

    n: int
    log_loss: float
    brier: float
    reliability: tuple[dict[str, Any], ...]
    base_rate: float
    baseline_log_loss: float | None = None
    baseline_brier: float | None = None
    log_loss_ratio: float | None = None
    brier_ratio: float | None = None
    dm_log_loss: DMTest | None = None
    dm_brier: DMTest | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict for JSON; non-finite floats become ``None``."""
        return finite_or_none(dataclasses.asdict(self))


@dataclass(frozen=True)
class VolatilityMetrics:
    """QLIKE and MSE on log variance of a log-volatility forecast; with a baseline, its
    scores, the ratios model/baseline (< 1: the model is better) and DM tests of each loss."""

    n: int
    qlike: float
    mse_log_var: float
    baseline_qlike: float | None = None
    baseline_mse_log_var: float | None = None
    qlike_ratio: float | None = None
    mse_log_var_ratio: float | None = None
    dm_qlike: DMTest | None = None
    dm_mse_log_var: DMTest | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict for JSON; non-finite floats become ``None``."""
        return finite_or_none(dataclasses.asdict(self))


def _with_baseline(
    forecast: ArrayLike, realised: ArrayLike, baseline: ArrayLike | float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Pairs (NaN dropped on every side); a scalar baseline is used on every bar."""
    if baseline is None:
        f, y = paired((forecast, "forecast"), (realised, "realised"))
        return f, y, None
    if np.ndim(baseline) == 0 and not isinstance(baseline, pd.Series):
        baseline = np.full(len(as_1d(forecast, "forecast")), float(baseline))  # type: ignore[arg-type]
        if isinstance(forecast, pd.Series):
            baseline = pd.Series(baseline, index=forecast.index)
    return paired((forecast, "forecast"), (realised, "realised"), (baseline, "baseline"))


def _against_baseline(
    out: dict[str, Any],
    model: np.ndarray,
    y: np.ndarray,
    b: np.ndarray,
    losses: tuple[tuple[str, Callable[..., float], Callable[..., np.ndarray], str], ...],
    h: int,
    alternative: Alternative,
) -> None:
    """Adds ``baseline_<loss>``, ``dm_<loss>`` (DM test of the per-bar terms, model against
    baseline) and ``<loss>_ratio`` (model/baseline) to ``out`` for each
    ``(loss, mean, terms, dm_label)``; ``out[loss]`` holds the model's score already."""
    for name, mean, terms, label in losses:
        out[f"baseline_{name}"] = mean(b, y)
        out[f"dm_{name}"] = diebold_mariano_losses(
            terms(model, y), terms(b, y), h, alternative, label
        )
        out[f"{name}_ratio"] = _ratio(out[name], out[f"baseline_{name}"])


def probability_metrics(
    prob: ArrayLike,
    outcome: ArrayLike,
    baseline: ArrayLike | float | None = None,
    *,
    h: int = 1,
    bins: int = 10,
    alternative: Alternative = "two-sided",
) -> ProbabilityMetrics:
    """:class:`ProbabilityMetrics` of ``prob`` against ``outcome`` (0/1), optionally against a
    baseline probability (a scalar, e.g. the training base rate, or a series)."""
    p, y, b = _with_baseline(prob, outcome, baseline)
    require(len(p), 3, "probability_metrics")
    out: dict[str, Any] = {
        "n": len(p),
        "log_loss": log_loss(p, y),
        "brier": brier_score(p, y),
        "reliability": tuple(reliability_table(p, y, bins).to_dict("records")),
        "base_rate": float(np.mean(y)),
    }
    if b is not None:
        losses = (
            ("log_loss", log_loss, log_loss_terms, "log"),
            ("brier", brier_score, brier_terms, "brier"),
        )
        _against_baseline(out, p, y, b, losses, h, alternative)
    return ProbabilityMetrics(**out)


def volatility_metrics(
    forecast_logvol: ArrayLike,
    realised_logvol: ArrayLike,
    baseline: ArrayLike | float | None = None,
    *,
    h: int = 1,
    alternative: Alternative = "two-sided",
) -> VolatilityMetrics:
    """:class:`VolatilityMetrics` of a log-volatility forecast, optionally against a baseline
    log-volatility forecast (HAR is the one to beat)."""
    f, y, b = _with_baseline(forecast_logvol, realised_logvol, baseline)
    require(len(f), 3, "volatility_metrics")
    out: dict[str, Any] = {"n": len(f), "qlike": qlike(f, y), "mse_log_var": mse_log_var(f, y)}
    if b is not None:
        losses = (
            ("qlike", qlike, qlike_terms, "qlike"),
            ("mse_log_var", mse_log_var, mse_log_var_terms, "mse_log_var"),
        )
        _against_baseline(out, f, y, b, losses, h, alternative)
    return VolatilityMetrics(**out)


def target_metrics(
    target: str,
    forecast: ArrayLike,
    realised: ArrayLike,
    baseline: ArrayLike | float | None = None,
    *,
    h: int = 1,
) -> ForecastMetrics | ProbabilityMetrics | VolatilityMetrics:
    """The metrics of a forecast of ``target`` (``'return'``: :func:`forecast_metrics`,
    ``'direction'``: :func:`probability_metrics`, ``'volatility'``:
    :func:`volatility_metrics`) against the realised target and a baseline."""
    if target == "return":
        return forecast_metrics(forecast, realised, baseline, h=h)
    if target == "direction":
        return probability_metrics(forecast, realised, baseline, h=h)
    if target == "volatility":
        return volatility_metrics(forecast, realised, baseline, h=h)
    raise InputError(f"target is {target!r}: use return, direction or volatility")
