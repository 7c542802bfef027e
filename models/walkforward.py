"""Walk-forward training and out-of-sample forecasting, with purging and a fold cache.

Fold k (k = 0, 1, ...) makes the forecasts of bars ``f_k .. f_{k+1}-1`` where
``f_k = train_bars + k * retrain_every`` (positions in the input, anchored at its *start*, so
deleting bars at the end never moves an earlier fold). It is trained on the bars before
``f_k``: rolling ``[f_k - train_bars, f_k - (gap - h))`` or expanding ``[0, f_k - (gap - h))``.
Labels are only used when fully inside that slice, so the last training label
``log(close[t+h]/close[t])`` has ``t = f_k - 1 - gap`` and ends at bar ``f_k - 1 - gap + h``,
before the first forecast bar (``gap >= h`` is required; ``gap = h``, the default, purges
exactly the overlapping labels; a larger gap adds an embargo). The lookback context of the
first forecasts reaches back into the training period: that is data, not labels.

Training one fold is the pure function :func:`train_fold` (config + data slices + optional
initial weights file in, arrays and file paths out: no Keras object crosses it). Independent
folds (``warm_start=False``) run through an executor (:mod:`lstm_backtrader.models.infra.executor`:
local processes or a Dask cluster) as :func:`run_fold_task` tasks returning forecasts and model-file
bytes.

Fold cache (``cache_dir``)
--------------------------
``cache_dir/folds/<key>/`` holds ``model.keras`` (LSTM only), ``model.json`` (sidecar),
``forecasts.npy`` and ``fold.json`` (the commit marker, with the SHA-256 of each file). An
entry is built in a private ``folds/.tmp-<uuid>/`` folder and renamed into place when
complete, so runs sharing a cache (concurrent sweep trials, several machines) never read or
delete each other's half-written folds; if two runs publish the same key, the first one stays
(same key, same inputs, same forecasts). ``key`` = SHA-256 of (:data:`CACHE_VERSION`,
numpy/pandas/TensorFlow/Keras versions, forecaster config, training-slice hash, fold
parameters, warm-start parent's model hash and epochs). A rerun reuses entries; a changed
input changes the key of the folds it touches (and, when warm starting, of every later fold);
a killed run resumes from the last committed fold; an entry that fails its checks is logged,
deleted and retrained. Stored forecasts are reused only when the prediction slice's hash
matches, otherwise they are recomputed from the cached model (bit-identical to a fresh one).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstm_backtrader.models.config import ForecasterConfig, build_forecaster
from lstm_backtrader.models.features import check_candles, hash_candles, target_fwd_ret
from lstm_backtrader.models.infra.errors import InputError, ModelFileError
from lstm_backtrader.models.infra.executor import Executor
from lstm_backtrader.models.infra.fileio import (
    atomic_write_bytes,
    atomic_write_text,
    sha256_bytes,
    sha256_file,
)
from lstm_backtrader.models.infra.versions import installed_versions
from lstm_backtrader.models.metrics import directional_accuracy, rmse
from lstm_backtrader.models.persist import load_forecaster, sidecar_path

logger = logging.getLogger(__name__)

#: Part of every cache key: bump when training, features or the artifact layout change.
CACHE_VERSION = "lstm-backtrader/wf-fold/2"

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
class FoldPlan:
    """Positions (into the input frame) of one fold; ``*_stop`` are exclusive."""

    fold: int
    train_start: int
    train_stop: int
    first_forecast: int
    stop: int
    context_start: int


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


@dataclass(frozen=True)
class FoldTask:
    """One independent fold for an executor: a config and data slices, nothing Keras."""

    config: ForecasterConfig
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
            task.config,
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


@dataclass(frozen=True)
class WalkForwardResult:
    """Out-of-sample forecasts of a walk-forward run.

    Attributes
    ----------
    forecasts
        ``forecast_fwd_ret_{h}`` over the whole input index; NaN before the first fold.
    folds
        One row per fold, columns :data:`FOLD_COLUMNS` (rmse and directional accuracy against
        the realised ``target_fwd_ret_{h}`` where it is known).
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


def _library_versions(kind: str) -> dict[str, str]:
    """Versions a trained fold depends on: a library upgrade must not reuse old folds."""
    names = ("numpy", "pandas") + (("tensorflow", "keras") if kind == "lstm" else ())
    return installed_versions(names)


