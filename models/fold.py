"""One walk-forward fold, trainable anywhere: :func:`train_fold` (a pure function of an
unfitted forecaster, data slices and an optional warm-start file) and :func:`run_fold_task`,
its form for executors (local processes, Dask workers), which returns plain data and the bytes
of the saved model files — no Keras object ever crosses a process boundary.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.factory import BUILTIN, build_forecaster
from lstm_backtrader.models.features import hash_candles
from lstm_backtrader.models.foldstore import FoldStore, fold_key
from lstm_backtrader.models.forecaster import clone
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.mcdropout import MC_SCHEME, mc_dropout_predict
from lstm_backtrader.models.schedule import FoldPlan, WalkForwardSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldResult:
    """What :func:`train_fold` returns (plain data: picklable, no Keras objects)."""

    forecasts: np.ndarray
    val_loss: float
    epochs: int
    model_hash: str
    seconds: float
    model_path: str
    fit_seconds: float = float("nan")
    predict_seconds: float = float("nan")
    #: Monte-Carlo dropout spread per forecast (``None`` without MC dropout).
    spread: np.ndarray | None = None


@dataclass(frozen=True)
class FoldTask:
    """One independent fold for an executor: an unfitted forecaster (hyperparameters only)
    and data slices, nothing Keras."""

    forecaster: Any
    train: pd.DataFrame
    predict: pd.DataFrame
    first_forecast: pd.Timestamp
    epochs: int | None = None


@dataclass(frozen=True)
class FoldPayload:
    """What :func:`run_fold_task` sends back: the fold's result and its saved files' bytes."""

    result: FoldResult
    files: dict[str, bytes]


def run_fold_task(task: FoldTask) -> FoldPayload:
    """Train one fold in a private temporary folder (any process or cluster worker) and return
    its forecasts plus the bytes of the saved model files; the caller stores them."""
    with tempfile.TemporaryDirectory(prefix="lstm-bt-fold-") as tmp:
        res = train_fold(
            task.forecaster,
            task.train,
            task.predict,
            task.first_forecast,
            Path(tmp) / "model.keras",
            epochs=task.epochs,
        )
        files = {
            p.name: p.read_bytes()
            for p in sorted(Path(tmp).iterdir())
            if p.is_file() and not p.name.startswith(".")
        }
    return FoldPayload(result=res, files=files)


def forecast_slice(
    model: Any, predict_candles: pd.DataFrame, first_forecast: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray | None]:
    """A fitted model's forecasts (and Monte-Carlo dropout spread, or ``None``) for the bars
    of ``predict_candles`` from ``first_forecast`` on: the MC mean when the config's
    ``mc_dropout`` > 0 (:mod:`~lstm_backtrader.models.mcdropout`), ``predict`` otherwise."""
    pos = int(predict_candles.index.searchsorted(first_forecast))
    samples = int(getattr(getattr(model, "config", None), "mc_dropout", 0) or 0)
    if samples:
        mean, spread = mc_dropout_predict(model, predict_candles, samples)
        return mean.to_numpy(dtype="float64")[pos:], spread.to_numpy(dtype="float64")[pos:]
    return model.predict(predict_candles).to_numpy(dtype="float64")[pos:], None


def fresh_forecaster(forecaster: Any) -> Any:
    """An unfitted forecaster from a forecaster object or a :class:`ForecasterConfig`."""
    if isinstance(forecaster, ForecasterConfig):
        return build_forecaster(forecaster)
    for name in ("config", "fit", "predict", "save", "model_hash", "get_params"):
        if not hasattr(forecaster, name):
            raise InputError(
                f"walk-forward forecaster {type(forecaster).__name__} has no {name!r}: pass a "
                "ForecasterConfig or an object with the Forecaster protocol"
            )
    return clone(forecaster)


def train_fold(
    forecaster: Any,
    train_candles: pd.DataFrame,
    predict_candles: pd.DataFrame,
    first_forecast: pd.Timestamp,
    model_path: str | Path,
    *,
    init_weights: str | Path | None = None,
    epochs: int | None = None,
) -> FoldResult:
    """Train one fold, save its model and forecast the bars from ``first_forecast`` on.

    Parameters
    ----------
    forecaster
        An unfitted forecaster (a fresh clone is fitted; the argument is left as it is) or a
        :class:`ForecasterConfig`.
    train_candles
        The fold's training slice (every label inside it is used).
    predict_candles
        Context + forecast bars; forecasts are returned for the bars >= ``first_forecast``.
    first_forecast
        Timestamp of the fold's first forecast bar.
    model_path
        Where to save the model (``.keras``; baselines write only the ``.json`` sidecar).
    init_weights
        Warm start from this saved model (forecasters that support it; ignored by others).
    epochs
        Override of the configured epochs (warm-started folds).
    """
    t0 = time.perf_counter()
    model = fresh_forecaster(forecaster)
    kwargs: dict[str, Any] = {}
    if getattr(model, "supports_warm_start", False):
        if init_weights is not None:
            kwargs["init_weights_from"] = init_weights
        if epochs is not None:
            kwargs["epochs"] = epochs
    model.fit(train_candles, **kwargs)
    path = Path(model_path)
    model.save(path)
    t_fit = time.perf_counter()
    forecasts, spread = forecast_slice(model, predict_candles, first_forecast)
    t_pred = time.perf_counter()
    return FoldResult(
        forecasts=forecasts,
        val_loss=float(getattr(model, "best_val_loss_", float("nan"))),
        epochs=int(getattr(model, "n_epochs_", 0)),
        model_hash=model.model_hash(),
        seconds=t_pred - t0,
        model_path=str(path),
        fit_seconds=t_fit - t0,
        predict_seconds=t_pred - t_fit,
        spread=spread,
    )


@dataclass(frozen=True)
class FoldInputs:
    """A fold's data slices and cache identity."""

    train: pd.DataFrame
    predict: pd.DataFrame
    first_ts: pd.Timestamp
    key: str
    entry: Path


