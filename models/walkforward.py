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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.conformal import IntervalSpec
from lstm_backtrader.models.ensemble import member_params
from lstm_backtrader.models.features import check_candles, check_feature_names, hash_candles
from lstm_backtrader.models.fold import (
    FoldPayload,
    FoldTask,
    fold_inputs,
    forecast_slice,
    fresh_forecaster,
    run_fold_task,
    train_fold,
)
from lstm_backtrader.models.foldstore import CACHE_VERSION, FoldStore, npy_bytes
from lstm_backtrader.models.infra.errors import InputError, ModelFileError
from lstm_backtrader.models.infra.executor import Executor
from lstm_backtrader.models.infra.fileio import atomic_write_bytes
from lstm_backtrader.models.schedule import (
    FoldPlan,
    ModelSwitches,
    WalkForwardSpec,
    switch_positions,
)
from lstm_backtrader.models.targets import forecast_name, label_columns, target_series
from lstm_backtrader.models.wfresult import (
    FOLD_COLUMNS,
    ProgressFn,
    WalkForwardResult,
    combine_results,
    fold_metrics,
    spread_name,
    with_intervals,
)

logger = logging.getLogger(__name__)

__all__ = [
    "CACHE_VERSION", "FOLD_COLUMNS", "IntervalSpec", "WalkForward", "WalkForwardResult",
    "train_fold",
]  # fmt: skip


@dataclass(frozen=True)
class MemberTask:
    """One ensemble member's whole walk-forward, for an executor (plain, picklable data)."""

    forecaster: Any
    schedule: WalkForwardSpec
    cache_dir: str | Path | None
    candles: pd.DataFrame
    switches: Any = None


