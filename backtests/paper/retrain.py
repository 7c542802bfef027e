"""Asynchronous retraining of a paper session and its record, ``switches.jsonl``.

With ``[paper] retrain = "async"`` the bar loop never waits for a training: when the bar that
starts fold k arrives, the indicator (``LSTMForecast``, given a :class:`LiveSwitches` as its
``switches``) keeps forecasting with fold k - 1's model and :class:`LiveSwitches` trains fold k
in a worker process (:class:`~lstm_backtrader.models.infra.executor.ProcessExecutor`, one
spawned process) into the fold cache, on the very bars the synchronous path would use. Before
each new candle is journalled, :meth:`LiveSwitches.poll` looks at the training: once it has
finished, the switch is recorded — ``switches.jsonl``, appended and fsync'd *before* the candle's
journal line — and fold k's model takes over at that candle (loaded from the cache).

The record is what makes the session reproducible: ``lstm-bt backtest`` given the journal's
candles and :func:`read_switches` of the folder (a
:class:`~lstm_backtrader.models.schedule.ModelSwitches`) makes the same forecasts, orders and
equity bar for bar; a resumed session replays its journal with the recorded switches. A fold
begun before a kill and not recorded is trained again (found in the cache when it had
finished) and switches at the first new bar after that. Folds that begin on warm-up bars (the
history journalled when the session started) switch on their first bar, as in a backtest:
those bars are not live.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pandas as pd

from lstm_backtrader.backtests.paper.journal import (
    fsync_append,
    read_records,
    record_line,
    test_point,
)
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.schedule import ModelSwitches

logger = logging.getLogger(__name__)

__all__ = ["SWITCHES_FILE", "LiveSwitches", "read_switches"]

SWITCHES_FILE = "switches.jsonl"


def _records(path: Path) -> list[dict[str, Any]]:
    records = read_records(path)
    for n, rec in enumerate(records):
        if rec.get("fold") != n or not isinstance(rec.get("t"), int):
            raise InputError(f"{path}: line {n + 1} is not fold {n}'s switch")
    return records


def read_switches(folder: str | Path) -> ModelSwitches:
    """The model switches an asynchronous paper session recorded (``folder/switches.jsonl``;
    none yet: no fold's model took over)."""
    path = Path(folder) / SWITCHES_FILE
    records = _records(path)
    try:
        return ModelSwitches(tuple((r["fold"], int(r["t"]) * 1_000_000) for r in records))
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


class LiveSwitches:
    """A paper session's record of model switches, read by ``LSTMForecast`` as its
    ``switches`` (see the module docstring).

    Parameters
    ----------
    folder
        The session folder (``switches.jsonl`` goes there).
    history_until_ns
        Open time (ns) of the last warm-up bar: folds beginning at or before it switch at once.
    executor
        Makes the worker process (called on the first training; tests pass their own).
    """

    def __init__(
        self, folder: Path, history_until_ns: int, executor: Callable[[], Any] | None = None
    ) -> None:
        self.path = Path(folder) / SWITCHES_FILE
        self.records = _records(self.path)
        self.history_until_ns = history_until_ns
        self._make_executor = executor or _process_executor
        self._executor: Any = None
        self._job: Callable[[], Any] | None = None  # the indicator's pending-folds job
        self._begun: dict[int, int] = {}  # folds begun, not recorded: their first bar (ns)
        self._running: Future[list[str]] | None = None
        self._running_folds: tuple[int, ...] = ()
        self._started = self._finished = 0.0

    # --- what the indicator calls -------------------------------------------------------
    def at(self, fold: int) -> int | None:
        """Open time (ns) from which fold ``fold``'s model forecasts (``None``: not yet)."""
        if 0 <= fold < len(self.records):
            return int(self.records[fold]["t"]) * 1_000_000
        return None

    def begin(self, fold: int, first_ns: int, job: Callable[[], Any]) -> None:
        """Fold ``fold``'s first forecast bar (open time ``first_ns``) arrived; ``job()`` makes
        the :class:`~lstm_backtrader.strategies.foldsource.FoldJob` of the indicator's pending
        folds."""
        if fold < len(self.records):
            return  # recorded before (the session is replaying its journal)
        self._job = job
        if first_ns <= self.history_until_ns:
            self._record(fold, first_ns, first_ns, "history", None, 0.0)
            return
        self._begun[fold] = first_ns
        if self._running is None:
            self._submit()

    # --- what the session calls --------------------------------------------------------
    def poll(self, bar_ns: int) -> None:
        """Before the new candle opened at ``bar_ns`` is journalled: record the switches of a
        finished training (they take effect at that candle) and start the next one."""
        if self._running is None:
            return
        if not self._running.done():
            test_point("training")  # a training runs in the worker; nothing recorded for it
            return
        future, self._running = self._running, None
        try:
            hashes = future.result()
        except Exception as exc:  # noqa: BLE001 - any failure of the worker: log, train again
            logger.error("training folds %s failed (%s); trying again", self._running_folds, exc)
            self._terminate()
            self._submit()
            return
        seconds = self._finished - self._started  # submit to ready (a process start included)
        for fold in self._running_folds:
            if fold >= len(self.records):
                self._record(fold, bar_ns, self._begun.pop(fold), "async", hashes, seconds)
        if self._begun:
            self._submit()

    @property
    def pending(self) -> list[int]:
        """Folds begun and not switched to yet."""
        return sorted(self._begun)

    def close(self) -> None:
        """Stop a training still running (a resumed session starts it again)."""
        if self._running is not None:
            logger.info("stopping the training of folds %s", self._running_folds)
        self._running = None
        self._terminate()

    # --- inside ---------------------------------------------------------------------------
    def _submit(self) -> None:
        from lstm_backtrader.strategies.foldsource import train_fold_chain

        assert self._job is not None
        job = self._job()
        self._running_folds = tuple(f for f in job.folds if f >= len(self.records))
        if self._executor is None:
            self._executor = self._make_executor()
        self._started = self._finished = time.monotonic()
        logger.info("training folds %s in a worker process", self._running_folds)
        self._running = self._executor.submit(train_fold_chain, job)
        self._running.add_done_callback(self._done)

    def _done(self, future: Future[list[str]]) -> None:
        if future is self._running:  # not an abandoned one's
            self._finished = time.monotonic()  # when the model was ready, not when it was seen

    def _terminate(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.terminate()

    def _record(
        self, fold: int, bar_ns: int, first_ns: int, how: str, hashes: Any, seconds: float
    ) -> None:
        rec = {
            "fold": fold, "t": bar_ns // 1_000_000, "first": first_ns // 1_000_000, "how": how,
            "model_hash": None if hashes is None else hashes[0], "train_seconds": round(seconds, 3),
        }  # fmt: skip
        fsync_append(self.path, record_line(rec) + "\n")
        self.records.append(rec)
        when = pd.Timestamp(bar_ns, tz="UTC").isoformat()
        logger.info("fold %d switches at %s (%s)", fold, when, how)


def _process_executor() -> Any:
    from lstm_backtrader.models.infra.executor import ProcessExecutor

    return ProcessExecutor(1)
