"""Walk-forward fold models for ``LSTMForecast``'s bar-by-bar path, from a bounded tail of bars.

When the bar that starts fold k arrives, the indicator holds only the bars that fold needs (its
training window and the first forecast's context, see
:class:`~lstm_backtrader.strategies.bartail.BarTail`) and the model of fold k - 1. From those,
:class:`FoldModels` gives fold k's model exactly as the walk-forward engine
(:class:`~lstm_backtrader.models.walkforward.WalkForward`) makes it over the whole history: the
same training slice, the same purge, warm-started from the previous fold's model with the same
epochs, under the same fold-cache key (so a fold trained by either is reused by the other: a
model found in the cache is loaded, never retrained), trained by the engine's own
:func:`~lstm_backtrader.models.fold.train_fold` and stored in the same
:class:`~lstm_backtrader.models.foldstore.FoldStore`.
"""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lstm_backtrader.models.features import hash_candles
from lstm_backtrader.models.fold import train_fold
from lstm_backtrader.models.foldstore import FoldStore, fold_key

logger = logging.getLogger(__name__)

#: The file a fold's model is saved to inside its fold-cache entry (see models.foldstore).
MODEL_FILE = "model.keras"


@dataclass(frozen=True)
class FoldModel:
    """One fold's model as the bar-by-bar path uses it.

    Attributes
    ----------
    fold
        Fold number.
    model
        The loaded forecaster (``predict_last`` forecasts each bar of the fold).
    path
        Its file in the fold cache (the next fold warm-starts from it).
    model_hash
        Its weights' hash (part of the next fold's cache key when warm starting).
    row
        What is known of the fold when it starts (a row of ``LSTMForecast.folds_``).
    """

    fold: int
    model: Any
    path: str
    model_hash: str
    row: dict[str, Any]


class FoldModels:
    """Fold k's model from the bars before fold k and fold k - 1's model.

    Parameters
    ----------
    walkforward
        The :class:`~lstm_backtrader.models.walkforward.WalkForward` whose schedule, forecaster
        and fold cache are used (without a cache folder, a private temporary one, removed with
        this object).
    """

    def __init__(self, walkforward: Any) -> None:
        self.wf = walkforward
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if walkforward.cache_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lstmforecast-")
        root = walkforward.cache_dir if self._tmp is None else self._tmp.name
        self.store = FoldStore(root)

    def tail_bars(self) -> int | None:
        """Bars the indicator must hold for :meth:`model_for` (``None``: all, when expanding)."""
        schedule = self.wf.schedule
        if schedule.expanding:
            return None
        return max(int(schedule.train_bars), int(self.wf.forecaster.context_bars) - 1) + 1

    def model_for(self, fold: int, window: pd.DataFrame, parent: FoldModel | None) -> FoldModel:
        """Fold ``fold``'s model: ``window`` ends with the fold's first forecast bar and holds at
        least :meth:`tail_bars` bars; ``parent`` is fold ``fold - 1``'s model (or ``None``)."""
        wf, schedule = self.wf, self.wf.schedule
        horizon = int(wf.config.horizon)
        gap = schedule.gap_for(horizon)
        first = len(window) - 1
        train_start = 0 if schedule.expanding else first - int(schedule.train_bars)
        train = window.iloc[train_start : first - (gap - horizon)]
        predict = window.iloc[max(0, first - int(wf.forecaster.context_bars) + 1) :]
        first_ts = window.index[first]
        warm = parent if wf.warm and parent is not None else None
        epochs = schedule.warm_start_epochs if warm is not None else None
        key = fold_key(
            config=wf.config.to_dict(),
            depends_on=tuple(getattr(wf.forecaster, "depends_on", ())),
            train_hash=hash_candles(train),
            fold={
                "train_start": train.index[0].isoformat(),
                "train_end": train.index[-1].isoformat(),
                "first_forecast": first_ts.isoformat(),
                "gap": gap,
                "expanding": bool(schedule.expanding),
            },
            parent_hash=None if warm is None else warm.model_hash,
            epochs=epochs,
        )
        entry = self.store.entry(key, fold)
        row: dict[str, Any] = {
            "fold": fold,
            "train_start": train.index[0],
            "train_end": train.index[-1],
            "first_forecast": first_ts,
            "last_forecast": first_ts,
        }
        meta = self.store.read(entry, key)
        if meta is None:
            work = self.store.workdir(entry)
            res = train_fold(
                wf.forecaster,
                train,
                predict,
                first_ts,
                work / MODEL_FILE,
                init_weights=None if warm is None else warm.path,
                epochs=epochs,
            )
            meta = {
                "val_loss": None if math.isnan(res.val_loss) else res.val_loss,
                "epochs": res.epochs,
                "model_hash": res.model_hash,
                "seconds": res.seconds,
            }
            self.store.commit(work, key, res.forecasts, hash_candles(predict), meta)
            self.store.publish(work, entry, key)
            row.update(cached=False, fit_seconds=res.fit_seconds)
        else:
            row.update(cached=True, fit_seconds=0.0)
        val_loss = meta.get("val_loss")
        row.update(
            val_loss=float("nan") if val_loss is None else float(val_loss),
            epochs=meta["epochs"],
            model_hash=meta["model_hash"],
        )
        path = entry / MODEL_FILE
        model = type(wf.forecaster).load(path)
        logger.info(
            "fold %d from %s: trained on %s..%s, %s",
            fold,
            first_ts.isoformat(),
            row["train_start"].isoformat(),
            row["train_end"].isoformat(),
            "cached" if row["cached"] else "trained",
        )
        return FoldModel(fold, model, str(path), str(meta["model_hash"]), row)

    def close(self) -> None:
        """Remove the private temporary cache (nothing happens to a shared one)."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


__all__ = ["MODEL_FILE", "FoldModel", "FoldModels"]
