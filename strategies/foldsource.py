"""Walk-forward fold models for ``LSTMForecast``'s bar-by-bar path, from a bounded tail of bars.

When the bar that starts fold k arrives, the indicator holds only the bars that fold needs (its
training window and the first forecast's context, see
:class:`~lstm_backtrader.strategies.bartail.BarTail`) and the model of fold k - 1. From those,
:class:`FoldModels` gives fold k's model exactly as the walk-forward engine
(:class:`~lstm_backtrader.models.walkforward.WalkForward`) makes it over the whole history: the
same training slice, the same purge, warm-started from the previous fold's model with the same
epochs, under the same fold-cache key (so a fold trained by either is reused by the other: a
model found in the cache is loaded, never retrained): the engine's own
:meth:`~lstm_backtrader.models.walkforward.WalkForward.run_fold` makes it, over the bars held.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lstm_backtrader.models.ensemble import member_params
from lstm_backtrader.models.foldstore import FoldStore
from lstm_backtrader.models.schedule import FoldPlan

logger = logging.getLogger(__name__)


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


def tail_bars(walkforward: Any) -> int | None:
    """Bars the indicator must hold for :meth:`FoldModels.model_for` — the training window and
    the first forecast's context (``None``: every bar, when the window expands)."""
    schedule = walkforward.schedule
    if schedule.expanding:
        return None
    return max(int(schedule.train_bars), int(walkforward.forecaster.context_bars) - 1) + 1


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
        self.root = walkforward.cache_dir if self._tmp is None else self._tmp.name
        self.store = FoldStore(self.root)

    def model_for(
        self, fold: int, window: pd.DataFrame, parent: FoldModel | None, *, load: bool = True
    ) -> FoldModel:
        """Fold ``fold``'s model: ``window`` ends with the fold's first forecast bar and holds at
        least :meth:`tail_bars` bars; ``parent`` is fold ``fold - 1``'s model (or ``None``).
        ``load=False``: only make sure it is in the cache (``model`` is ``None``)."""
        wf, schedule = self.wf, self.wf.schedule
        horizon = int(wf.config.horizon)
        gap = schedule.gap_for(horizon)
        first = len(window) - 1
        plan = FoldPlan(
            fold=fold,
            train_start=0 if schedule.expanding else first - int(schedule.train_bars),
            train_stop=first - (gap - horizon),
            first_forecast=first,
            stop=first + 1,
            context_start=max(0, first - int(wf.forecaster.context_bars) + 1),
        )
        warm = parent if wf.warm and parent is not None else None
        row = wf.run_fold(
            window,
            plan,
            self.store,
            None if warm is None else warm.path,
            None if warm is None else warm.model_hash,
        )
        row.pop("_forecasts")
        path = row.pop("_model_path")
        model = type(wf.forecaster).load(path) if load else None
        logger.info(
            "fold %d from %s: trained on %s..%s, %s",
            fold,
            row["first_forecast"].isoformat(),
            row["train_start"].isoformat(),
            row["train_end"].isoformat(),
            "cached" if row["cached"] else "trained",
        )
        return FoldModel(fold, model, str(path), str(row["model_hash"]), row)

    def close(self) -> None:
        """Remove the private temporary cache now (nothing happens to a shared one; otherwise
        it goes when this object is garbage-collected or the process ends)."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


@dataclass(frozen=True)
class FoldJob:
    """Folds to train into the fold cache in another process (plain, picklable data): each
    member's chain of ``steps`` (fold, window as :meth:`FoldModels.model_for` takes it), warm
    started from its ``parents`` (model file and hash of the fold before the first step, or
    ``None``). Run by :func:`train_fold_chain`; the indicator then finds the models in the cache."""

    engines: tuple[Any, ...]  # one WalkForward per ensemble member (no progress, no executor)
    steps: tuple[tuple[int, pd.DataFrame], ...]
    parents: tuple[tuple[str, str] | None, ...]

    @property
    def folds(self) -> tuple[int, ...]:
        return tuple(fold for fold, _ in self.steps)


def train_fold_chain(job: FoldJob) -> list[str]:
    """Train (or find in the cache) every step of ``job`` for every member, in order; returns
    the last step's model hash of each member."""
    hashes = []
    for engine, parent in zip(job.engines, job.parents, strict=True):
        source = FoldModels(engine)
        model = None
        if parent is not None:
            model = FoldModel(-1, None, parent[0], parent[1], {})
        try:
            for fold, window in job.steps:
                model = source.model_for(fold, window, model, load=False)
        finally:
            source.close()
        assert model is not None
        hashes.append(model.model_hash)
    return hashes


class MemberFolds:
    """Every ensemble member's fold model (``[model] ensemble = k``; k = 1: the walk-forward's
    own network): member i's models are those of the batched engine's member i (its seed from
    :func:`~lstm_backtrader.models.ensemble.member_params`, its own warm-start chain, the same
    fold-cache entries)."""

    def __init__(self, walkforward: Any) -> None:
        k = int(getattr(walkforward.config, "ensemble", 1) or 1)
        engines = [walkforward]
        if k > 1:
            params = walkforward.forecaster.get_params()
            kind = type(walkforward.forecaster)
            engines = [
                walkforward.replace(
                    forecaster=kind(**member_params(params, i)), progress=None, intervals=None
                )
                for i in range(k)
            ]
        self.sources = [FoldModels(engine) for engine in engines]
        self.current: list[FoldModel] = []

    def models_for(self, fold: int, window: pd.DataFrame) -> list[FoldModel]:
        """Fold ``fold``'s model of every member (see :meth:`FoldModels.model_for`)."""
        parents: list[FoldModel | None] = list(self.current) or [None] * len(self.sources)
        self.current = [
            source.model_for(fold, window, parent)
            for source, parent in zip(self.sources, parents, strict=True)
        ]
        return self.current

    def job(self, steps: list[tuple[int, pd.DataFrame]]) -> FoldJob:
        """The :class:`FoldJob` that trains ``steps`` (folds after the current one, in order)
        for every member, from the current models."""
        parents = [(m.path, m.model_hash) for m in self.current] or [None] * len(self.sources)
        engines = tuple(
            s.wf.replace(progress=None, executor=None, cache_dir=s.root, switches=None)
            for s in self.sources
        )
        return FoldJob(engines, tuple(steps), tuple(parents))

    def close(self) -> None:
        """Remove the members' private temporary caches (see :meth:`FoldModels.close`)."""
        for source in self.sources:
            source.close()


__all__ = ["FoldJob", "FoldModel", "FoldModels", "MemberFolds", "tail_bars", "train_fold_chain"]
