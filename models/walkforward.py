"""Walk-forward training and out-of-sample forecasting: the engine.

The schedule (which bars each fold trains on and forecasts, with purging) is a
:class:`~lstm_backtrader.models.schedule.WalkForwardSpec`; the fold cache is a
:class:`~lstm_backtrader.models.foldstore.FoldStore`; the forecaster is any object with the
:class:`~lstm_backtrader.models.forecaster.Forecaster` protocol (each fold starts from an
unfitted :func:`~lstm_backtrader.models.forecaster.clone` of it). This module runs them.

Training one fold is the pure function :func:`train_fold` (forecaster + data slices + optional
initial weights file in, arrays and file paths out: no Keras object crosses it). Independent
folds (no warm start) run through an executor
(:mod:`~lstm_backtrader.models.infra.executor`: local processes or a Dask cluster) as
:func:`run_fold_task` tasks returning forecasts and model-file bytes. A rerun reuses cached
folds; a changed input changes the key of the folds it touches (and, when warm starting, of
every later fold); a killed run resumes from the last committed fold. Stored forecasts are
reused only when the prediction slice's hash matches, otherwise they are recomputed from the
cached model (bit-identical to a fresh one).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.factory import BUILTIN
from lstm_backtrader.models.features import check_candles, check_feature_names, hash_candles
from lstm_backtrader.models.fold import (
    FoldPayload,
    FoldTask,
    fresh_forecaster,
    run_fold_task,
    train_fold,
)
from lstm_backtrader.models.foldstore import CACHE_VERSION, FoldStore, fold_key
from lstm_backtrader.models.infra.errors import InputError, ModelFileError
from lstm_backtrader.models.infra.executor import Executor
from lstm_backtrader.models.metrics import directional_accuracy, rmse
from lstm_backtrader.models.schedule import FoldPlan, WalkForwardSpec
from lstm_backtrader.models.targets import forecast_name, label_columns, target_series

logger = logging.getLogger(__name__)

__all__ = ["CACHE_VERSION", "FOLD_COLUMNS", "WalkForward", "WalkForwardResult", "train_fold"]

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

ProgressFn = Callable[[int, int, dict[str, Any]], None]


@dataclass(frozen=True)
class WalkForwardResult:
    """Out-of-sample forecasts of a walk-forward run.

    Attributes
    ----------
    forecasts
        ``forecast_fwd_ret_{h}`` (``forecast_fwd_up_{h}``, ``forecast_fwd_logvol_{h}`` for
        the other targets) over the whole input index; NaN before the first fold.
    folds
        One row per fold, columns :data:`FOLD_COLUMNS` (rmse and directional accuracy against
        the realised ``target_fwd_ret_{h}`` - or the config's target - where it is known;
        see :func:`_fold_metrics`).
    fold_id
        Per bar: the fold whose model made the forecast (-1 before the first model).
    model_cutoff
        Per bar: timestamp of the last bar of that fold's training slice (NaT before).
    age
        Per bar: bars since that cutoff (-1 before the first model).
    model_paths
        Per fold: the saved model in the fold cache (``None`` without a ``cache_dir``, where
        the models live in a temporary folder removed after the run).
    """

    forecasts: pd.Series
    folds: pd.DataFrame
    fold_id: pd.Series
    model_cutoff: pd.Series
    age: pd.Series
    model_paths: tuple[str | None, ...] = ()

    def frame(self) -> pd.DataFrame:
        """The per-bar outputs side by side (forecast, fold, model_cutoff, age)."""
        return pd.DataFrame(
            {
                "forecast": self.forecasts,
                "fold": self.fold_id,
                "model_cutoff": self.model_cutoff,
                "age": self.age,
            }
        )


def _fold_metrics(
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


@dataclass(frozen=True)
class _FoldInputs:
    """A fold's data slices and cache identity."""

    train: pd.DataFrame
    predict: pd.DataFrame
    first_ts: pd.Timestamp
    key: str
    entry: Path