def fold_inputs(
    forecaster: Any,
    schedule: WalkForwardSpec,
    candles: pd.DataFrame,
    plan: FoldPlan,
    store: FoldStore,
    parent_hash: str | None,
    epochs: int | None,
) -> FoldInputs:
    """A fold's training slice, prediction slice, first forecast time, cache key and entry
    folder in ``store`` (the walk-forward engine's, for ``forecaster`` on ``schedule``)."""
    train = candles.iloc[plan.train_start : plan.train_stop]
    first_ts = candles.index[plan.first_forecast]
    config = forecaster.config.to_dict()
    code = getattr(forecaster, "code_hash", None)
    if code is not None:  # a user's builder or estimator: editing its code retrains
        config = {**config, "code": code()}
    if int(getattr(forecaster.config, "mc_dropout", 0) or 0) > 0:  # stored MC forecasts' masks
        config = {**config, "mc_scheme": MC_SCHEME}
    cls = type(forecaster)
    if BUILTIN.get(forecaster.config.kind) is not cls:  # a user's class: its own folds
        config = {**config, "class": f"{cls.__module__}.{cls.__qualname__}"}
    key = fold_key(
        config=config,
        depends_on=tuple(getattr(forecaster, "depends_on", ())),
        train_hash=hash_candles(train),
        fold={
            "train_start": candles.index[plan.train_start].isoformat(),
            "train_end": candles.index[plan.train_stop - 1].isoformat(),
            "first_forecast": first_ts.isoformat(),
            "gap": schedule.gap_for(int(forecaster.config.horizon)),
            "expanding": bool(schedule.expanding),
        },
        parent_hash=parent_hash,
        epochs=epochs,
    )
    return FoldInputs(
        train=train,
        predict=candles.iloc[plan.context_start : plan.stop],
        first_ts=first_ts,
        key=key,
        entry=store.entry(key, plan.fold),
    )