def run_member(task: MemberTask) -> WalkForwardResult:
    """Run one ensemble member's walk-forward (in any process)."""
    wf = WalkForward(
        task.forecaster, task.schedule, cache_dir=task.cache_dir, switches=task.switches
    )
    return wf.run(task.candles)


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
    intervals
        Conformal intervals around the forecasts (:class:`IntervalSpec`), or ``None``.
    switches
        When each fold's model took over in a live session (:class:`ModelSwitches`): fold k - 1
        forecasts until then. ``None``: every fold's model takes over on its first forecast bar.
    """

    def __init__(
        self,
        forecaster: Any,
        schedule: WalkForwardSpec | None = None,
        *,
        cache_dir: str | Path | None = None,
        progress: ProgressFn | None = None,
        executor: Executor | None = None,
        intervals: IntervalSpec | None = None,
        switches: ModelSwitches | Any = None,
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
        if intervals is not None and not isinstance(intervals, IntervalSpec):
            raise InputError(
                f"WalkForward intervals is a {type(intervals).__name__}: pass an IntervalSpec"
            )
        self.intervals = intervals
        if switches is not None and not callable(getattr(switches, "at", None)):
            raise InputError(
                f"WalkForward switches is a {type(switches).__name__}: pass a ModelSwitches"
            )
        self.switches = switches

    def replace(self, **changes: Any) -> WalkForward:
        """A copy with some parameters changed (e.g. ``cache_dir``)."""
        params = {
            "forecaster": self.forecaster,
            "schedule": self.schedule,
            "cache_dir": self.cache_dir,
            "progress": self.progress,
            "executor": self.executor,
            "intervals": self.intervals,
            "switches": self.switches,
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
        """Walk forward over ``candles`` and return the combined out-of-sample forecasts
        (the members' mean and spread with an ensemble; intervals when :attr:`intervals`)."""
        if int(getattr(self.config, "ensemble", 1)) > 1:
            result = self._run_ensemble(candles)
        else:
            result = self._run_one(candles)
        if self.intervals is None or not self.intervals.on:
            return result
        realised = target_series(candles, self.config).to_numpy(dtype="float64")
        return with_intervals(
            result, realised, int(self.config.horizon), self.config.target, self.intervals
        )

    def _run_one(self, candles: pd.DataFrame) -> WalkForwardResult:
        """The walk-forward of one network (or baseline)."""
        check_candles(candles, columns=label_columns(self.config), what="walk-forward candles")
        features = getattr(self.config, "features", ())
        check_feature_names(features, candles.columns)  # before any training
        n = len(candles)
        plans, starts = self._used_plans(candles)
        fc = np.full(n, np.nan)
        spread = np.full(n, np.nan)
        has_spread = False
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
                skip = starts[i] - plan.first_forecast  # bars fold i - 1 still forecast
                sl = slice(starts[i], plan.stop)
                fc[sl] = row.pop("_forecasts")[skip:]
                if "_spread" in row:
                    spread[sl] = row.pop("_spread")[skip:]
                    has_spread = True
                fold_id[sl] = plan.fold
                cutoff_pos[sl] = plan.train_stop - 1
                parent_path = row.pop("_model_path")
                model_paths.append(parent_path if store.cached else None)
                parent_hash = row["model_hash"]
                row["rmse"], row["directional_accuracy"] = fold_metrics(
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
        name = forecast_name(self.config)
        return WalkForwardResult(
            forecasts=pd.Series(fc, index=index, name=name),
            folds=folds,
            fold_id=pd.Series(fold_id, index=index, name="fold"),
            model_cutoff=cutoff_ts,
            age=pd.Series(age.astype(np.int64), index=index, name="age"),
            model_paths=tuple(model_paths),
            spread=pd.Series(spread, index=index, name=spread_name(name)) if has_spread else None,
        )

    def _used_plans(self, candles: pd.DataFrame) -> tuple[list[FoldPlan], list[int]]:
        """The folds whose models forecast some bar, each forecasting (``stop``) until the next
        one takes over, and the first bar each forecasts (its first forecast bar without
        :attr:`switches`)."""
        plans = self.plan(len(candles))
        if self.switches is None:
            return plans, [plan.first_forecast for plan in plans]
        n = len(candles)
        starts = switch_positions(self.switches, candles.index.as_unit("ns").asi8, plans)
        used = [k for k, start in enumerate(starts) if start < n]
        plans = [
            dataclasses.replace(plans[k], stop=starts[k + 1] if k + 1 in used else n) for k in used
        ]
        return plans, starts[: len(plans)]

    def _run_ensemble(self, candles: pd.DataFrame) -> WalkForwardResult:
        """k member walk-forwards (member i: :func:`member_params` i), combined per bar.

        Without warm start each member runs its folds through the executor in turn; with
        warm start the members' chains go to the executor side by side (member i warm starts
        from member i of the previous fold). Same numbers either way."""
        k = int(self.config.ensemble)
        params = self.forecaster.get_params()
        members = [type(self.forecaster)(**member_params(params, i)) for i in range(k)]
        if self.progress is not None:
            self.progress(-1, len(self.plan(len(candles))), {})
        if self.executor is not None and self.warm:
            tasks = [
                MemberTask(m, self.schedule, self.cache_dir, candles, self.switches)
                for m in members
            ]
            logger.info("walk-forward: %d ensemble members on %s", k, self.executor.name)
            results = list(self.executor.map(run_member, tasks))
        else:
            results = [
                self.replace(forecaster=m, progress=None, intervals=None)._run_one(candles)
                for m in members
            ]
        realised = target_series(candles, self.config).to_numpy(dtype="float64")
        result = combine_results(results, realised, self.config.target)
        if self.progress is not None:
            for _, row in result.folds.iterrows():
                self.progress(int(row["fold"]), len(result.folds), row.to_dict())
        return result

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
        fi = fold_inputs(
            self.forecaster,
            self.schedule,
            candles,
            plan,
            store,
            parent_hash if parent_path is not None else None,
            epochs,
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
                spread = None
                if forecasts is not None and (fi.entry / "spread.npy").is_file():
                    spread = np.load(fi.entry / "spread.npy", allow_pickle=False)
                if forecasts is None or (self.config.mc_dropout and spread is None):
                    forecasts, spread = self._forecast_with(model_path, fi.predict, fi.first_ts)
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
                    **({} if spread is None else {"_spread": spread}),
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
        if res.spread is not None:
            atomic_write_bytes(work / "spread.npy", npy_bytes(res.spread))
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
            **({} if res.spread is None else {"_spread": res.spread}),
        }

    def _forecast_with(
        self, model_path: Path, predict: pd.DataFrame, first_ts: pd.Timestamp
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Forecasts (and MC spread) of a stored fold model (when the stored ones are of
        another slice)."""
        return forecast_slice(type(self.forecaster).load(model_path), predict, first_ts)

    def _train_independent(
        self, candles: pd.DataFrame, plans: list[FoldPlan], store: FoldStore
    ) -> dict[int, FoldPayload]:
        """Train every fold not in the cache through the executor (folds are independent)."""
        assert self.executor is not None
        todo: list[int] = []
        tasks: list[FoldTask] = []
        for plan in plans:
            fi = fold_inputs(self.forecaster, self.schedule, candles, plan, store, None, None)
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
