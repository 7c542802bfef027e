"""The walk-forward schedule: one frozen object that the run configuration holds
(``[walkforward]``), the engine runs (:class:`~lstm_backtrader.models.walkforward.WalkForward`)
and the Backtrader indicator asks bar by bar (:meth:`WalkForwardSpec.fold_of`).

Fold k (k = 0, 1, ...) makes the forecasts of bars ``f_k .. f_{k+1}-1`` where
``f_k = train_bars + k * retrain_every`` (positions in the input, anchored at its *start*, so
deleting bars at the end never moves an earlier fold). It is trained on the bars before
``f_k``: rolling ``[f_k - train_bars, f_k - (gap - h))`` or expanding ``[0, f_k - (gap - h))``.
Labels are only used when fully inside that slice, so the last training label
``log(close[t+h]/close[t])`` has ``t = f_k - 1 - gap`` and ends at bar ``f_k - 1 - gap + h``,
before the first forecast bar (``gap >= h`` is required; ``gap = h``, the default, purges
exactly the overlapping labels; a larger gap adds an embargo). The lookback context of the
first forecasts reaches back into the training period: that is data, not labels.

A live session cannot always switch to fold k's model on ``f_k``: the model is trained after
``f_k`` arrives. :class:`ModelSwitches` records when each fold's model actually took over; the
engine and the indicator given it use fold k - 1's model until then.

No TensorFlow, no Backtrader.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldPlan:
    """Positions (into the input frame) of one fold; ``*_stop`` are exclusive."""

    fold: int
    train_start: int
    train_stop: int
    first_forecast: int
    stop: int
    context_start: int


def _check_int(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InputError(f"[walkforward] {name} is {value!r}: use an integer >= {minimum}")


@dataclass(frozen=True)
class WalkForwardSpec:
    """When each walk-forward model is trained and on which bars.

    Attributes
    ----------
    train_bars
        Position of the first forecast bar and, when rolling, the training window length.
    retrain_every
        Bars between refits (each fold forecasts this many bars; the last may be shorter).
    expanding
        Train on everything before the fold instead of the last ``train_bars`` bars.
    gap
        Purge: the last training label is that of bar ``first_forecast - 1 - gap``; ``None``
        means the forecast horizon (exactly the overlapping labels purged); must be >= horizon.
    warm_start
        Start each fold from the previous fold's weights (forecasters that support it) and train
        ``warm_start_epochs`` epochs; ``False`` makes folds independent (parallelisable).
    warm_start_epochs
        Maximum epochs of a warm-started fold.
    """

    train_bars: int = 730
    retrain_every: int = 30
    expanding: bool = False
    gap: int | None = None
    warm_start: bool = True
    warm_start_epochs: int = 1

    def __post_init__(self) -> None:
        _check_int("train_bars", self.train_bars, 1)
        _check_int("retrain_every", self.retrain_every, 1)
        _check_int("warm_start_epochs", self.warm_start_epochs, 1)
        if self.gap is not None:
            _check_int("gap", self.gap, 0)
        for name in ("expanding", "warm_start"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(
                    f"[walkforward] {name} is {getattr(self, name)!r}: use true or false"
                )

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> WalkForwardSpec:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ schedule
    def gap_for(self, horizon: int) -> int:
        """The purge for a forecaster of this horizon (``gap`` or the horizon itself).

        Raises
        ------
        InputError
            When ``gap < horizon``: training labels would reach into the forecast period.
        """
        gap = int(horizon) if self.gap is None else int(self.gap)
        if gap < horizon:
            raise InputError(
                f"[walkforward] gap is {gap} but the horizon is {horizon}: labels would reach "
                "into the forecast period; use gap >= horizon"
            )
        return gap

    def first_forecast(self, fold: int) -> int:
        """Position of fold ``fold``'s first forecast bar."""
        return self.train_bars + fold * self.retrain_every

    def fold_of(self, bar: int) -> int:
        """The fold whose model forecasts bar position ``bar`` (-1 before the first fold)."""
        if bar < self.train_bars:
            return -1
        return (bar - self.train_bars) // self.retrain_every

    def starts_fold(self, bar: int) -> bool:
        """Whether a new model takes over at bar position ``bar``."""
        return bar >= self.train_bars and (bar - self.train_bars) % self.retrain_every == 0

    def n_folds(self, n_bars: int) -> int:
        """Number of folds over an input of ``n_bars`` bars."""
        return 0 if n_bars <= self.train_bars else self.fold_of(n_bars - 1) + 1

    def plan(self, n_bars: int, *, horizon: int, context_bars: int) -> list[FoldPlan]:
        """Fold boundaries for an input of ``n_bars`` bars (see the module docstring).

        Parameters
        ----------
        n_bars
            Bars in the input.
        horizon
            The forecaster's horizon h (labels end h bars after their bar).
        context_bars
            Bars of history one forecast needs (lookback + feature warm-up).
        """
        gap = self.gap_for(horizon)
        plans: list[FoldPlan] = []
        for k in range(self.n_folds(n_bars)):
            first = self.first_forecast(k)
            plans.append(
                FoldPlan(
                    fold=k,
                    train_start=0 if self.expanding else first - self.train_bars,
                    train_stop=first - (gap - horizon),
                    first_forecast=first,
                    stop=min(first + self.retrain_every, n_bars),
                    context_start=max(0, first - context_bars + 1),
                )
            )
        return plans


@dataclass(frozen=True)
class ModelSwitches:
    """When each walk-forward fold's model took over, as a live session recorded it.

    Fold k's model forecasts from the first bar whose open time is at or after ``times[k]`` (and
    never before its own first forecast bar ``f_k``: an earlier time means ``f_k``) until the
    next fold's model takes over; until then the previous fold's model goes on forecasting (its
    ``age`` growing). A fold without a time never took over, nor did any later fold. The
    training data of every fold is that of the schedule (bars before ``f_k``): only the bars
    each model forecasts change.

    Parameters
    ----------
    times
        ``(fold, open time in ns since the epoch, UTC)`` pairs, folds 0, 1, ... in order and
        times not decreasing.

    A live session passes its own record instead (anything with :meth:`at`, read as the bars
    arrive).
    """

    times: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        last = None
        for k, (fold, time_ns) in enumerate(self.times):
            if fold != k:
                raise InputError(f"model switches: entry {k} is fold {fold}; folds go 0, 1, ...")
            if last is not None and time_ns < last:
                raise InputError(f"model switches: fold {fold} switches before fold {fold - 1}")
            last = time_ns

    def at(self, fold: int) -> int | None:
        """Open time (ns) from which fold ``fold``'s model forecasts, ``None``: never."""
        return self.times[fold][1] if 0 <= fold < len(self.times) else None


def switch_positions(switches: Any, open_ns: Any, plans: list[FoldPlan]) -> list[int]:
    """The first bar position each plan's model forecasts (``len(open_ns)``: never) under
    ``switches`` (anything with :meth:`ModelSwitches.at`), for bars whose open times (ns,
    increasing) are ``open_ns``."""
    import numpy as np

    times = np.asarray(open_ns, dtype=np.int64)
    out = []
    for plan in plans:
        at = switches.at(plan.fold)
        pos = len(times) if at is None else int(np.searchsorted(times, at, side="left"))
        out.append(max(pos, plan.first_forecast))
    return out