def plan_folds(
    n_bars: int,
    *,
    train_bars: int,
    retrain_every: int,
    horizon: int,
    gap: int,
    context_bars: int,
    expanding: bool = False,
) -> list[FoldPlan]:
    """Fold boundaries anchored at the start of the series (see the module docstring)."""
    if gap < horizon:
        raise InputError(
            f"walk-forward gap is {gap} but the horizon is {horizon}: labels would reach into the "
            "forecast period; use gap >= horizon"
        )
    plans: list[FoldPlan] = []
    k = 0
    while (first := train_bars + k * retrain_every) < n_bars:
        plans.append(
            FoldPlan(
                fold=k,
                train_start=0 if expanding else first - train_bars,
                train_stop=first - (gap - horizon),
                first_forecast=first,
                stop=min(first + retrain_every, n_bars),
                context_start=max(0, first - context_bars + 1),
            )
        )
        k += 1
    return plans


def _npy_bytes(values: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(values, dtype="float64"), allow_pickle=False)
    return buf.getvalue()


def train_fold(
    config: ForecasterConfig,
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
    config
        Forecaster configuration.
    train_candles
        The fold's training slice (every label inside it is used).
    predict_candles
        Context + forecast bars; forecasts are returned for the bars >= ``first_forecast``.
    first_forecast
        Timestamp of the fold's first forecast bar.
    model_path
        Where to save the model (``.keras``; baselines write only the ``.json`` sidecar).
    init_weights
        Warm start from this saved ``.keras`` model (LSTM only; ignored by baselines).
    epochs
        Override of ``config.epochs``.
    """
    t0 = time.perf_counter()
    forecaster = build_forecaster(config)
    kwargs: dict[str, Any] = {}
    if init_weights is not None and config.kind == "lstm":
        kwargs["init_weights_from"] = init_weights
    if epochs is not None and config.kind == "lstm":
        kwargs["epochs"] = epochs
    forecaster.fit(train_candles, **kwargs)
    path = Path(model_path)
    forecaster.save(path)
    t_fit = time.perf_counter()
    pos = int(predict_candles.index.searchsorted(first_forecast))
    forecasts = forecaster.predict(predict_candles).to_numpy(dtype="float64")[pos:]
    t_pred = time.perf_counter()
    return FoldResult(
        forecasts=forecasts,
        val_loss=float(getattr(forecaster, "best_val_loss_", float("nan"))),
        epochs=int(getattr(forecaster, "n_epochs_", 0)),
        model_hash=forecaster.model_hash(),
        seconds=t_pred - t0,
        model_path=str(path),
        fit_seconds=t_fit - t0,
        predict_seconds=t_pred - t_fit,
    )


def _fold_metrics(forecast: np.ndarray, realised: np.ndarray) -> tuple[float, float]:
    """RMSE and directional accuracy over the bars where both are known (NaN if none)."""
    ok = np.isfinite(forecast) & np.isfinite(realised)
    if not ok.any():
        return float("nan"), float("nan")
    f, r = forecast[ok], realised[ok]
    return float(rmse(f, r)), float(directional_accuracy(f, r))


class WalkForward:
    """Walk-forward engine: retrain every ``retrain_every`` bars, forecast out of sample.

    Parameters
    ----------
    forecaster
        An (unfitted) forecaster with a ``config`` (LSTM or baseline), or a
        :class:`ForecasterConfig`. Only its configuration is used.
    train_bars
        Position of the first forecast bar and, when rolling, the training window length.
    retrain_every
        Bars between refits (each fold forecasts this many bars; the last may be shorter).
    expanding
        Train on everything before the fold instead of the last ``train_bars`` bars.
    gap
        Purge: the last training label is that of bar ``first_forecast - 1 - gap``; defaults
        to the horizon (exactly the overlapping labels purged); must be >= horizon.
    warm_start
        LSTM only: start each fold from the previous fold's weights and train
        ``warm_start_epochs`` epochs (the first fold trains ``config.epochs``); the scaler is
        refitted every fold. ``False`` makes folds independent.
    warm_start_epochs
        Maximum epochs of a warm-started fold.
    cache_dir
        Folder of the content-addressed fold cache (None: no cache).
    progress
        Called after each fold as ``progress(fold_index, n_folds, fold_row)``.
    executor
        Runs independent folds (``warm_start=False`` or baselines) through a
        :mod:`lstm_backtrader.models.infra.executor` executor (local processes, Dask); ``None``
        trains them here, one after the other. Warm-started folds depend on each other and always
        run here. The results are identical either way.
    """

    def __init__(
        self,
        forecaster: Any,
        train_bars: int = 730,
        retrain_every: int = 30,
        expanding: bool = False,
        gap: int | None = None,
        warm_start: bool = True,
        warm_start_epochs: int = 2,
        cache_dir: str | Path | None = None,
        progress: ProgressFn | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.forecaster = forecaster
        self.train_bars = train_bars
        self.retrain_every = retrain_every
        self.expanding = expanding
        self.gap = gap
        self.warm_start = warm_start
        self.warm_start_epochs = warm_start_epochs
        self.cache_dir = cache_dir
        self.progress = progress
        self.executor = executor

    def replace(self, **changes: Any) -> WalkForward:
        """A copy with some parameters changed (e.g. ``cache_dir``)."""
        params = {
            name: getattr(self, name)
            for name in ("forecaster", "train_bars", "retrain_every", "expanding", "gap",
                         "warm_start", "warm_start_epochs", "cache_dir", "progress",
                         "executor")
        }  # fmt: skip
        return WalkForward(**{**params, **changes})

    @property
    def config(self) -> ForecasterConfig:
        """The forecaster configuration every fold is built from."""
        if isinstance(self.forecaster, ForecasterConfig):
            return self.forecaster
        return self.forecaster.config

    def _context_bars(self) -> int:
        return int(build_forecaster(self.config).context_bars)

    def plan(self, n_bars: int) -> list[FoldPlan]:
        """Fold boundaries for an input of ``n_bars`` bars."""
        cfg = self.config
        for name in ("train_bars", "retrain_every", "warm_start_epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InputError(f"WalkForward {name} is {value!r}: use an integer >= 1")
        gap = cfg.horizon if self.gap is None else int(self.gap)
        return plan_folds(
            n_bars,
            train_bars=self.train_bars,
            retrain_every=self.retrain_every,
            horizon=cfg.horizon,
            gap=gap,
            context_bars=self._context_bars(),
            expanding=self.expanding,
        )

    # ------------------------------------------------------------------ cache
    def _cache_key(
        self,
        train_hash: str,
        plan: FoldPlan,
        candles: pd.DataFrame,
        parent_hash: str | None,
        epochs: int | None,
    ) -> str:
        cfg = self.config
        doc = {
            "version": CACHE_VERSION,
            "libraries": _library_versions(cfg.kind),
            "config": cfg.to_dict(),
            "train_hash": train_hash,
            "fold": {
                "train_start": candles.index[plan.train_start].isoformat(),
                "train_end": candles.index[plan.train_stop - 1].isoformat(),
                "first_forecast": candles.index[plan.first_forecast].isoformat(),
                "gap": cfg.horizon if self.gap is None else int(self.gap),
                "expanding": bool(self.expanding),
            },
            "parent": parent_hash,
            "epochs": epochs,
        }
        return sha256_bytes(json.dumps(doc, sort_keys=True).encode())

    @staticmethod
    def _read_entry(entry: Path, key: str) -> dict[str, Any] | None:
        """The committed metadata of a cache entry, or None when absent or failing a check."""
        meta_path = entry / "fold.json"
        if not meta_path.exists():
            if entry.exists():
                logger.warning("fold cache %s: incomplete entry (no fold.json); retraining", entry)
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("key") != key:
                raise ValueError("key mismatch")
            for name, digest in meta["files"].items():
                if sha256_file(entry / name) != digest:
                    raise ValueError(f"{name} hash mismatch")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("fold cache %s: corrupt entry (%s); retraining", entry, exc)
            return None
        return meta

    # ------------------------------------------------------------------ run
    def run(self, candles: pd.DataFrame) -> WalkForwardResult:
        """Walk forward over ``candles`` and return the combined out-of-sample forecasts."""
        check_candles(candles, columns=("close",), what="walk-forward candles")
        cfg = self.config
        n = len(candles)
        plans = self.plan(n)
        h = cfg.horizon
        fc = np.full(n, np.nan)
        fold_id = np.full(n, -1, dtype=np.int64)
        cutoff_pos = np.full(n, -1, dtype=np.int64)
        realised = target_fwd_ret(candles["close"], h).to_numpy()
        rows: list[dict[str, Any]] = []
        if not plans:
            logger.warning("walk-forward: %d bars <= train_bars %d: no fold", n, self.train_bars)

        tmp_root: Path | None = None
        if self.cache_dir is None:
            tmp_root = Path(tempfile.mkdtemp(prefix="walkforward-"))
            root = tmp_root
        else:
            root = Path(self.cache_dir).expanduser() / "folds"
            if root.is_dir():
                self._sweep_stale(root)
        warm = bool(self.warm_start) and cfg.kind == "lstm"
        parent_path: str | None = None
        parent_hash: str | None = None
        model_paths: list[str | None] = []
        try:
            trained: dict[int, FoldPayload] = {}
            parallel = self.executor is not None and not warm
            if self.executor is not None and warm and self.executor.workers > 1:
                logger.info("walk-forward: warm-started folds depend on each other: run here")
            # independent folds go to the executor a group at a time and are stored as each
            # group ends, so a killed run resumes from the last finished group
            group = max(4, 2 * self.executor.workers) if self.executor is not None else 0
            for i, plan in enumerate(plans):
                if parallel and i % group == 0:
                    trained = self._train_independent(candles, plans[i : i + group], root)
                row = self._run_fold(
                    candles, plan, root, warm, parent_path, parent_hash, trained.get(plan.fold)
                )
                sl = slice(plan.first_forecast, plan.stop)
                fc[sl] = row.pop("_forecasts")
                fold_id[sl] = plan.fold
                cutoff_pos[sl] = plan.train_stop - 1
                parent_path = row.pop("_model_path")
                model_paths.append(parent_path if self.cache_dir is not None else None)
                parent_hash = row["model_hash"]
                row["rmse"], row["directional_accuracy"] = _fold_metrics(fc[sl], realised[sl])
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
        finally:
            if tmp_root is not None:
                shutil.rmtree(tmp_root, ignore_errors=True)

        index = candles.index
        has = cutoff_pos >= 0
        cutoff_ts = pd.Series(pd.NaT, index=index, dtype=index.dtype, name="model_cutoff")
        cutoff_ts[has] = index[cutoff_pos[has]]
        age = np.where(has, np.arange(n) - cutoff_pos, -1)
        folds = pd.DataFrame(rows, columns=list(FOLD_COLUMNS))
        return WalkForwardResult(
            forecasts=pd.Series(fc, index=index, name=f"forecast_fwd_ret_{h}"),
            folds=folds,
            fold_id=pd.Series(fold_id, index=index, name="fold"),
            model_cutoff=cutoff_ts,
            age=pd.Series(age.astype(np.int64), index=index, name="age"),
            model_paths=tuple(model_paths),
        )

    def _run_fold(
        self,
        candles: pd.DataFrame,
        plan: FoldPlan,
        root: Path,
        warm: bool,
        parent_path: str | None,
        parent_hash: str | None,
        payload: FoldPayload | None = None,
    ) -> dict[str, Any]:
        cfg = self.config
        use_parent = warm and parent_path is not None
        epochs = self.warm_start_epochs if use_parent else None
        train, predict_slice, first_ts, key, entry = self._fold_inputs(
            candles, plan, root, parent_hash if use_parent else None, epochs
        )
        model_path = entry / "model.keras"
        predict_hash = hash_candles(predict_slice)
        base = {
            "fold": plan.fold,
            "train_start": candles.index[plan.train_start],
            "train_end": candles.index[plan.train_stop - 1],
            "first_forecast": first_ts,
            "last_forecast": candles.index[plan.stop - 1],
        }

        cached = payload is None and self.cache_dir is not None
        meta = self._read_entry(entry, key) if cached else None
        if meta is not None:
            t0 = time.perf_counter()
            try:
                forecasts = self._cached_forecasts(
                    entry, meta, predict_slice, predict_hash, first_ts, plan
                )
            except (ModelFileError, OSError, ValueError) as exc:
                logger.warning("fold cache %s: unusable (%s); retraining", entry, exc)
                meta = None
            else:
                return {
                    **base,
                    "val_loss": meta["val_loss"],
                    "epochs": meta["epochs"],
                    "model_hash": meta["model_hash"],
                    "seconds": time.perf_counter() - t0,
                    "fit_seconds": 0.0,
                    "predict_seconds": time.perf_counter() - t0,
                    "cached": True,
                    "_forecasts": forecasts,
                    "_model_path": str(model_path),
                }

        # a cache entry is built in a private folder and renamed into place when complete, so
        # runs sharing a cache (sweep trials, several machines) never see or delete each
        # other's half-written folds
        work = root / f".tmp-{uuid.uuid4().hex}" if self.cache_dir is not None else entry
        work.mkdir(parents=True, exist_ok=True)
        if payload is not None:  # trained by the executor: store its files here
            for name, data in payload.files.items():
                atomic_write_bytes(work / name, data)
            res = dataclasses.replace(payload.result, model_path=str(work / "model.keras"))
        else:
            res = train_fold(
                cfg,
                train,
                predict_slice,
                first_ts,
                work / "model.keras",
                init_weights=parent_path if use_parent else None,
                epochs=epochs,
            )
        if len(res.forecasts) != plan.stop - plan.first_forecast:
            raise RuntimeError(
                f"fold {plan.fold}: {len(res.forecasts)} forecasts for "
                f"{plan.stop - plan.first_forecast} bars"
            )
        if self.cache_dir is not None:
            self._commit_entry(work, key, res, predict_hash)
            self._publish(work, entry, key)
        res = dataclasses.replace(res, model_path=str(model_path))
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
            "_model_path": res.model_path,
        }

    def _fold_inputs(
        self,
        candles: pd.DataFrame,
        plan: FoldPlan,
        root: Path,
        parent_hash: str | None,
        epochs: int | None,
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp, str, Path]:
        """Training slice, prediction slice, first forecast time, cache key and entry folder."""
        train = candles.iloc[plan.train_start : plan.train_stop]
        predict_slice = candles.iloc[plan.context_start : plan.stop]
        first_ts = candles.index[plan.first_forecast]
        key = self._cache_key(hash_candles(train), plan, candles, parent_hash, epochs)
        entry = root / key if self.cache_dir is not None else root / f"fold_{plan.fold:04d}"
        return train, predict_slice, first_ts, key, entry

    def _train_independent(
        self, candles: pd.DataFrame, plans: list[FoldPlan], root: Path
    ) -> dict[int, FoldPayload]:
        """Train every fold not in the cache through the executor (folds are independent)."""
        assert self.executor is not None
        todo: list[int] = []
        tasks: list[FoldTask] = []
        for plan in plans:
            train, predict_slice, first_ts, key, entry = self._fold_inputs(
                candles, plan, root, None, None
            )
            if self.cache_dir is not None and self._read_entry(entry, key) is not None:
                continue
            todo.append(plan.fold)
            tasks.append(FoldTask(self.config, train, predict_slice, first_ts))
        if not tasks:
            return {}
        logger.info(
            "walk-forward: training %d independent folds on %s", len(tasks), self.executor.name
        )
        payloads = self.executor.map(run_fold_task, tasks)
        return dict(zip(todo, payloads, strict=True))

    def _publish(self, work: Path, entry: Path, key: str) -> None:
        """Rename the complete ``work`` folder to ``entry``. If another run published the
        same key meanwhile (same key = same inputs and results), keep theirs; a stale or
        corrupt entry in the way is replaced."""
        try:
            os.rename(work, entry)
            return
        except OSError:
            pass
        if self._read_entry(entry, key) is not None:
            shutil.rmtree(work, ignore_errors=True)
            return
        shutil.rmtree(entry, ignore_errors=True)
        os.rename(work, entry)

    @staticmethod
    def _sweep_stale(root: Path, max_age: float = 86_400.0) -> None:
        """Remove private build folders of runs killed more than ``max_age`` seconds ago."""
        now = time.time()
        for tmp in root.glob(".tmp-*"):
            try:
                if now - tmp.stat().st_mtime > max_age:
                    shutil.rmtree(tmp, ignore_errors=True)
            except OSError:
                continue

    @staticmethod
    def _commit_entry(entry: Path, key: str, res: FoldResult, predict_hash: str) -> None:
        atomic_write_bytes(entry / "forecasts.npy", _npy_bytes(res.forecasts))
        files = {
            p.name: sha256_file(p)
            for p in sorted(entry.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.name != "fold.json"
        }
        meta = {
            "key": key,
            "version": CACHE_VERSION,
            "val_loss": None if np.isnan(res.val_loss) else res.val_loss,
            "epochs": res.epochs,
            "model_hash": res.model_hash,
            "seconds": res.seconds,
            "predict_hash": predict_hash,
            "files": files,
        }
        atomic_write_text(entry / "fold.json", json.dumps(meta, indent=1, sort_keys=True) + "\n")

    def _cached_forecasts(
        self,
        entry: Path,
        meta: dict[str, Any],
        predict_slice: pd.DataFrame,
        predict_hash: str,
        first_ts: pd.Timestamp,
        plan: FoldPlan,
    ) -> np.ndarray:
        if meta.get("val_loss") is None:
            meta["val_loss"] = float("nan")
        if meta.get("predict_hash") == predict_hash:
            values = np.load(entry / "forecasts.npy", allow_pickle=False)
            if len(values) == plan.stop - plan.first_forecast:
                return values
        model = load_forecaster(entry / "model.keras")
        if not sidecar_path(entry / "model.keras").exists():
            raise ModelFileError(f"{entry}: sidecar missing")
        pos = int(predict_slice.index.searchsorted(first_ts))
        return model.predict(predict_slice).to_numpy(dtype="float64")[pos:]