class WalkForward:
    """Walk-forward engine: refit on the schedule, forecast out of sample.

    Parameters
    ----------
    forecaster
        A forecaster with the :class:`~lstm_backtrader.models.forecaster.Forecaster` protocol
        (only its hyperparameters are used: every fold fits a fresh clone), or a
        :class:`ForecasterConfig` of a built-in kind.
    schedule
        The :class:`~lstm_backtrader.models.schedule.WalkForwardSpec` (default: its defaults).
    cache_dir
        Folder of the content-addressed fold cache (None: a private temporary one).
    progress
        Called once before the first fold as ``progress(-1, n_folds, {})``, then after each
        fold as ``progress(fold_index, n_folds, fold_row)``.
    executor
        Runs independent folds (no warm start, or a forecaster without one) through a
        :mod:`~lstm_backtrader.models.infra.executor` executor (local processes, Dask);
        ``None`` trains them here, one after the other. Warm-started folds depend on each other
        and always run here. The results are identical either way.
    """

    def __init__(
        self,
        forecaster: Any,
        schedule: WalkForwardSpec | None = None,
        *,
        cache_dir: str | Path | None = None,
        progress: ProgressFn | None = None,
        executor: Executor | None = None,
    ) -> None:
        if schedule is not None and not isinstance(schedule, WalkForwardSpec):
            raise InputError(
                f"WalkForward schedule is a {type(schedule).__name__}: pass a WalkForwardSpec"
            )
        self.forecaster = fresh_forecaster(forecaster)
        self.schedule = WalkForwardSpec() if schedule is None else schedule
        self.cache_dir = cache_dir
        self.progress = progress
        self.executor = executor

    def replace(self, **changes: Any) -> WalkForward:
        """A copy with some parameters changed (e.g. ``cache_dir``)."""
        params = {
            "forecaster": self.forecaster,
            "schedule": self.schedule,
            "cache_dir": self.cache_dir,
            "progress": self.progress,
            "executor": self.executor,
        }
        return WalkForward(**{**params, **changes})

    @property
    def config(self) -> ForecasterConfig:
        """The forecaster configuration every fold is built from."""
        return self.forecaster.config

    @property
    def warm(self) -> bool:
        """Whether folds warm start from their predecessor (and so run in order, here)."""
        return self.schedule.warm_start and getattr(self.forecaster, "supports_warm_start", False)

    def plan(self, n_bars: int) -> list[FoldPlan]:
        """Fold boundaries for an input of ``n_bars`` bars."""
        return self.schedule.plan(
            n_bars,
            horizon=int(self.config.horizon),
            context_bars=int(self.forecaster.context_bars),
        )

    # ------------------------------------------------------------------ run
    def run(self, candles: pd.DataFrame) -> WalkForwardResult:
        """Walk forward over ``candles`` and return the combined out-of-sample forecasts."""
        check_candles(candles, columns=label_columns(self.config), what="walk-forward candles")
        features = getattr(self.config, "features", ())
        check_feature_names(features, candles.columns)  # before any training
        n = len(candles)
        plans = self.plan(n)
        fc = np.full(n, np.nan)
        fold_id = np.full(n, -1, dtype=np.int64)
        cutoff_pos = np.full(n, -1, dtype=np.int64)
        realised = target_series(candles, self.config).to_numpy()
        rows: list[dict[str, Any]] = []
        if not plans:
            logger.warning(
                "walk-forward: %d bars <= train_bars %d: no fold", n, self.schedule.train_bars
            )
        warm = self.warm
        parent_path: str | None = None
        parent_hash: str | None = None
        model_paths: list[str | None] = []
        if self.progress is not None and plans:
            self.progress(-1, len(plans), {})  # the number of folds is known before training
        with FoldStore(self.cache_dir) as store:
            trained: dict[int, FoldPayload] = {}
            parallel = self.executor is not None and not warm
            if self.executor is not None and warm and self.executor.workers > 1:
                logger.info("walk-forward: warm-started folds depend on each other: run here")
            # independent folds go to the executor a group at a time and are stored as each
            # group ends, so a killed run resumes from the last finished group
            group = max(4, 2 * self.executor.workers) if self.executor is not None else 0
            for i, plan in enumerate(plans):
                if parallel and i % group == 0:
                    trained = self._train_independent(candles, plans[i : i + group], store)
                row = self.run_fold(
                    candles, plan, store, parent_path if warm else None, parent_hash,
                    trained.get(plan.fold),
                )  # fmt: skip
                sl = slice(plan.first_forecast, plan.stop)
                fc[sl] = row.pop("_forecasts")
                fold_id[sl] = plan.fold
                cutoff_pos[sl] = plan.train_stop - 1
                parent_path = row.pop("_model_path")
                model_paths.append(parent_path if store.cached else None)
                parent_hash = row["model_hash"]
                row["rmse"], row["directional_accuracy"] = _fold_metrics(
                    fc[sl], realised[sl], self.config.target
                )
                rows.append(row)
                logger.info(
                    "fold %d/%d %s..%s epochs=%s val_loss=%.4g rmse=%.4g %s in %.1fs",
                    plan.fold + 1,
                    len(plans),
                    row["first_forecast"].date(),
                    row["last_forecast"].date(),
                    row["epochs"],
                    row["val_loss"],
                    row["rmse"],
                    "cached" if row["cached"] else "trained",
                    row["seconds"],
                )
                if self.progress is not None:
                    self.progress(plan.fold, len(plans), dict(row))

        index = candles.index
        has = cutoff_pos >= 0
        cutoff_ts = pd.Series(pd.NaT, index=index, dtype=index.dtype, name="model_cutoff")
        cutoff_ts[has] = index[cutoff_pos[has]]
        age = np.where(has, np.arange(n) - cutoff_pos, -1)
        folds = pd.DataFrame(rows, columns=list(FOLD_COLUMNS))
        return WalkForwardResult(
            forecasts=pd.Series(fc, index=index, name=forecast_name(self.config)),
            folds=folds,
            fold_id=pd.Series(fold_id, index=index, name="fold"),
            model_cutoff=cutoff_ts,
            age=pd.Series(age.astype(np.int64), index=index, name="age"),
            model_paths=tuple(model_paths),
        )

    def _fold_inputs(
        self,
        candles: pd.DataFrame,
        plan: FoldPlan,
        store: FoldStore,
        parent_hash: str | None,
        epochs: int | None,
    ) -> _FoldInputs:
        """Training slice, prediction slice, first forecast time, cache key and entry folder."""
        train = candles.iloc[plan.train_start : plan.train_stop]
        first_ts = candles.index[plan.first_forecast]
        config = self.config.to_dict()
        code = getattr(self.forecaster, "code_hash", None)
        if code is not None:  # a user's builder or estimator: editing its code retrains
            config = {**config, "code": code()}
        cls = type(self.forecaster)
        if BUILTIN.get(self.config.kind) is not cls:  # a user's class: its own folds
            config = {**config, "class": f"{cls.__module__}.{cls.__qualname__}"}
        key = fold_key(
            config=config,
            depends_on=tuple(getattr(self.forecaster, "depends_on", ())),
            train_hash=hash_candles(train),
            fold={
                "train_start": candles.index[plan.train_start].isoformat(),
                "train_end": candles.index[plan.train_stop - 1].isoformat(),
                "first_forecast": first_ts.isoformat(),
                "gap": self.schedule.gap_for(int(self.config.horizon)),
                "expanding": bool(self.schedule.expanding),
            },
            parent_hash=parent_hash,
            epochs=epochs,
        )
        return _FoldInputs(
            train=train,
            predict=candles.iloc[plan.context_start : plan.stop],
            first_ts=first_ts,
            key=key,
            entry=store.entry(key, plan.fold),
        )

    def run_fold(
        self,
        candles: pd.DataFrame,
        plan: FoldPlan,
        store: FoldStore,
        parent_path: str | None,
        parent_hash: str | None,
        payload: FoldPayload | None = None,
    ) -> dict[str, Any]:
        """Train (or load from ``store``) the fold ``plan`` of ``candles`` and forecast its bars.

        The one place a fold's model is made: :meth:`run` calls it for every fold of the
        history, and ``LSTMForecast``'s bar-by-bar path for the bars it holds (a ``plan`` over
        its window), so both find each other's folds under the same cache key.

        Parameters
        ----------
        candles
            Bars holding the fold's training slice, its first forecast's context and its
            forecast bars, at the positions of ``plan``.
        plan
            The fold's positions in ``candles``.
        store
            The fold cache (or a private folder).
        parent_path, parent_hash
            Warm start: the previous fold's model file and hash (``None``: from scratch).
        payload
            A fold already trained by an executor, to be stored.

        Returns
        -------
        dict
            The fold-table row, plus ``_forecasts`` (the fold's forecasts) and ``_model_path``
            (its model in the store).
        """
        epochs = self.schedule.warm_start_epochs if parent_path is not None else None
        fi = self._fold_inputs(
            candles, plan, store, parent_hash if parent_path is not None else None, epochs
        )
        model_path = fi.entry / "model.keras"
        predict_hash = hash_candles(fi.predict)
        n_forecasts = plan.stop - plan.first_forecast
        base = {
            "fold": plan.fold,
            "train_start": candles.index[plan.train_start],
            "train_end": candles.index[plan.train_stop - 1],
            "first_forecast": fi.first_ts,
            "last_forecast": candles.index[plan.stop - 1],
        }
        meta = store.read(fi.entry, fi.key) if payload is None and store.cached else None
        if meta is not None:
            t0 = time.perf_counter()
            try:
                forecasts = store.stored_forecasts(fi.entry, meta, predict_hash, n_forecasts)
                if forecasts is None:
                    forecasts = self._forecast_with(model_path, fi.predict, fi.first_ts)
            except (ModelFileError, OSError, ValueError) as exc:
                logger.warning("fold cache %s: unusable (%s); retraining", fi.entry, exc)
            else:
                seconds = time.perf_counter() - t0
                return {
                    **base,
                    "val_loss": meta["val_loss"],
                    "epochs": meta["epochs"],
                    "model_hash": meta["model_hash"],
                    "seconds": seconds,
                    "fit_seconds": 0.0,
                    "predict_seconds": seconds,
                    "cached": True,
                    "_forecasts": forecasts,
                    "_model_path": str(model_path),
                }

        # built in a private folder and renamed into place when complete, so runs sharing a
        # cache (sweep trials, several machines) never see or delete half-written folds
        work = store.workdir(fi.entry)
        if payload is not None:  # trained by the executor: store its files here
            store.write_files(work, payload.files)
            res = dataclasses.replace(payload.result, model_path=str(work / "model.keras"))
        else:
            res = train_fold(
                self.forecaster,
                fi.train,
                fi.predict,
                fi.first_ts,
                work / "model.keras",
                init_weights=parent_path,
                epochs=epochs,
            )
        if len(res.forecasts) != n_forecasts:
            raise RuntimeError(
                f"fold {plan.fold}: {len(res.forecasts)} forecasts for {n_forecasts} bars"
            )
        if store.cached:
            store.commit(
                work,
                fi.key,
                res.forecasts,
                predict_hash,
                {
                    "val_loss": None if np.isnan(res.val_loss) else res.val_loss,
                    "epochs": res.epochs,
                    "model_hash": res.model_hash,
                    "seconds": res.seconds,
                },
            )
            store.publish(work, fi.entry, fi.key)
        return {
            **base,
            "val_loss": res.val_loss,
            "epochs": res.epochs,
            "model_hash": res.model_hash,
            "seconds": res.seconds,
            "fit_seconds": res.fit_seconds,
            "predict_seconds": res.predict_seconds,
            "cached": False,
            "_forecasts": res.forecasts,
            "_model_path": str(model_path),
        }

    def _forecast_with(
        self, model_path: Path, predict: pd.DataFrame, first_ts: pd.Timestamp
    ) -> np.ndarray:
        """Forecasts of a stored fold model (when the stored ones are of another slice)."""
        model = type(self.forecaster).load(model_path)
        pos = int(predict.index.searchsorted(first_ts))
        return model.predict(predict).to_numpy(dtype="float64")[pos:]

    def _train_independent(
        self, candles: pd.DataFrame, plans: list[FoldPlan], store: FoldStore
    ) -> dict[int, FoldPayload]:
        """Train every fold not in the cache through the executor (folds are independent)."""
        assert self.executor is not None
        todo: list[int] = []
        tasks: list[FoldTask] = []
        for plan in plans:
            fi = self._fold_inputs(candles, plan, store, None, None)
            if store.cached and store.read(fi.entry, fi.key) is not None:
                continue
            todo.append(plan.fold)
            tasks.append(FoldTask(self.forecaster, fi.train, fi.predict, fi.first_ts))
        if not tasks:
            return {}
        logger.info(
            "walk-forward: training %d independent folds on %s", len(tasks), self.executor.name
        )
        payloads = self.executor.map(run_fold_task, tasks)
        return dict(zip(todo, payloads, strict=True))
