"""What a walk-forward run returns: :class:`WalkForwardResult`, its fold table's columns and
the per-fold metrics (forecast errors, and conformal coverage and width when intervals are
on)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lstm_backtrader.models.conformal import (
    IntervalSpec,
    conformal_intervals,
    interval_coverage,
    interval_width,
)
from lstm_backtrader.models.ensemble import combine, combine_folds
from lstm_backtrader.models.metrics import directional_accuracy, rmse

logger = logging.getLogger(__name__)

FOLD_COLUMNS: tuple[str, ...] = (
    "fold",
    "train_start",
    "train_end",
    "first_forecast",
    "last_forecast",
    "val_loss",
    "epochs",
    "rmse",
    "directional_accuracy",
    "model_hash",
    "seconds",
    "fit_seconds",
    "predict_seconds",
    "cached",
)

#: Fold-table columns added when intervals are on: realised coverage and mean width.
INTERVAL_FOLD_COLUMNS: tuple[str, ...] = ("coverage", "width")

ProgressFn = Callable[[int, int, dict[str, Any]], None]


@dataclass(frozen=True)
class WalkForwardResult:
    """Out-of-sample forecasts of a walk-forward run.

    Attributes
    ----------
    forecasts
        ``forecast_fwd_ret_{h}`` (``forecast_fwd_up_{h}``, ``forecast_fwd_logvol_{h}`` for
        the other targets) over the whole input index; NaN before the first fold. With
        ``ensemble`` > 1 or ``mc_dropout`` > 0: the mean of the members / dropout passes.
    folds
        One row per fold, columns :data:`FOLD_COLUMNS` (rmse and directional accuracy against
        the realised ``target_fwd_ret_{h}`` - or the config's target - where it is known;
        see :func:`fold_metrics`), plus :data:`INTERVAL_FOLD_COLUMNS` with intervals.
    fold_id
        Per bar: the fold whose model made the forecast (-1 before the first model).
    model_cutoff
        Per bar: timestamp of the last bar of that fold's training slice (NaT before).
    age
        Per bar: bars since that cutoff (-1 before the first model).
    model_paths
        Per fold: the saved model in the fold cache (``None`` without a ``cache_dir``, where
        the models live in a temporary folder removed after the run; member 0's with an
        ensemble).
    spread
        Per bar, ``spread_fwd_*``: the standard deviation across ensemble members and/or
        Monte-Carlo dropout passes (a probability's for ``'direction'``, a log volatility's
        for ``'volatility'``); ``None`` for one network without MC dropout.
    lower, upper
        Per bar, ``lower_fwd_*`` / ``upper_fwd_*``: the conformal interval
        (:mod:`~lstm_backtrader.models.conformal`); ``None`` when intervals are off.
    """

    forecasts: pd.Series
    folds: pd.DataFrame
    fold_id: pd.Series
    model_cutoff: pd.Series
    age: pd.Series
    model_paths: tuple[str | None, ...] = ()
    spread: pd.Series | None = None
    lower: pd.Series | None = None
    upper: pd.Series | None = None

    def frame(self) -> pd.DataFrame:
        """The per-bar outputs side by side (forecast, fold, model_cutoff, age; then spread,
        lower and upper when present)."""
        columns = {
            "forecast": self.forecasts,
            "fold": self.fold_id,
            "model_cutoff": self.model_cutoff,
            "age": self.age,
        }
        for name in ("spread", "lower", "upper"):
            if getattr(self, name) is not None:
                columns[name] = getattr(self, name)
        return pd.DataFrame(columns)

    def interval_summary(self, realised: pd.Series) -> dict[str, float]:
        """Realised coverage and mean width of the intervals over the run (NaN without
        intervals); ``realised`` is the target series (``target_series(candles, config)``)."""
        if self.lower is None or self.upper is None:
            return {"coverage": float("nan"), "width": float("nan")}
        lo, up = self.lower.to_numpy(), self.upper.to_numpy()
        y = realised.reindex(self.lower.index).to_numpy(dtype="float64")
        return {"coverage": interval_coverage(lo, up, y), "width": interval_width(lo, up)}


def fold_metrics(
    forecast: np.ndarray, realised: np.ndarray, target: str = "return"
) -> tuple[float, float]:
    """RMSE and directional accuracy over the bars where both are known (NaN if none).

    For target ``'direction'`` the RMSE is the root Brier score and the accuracy that of the
    call ``p > 0.5``; for ``'volatility'`` the RMSE is in log-volatility units and there is no
    directional accuracy (NaN)."""
    ok = np.isfinite(forecast) & np.isfinite(realised)
    if not ok.any():
        return float("nan"), float("nan")
    f, r = forecast[ok], realised[ok]
    if target == "direction":
        return float(rmse(f, r)), float(np.mean((f > 0.5) == (r > 0.5)))
    if target == "volatility":
        return float(rmse(f, r)), float("nan")
    return float(rmse(f, r)), float(directional_accuracy(f, r))


def add_interval_columns(
    folds: pd.DataFrame,
    fold_id: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    realised: np.ndarray,
) -> pd.DataFrame:
    """``folds`` with per-fold realised ``coverage`` and mean ``width`` of the intervals."""
    out = folds.copy()
    cov, wid = [], []
    for fold in out["fold"].to_numpy():
        sel = fold_id == fold
        cov.append(interval_coverage(lower[sel], upper[sel], realised[sel]))
        wid.append(interval_width(lower[sel], upper[sel]))
    out["coverage"] = np.asarray(cov, dtype="float64")
    out["width"] = np.asarray(wid, dtype="float64")
    return out


def spread_name(name: str, what: str = "spread") -> str:
    """``forecast_fwd_ret_1`` -> ``spread_fwd_ret_1`` (or ``lower_...``, ``upper_...``)."""
    return name.replace("forecast_", f"{what}_", 1)


def combine_results(
    results: list[WalkForwardResult], realised: np.ndarray, target: str
) -> WalkForwardResult:
    """An ensemble's result from its members' (:func:`~lstm_backtrader.models.ensemble.combine`;
    the fold table's rmse and accuracy are those of the members' mean)."""
    mean, spread = combine(
        [r.forecasts.to_numpy() for r in results],
        [None if r.spread is None else r.spread.to_numpy() for r in results],
    )
    first = results[0]
    folds = combine_folds([r.folds for r in results])
    fid = first.fold_id.to_numpy()
    for i, fold in enumerate(folds["fold"].to_numpy()):
        sel = fid == fold
        folds.loc[folds.index[i], ["rmse", "directional_accuracy"]] = fold_metrics(
            mean[sel], realised[sel], target
        )
    index, name = first.forecasts.index, str(first.forecasts.name)
    return dataclasses.replace(
        first,
        forecasts=pd.Series(mean, index=index, name=name),
        folds=folds,
        spread=pd.Series(spread, index=index, name=spread_name(name)),
    )


def with_intervals(
    result: WalkForwardResult,
    realised: np.ndarray,
    horizon: int,
    target: str,
    spec: IntervalSpec,
) -> WalkForwardResult:
    """``result`` with conformal ``lower``/``upper`` (NaN for target ``'direction'``) and the
    fold table's per-fold ``coverage`` and ``width``."""
    index, name = result.forecasts.index, str(result.forecasts.name)
    if target == "direction":
        logger.warning("walk-forward: no conformal interval for a direction probability")
        lower = upper = np.full(len(index), np.nan)
    else:
        lower, upper = conformal_intervals(result.forecasts.to_numpy(), realised, horizon, spec)
    folds = add_interval_columns(result.folds, result.fold_id.to_numpy(), lower, upper, realised)
    return dataclasses.replace(
        result,
        folds=folds,
        lower=pd.Series(lower, index=index, name=spread_name(name, "lower")),
        upper=pd.Series(upper, index=index, name=spread_name(name, "upper")),
    )
