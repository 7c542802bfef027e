"""One interface for independent work: serial, local processes, or a Dask cluster.

Independent tasks (walk-forward folds trained from scratch, sweep trials, seeds, assets) are
module-level functions applied to plain, picklable arguments (frozen dataclass configs,
pandas/NumPy data slices, paths). Nothing Keras crosses a process boundary: a task that trains
a model returns arrays and the bytes of the saved ``.keras`` file. Every executor returns the
results in the order of the inputs, so results are identical whichever one ran them.

* :class:`SerialExecutor`: in this process, one task after the other.
* :class:`ProcessExecutor`: a pool of local *spawned* processes (TensorFlow is not fork-safe),
  started on the first :meth:`~ProcessExecutor.map` and reused until
  :meth:`~ProcessExecutor.close`. Each worker limits TensorFlow/OpenMP to
  ``cpu_count() // workers`` threads so the pool does not oversubscribe the cores.
* :class:`DaskExecutor`: the workers of a running Dask cluster (``dask scheduler`` +
  ``dask worker``; ``pip install 'lstm-backtrader[cluster]'``). The tasks' modules must be
  importable on the workers.

A task that raises makes :meth:`map` raise the same exception (type and message) in the
caller. Dead workers are survived: the process pool re-runs the unfinished tasks once in a
fresh pool; Dask reschedules the tasks of a lost worker on the others by itself (up to the
scheduler's ``distributed.scheduler.allowed-failures`` deaths per task).

>>> with make_executor(workers=1) as ex:        # serial, in this process
...     ex.map(abs, [-1, 2])
[1, 2]
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

from lstm_backtrader.models.infra.dasknet import connect_client, probe_scheduler
from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: ``progress(done, total)`` after each finished task.
MapProgress = Callable[[int, int], None]

#: Seconds to wait for a Dask scheduler before giving up.
DASK_CONNECT_TIMEOUT = 10.0

_THREAD_ENV = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")


class Executor(Protocol):
    """What the walk-forward engine and the sweep need of an executor."""

    #: Tasks that may run at once (1 for the serial executor).
    workers: int
    #: Short description for logs and manifests (``'serial'``, ``'processes:2'``, ``'dask:tcp://...'``).
    name: str

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        progress: MapProgress | None = None,
    ) -> list[R]:
        """``[fn(item) for item in items]``, possibly in parallel, in input order."""
        ...

    def close(self) -> None:
        """Release processes / cluster connections (idempotent)."""
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS / Windows: no affinity API
        return max(1, os.cpu_count() or 1)


def threads_per_worker(workers: int) -> int:
    """TensorFlow / OpenMP threads each of ``workers`` processes may use: ``cpus // workers``."""
    return max(1, cpu_count() // max(1, workers))


class SerialExecutor:
    """Runs every task in this process, one after the other."""

    workers = 1
    name = "serial"

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        progress: MapProgress | None = None,
    ) -> list[R]:
        """``[fn(item) for item in items]``, calling ``progress`` after each task."""
        out: list[R] = []
        for item in items:
            out.append(fn(item))
            if progress is not None:
                progress(len(out), len(items))
        return out

    def close(self) -> None:
        """Nothing to release."""
        return None

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- local processes
def _init_worker(threads: int) -> None:
    """Initializer of each pool process: quiet TF, bounded threads, visible warnings.

    Runs before any task, hence before TensorFlow is imported (tasks import it lazily), which
    is when TF and OpenMP read these variables.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for var in _THREAD_ENV:
        os.environ[var] = str(threads)
    parent = os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s [pid %(process)d] %(name)s: %(message)s",
    )


def _exit_with_parent(parent: int, every: float = 0.5) -> None:
    """Exit this worker once its parent process is gone (killed with SIGKILL, it cannot stop
    its pool): a worker is never left running, or holding the parent's output pipes, alone."""
    while True:
        time.sleep(every)
        if os.getppid() != parent:
            os._exit(0)


class ProcessExecutor:
    """Runs tasks in ``workers`` local processes (``spawn`` start method).

    Parameters
    ----------
    workers
        Number of worker processes (>= 1). Each gets ``cpu_count() // workers`` TensorFlow
        intra-/inter-op and OpenMP threads (at least 1).

    Notes
    -----
    The processes start on the first :meth:`map` and are reused by later calls until
    :meth:`close`. Tasks and their arguments/results are pickled: use module-level functions
    (and, as with any ``spawn`` pool, guard a script's entry point with
    ``if __name__ == "__main__":``). Worker log records at WARNING and above go to stderr.
    If a worker process dies (``BrokenProcessPool``) the unfinished tasks are re-run once in a
    fresh pool; a second death raises ``BrokenProcessPool``.
    """

    def __init__(self, workers: int) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise InputError(f"process executor workers is {workers!r}: use an integer >= 1")
        self.workers = workers
        self.name = f"processes:{workers}"
        self.threads = threads_per_worker(workers)
        self._pool: ProcessPoolExecutor | None = None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing

            logger.debug(
                "starting %d worker processes (%d threads each)", self.workers, self.threads
            )
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.threads,),
            )
        return self._pool

    def _discard_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        progress: MapProgress | None = None,
    ) -> list[R]:
        """``[fn(item) for item in items]`` in the worker processes, in input order.

        Parameters
        ----------
        fn
            A picklable (module-level) function of one argument.
        items
            Its arguments (picklable).
        progress
            Called as ``progress(done, total)`` in this process after each finished task.

        Returns
        -------
        list
            The results, in the order of ``items``.

        Raises
        ------
        Exception
            The first task exception, re-raised unchanged (the remaining queued tasks are
            cancelled).
        """
        items = list(items)
        total = len(items)
        results: dict[int, R] = {}
        pending = list(range(total))
        for attempt in (1, 2):
            try:
                self._run(fn, items, pending, results, progress, total)
                break
            except BrokenProcessPool:
                self._discard_pool()
                pending = [i for i in range(total) if i not in results]
                if attempt == 2:
                    raise
                logger.warning(
                    "%s: a worker process died; re-running %d unfinished task(s) in a fresh pool",
                    self.name,
                    len(pending),
                )
        return [results[i] for i in range(total)]

    def _run(
        self,
        fn: Callable[[T], R],
        items: list[T],
        indices: list[int],
        results: dict[int, R],
        progress: MapProgress | None,
        total: int,
    ) -> None:
        """Run ``fn`` on ``items[i]`` for ``i`` in ``indices``, storing into ``results``."""
        if not indices:
            return
        pool = self._ensure_pool()
        futures: dict[Future[R], int] = {pool.submit(fn, items[i]): i for i in indices}
        waiting = set(futures)
        try:
            while waiting:
                done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
                # keep every finished result before raising (a broken pool fails the rest)
                for fut in sorted(done, key=lambda f: f.exception() is not None):
                    results[futures[fut]] = fut.result()  # re-raises the task's exception
                    if progress is not None:
                        progress(len(results), total)
        finally:
            for fut in waiting:
                fut.cancel()

    def submit(self, fn: Callable[[T], R], item: T) -> Future[R]:
        """Start ``fn(item)`` in a worker process and return at once: a
        :class:`concurrent.futures.Future` of its result (no re-run if the worker dies)."""
        return self._ensure_pool().submit(fn, item)

    def terminate(self) -> None:
        """Stop the worker processes now, abandoning the tasks they run (:meth:`close` waits
        for them)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()  # the standard pool has no public way to stop a running task
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Shut the worker processes down (idempotent; a later :meth:`map` starts new ones)."""
        self._discard_pool()

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ProcessExecutor(workers={self.workers})"


# --------------------------------------------------------------------------- Dask


class DaskExecutor:
    """Runs tasks on the workers of a running Dask cluster.

    Parameters
    ----------
    scheduler
        Scheduler address, e.g. ``'tcp://10.0.0.5:8786'`` (start one with ``dask scheduler``
        and workers with ``dask worker <address>``).
    retries
        Times a task that *raised* is re-run before its exception is reported (tasks of a
        worker that died are rescheduled by the scheduler regardless of this).
    timeout
        Seconds to wait for the scheduler (a refused connection fails at once; a port that
        accepts but never answers is given up ``timeout + 2`` s after the start).

    Raises
    ------
    InputError
        Dask is not installed, or the scheduler cannot be reached.

    Notes
    -----
    Only the client connection is owned: :meth:`close` leaves the cluster running. The task
    functions' modules must be importable on the workers (same project version installed).
    """

    def __init__(
        self, scheduler: str, retries: int = 2, timeout: float = DASK_CONNECT_TIMEOUT
    ) -> None:
        try:
            import distributed
        except ImportError:
            raise InputError(
                "Dask is not installed: pip install 'lstm-backtrader[cluster]'"
            ) from None
        hint = (
            f"cannot reach the Dask scheduler at {scheduler}: start one with `dask scheduler` "
            f"(and workers with `dask worker {scheduler}`) or fix the address"
        )
        reason = probe_scheduler(scheduler, timeout)
        if reason is not None:
            raise InputError(f"{hint} ({reason})")
        try:
            self._client = connect_client(distributed.Client, scheduler, timeout)
        except (OSError, TimeoutError) as exc:
            raise InputError(
                f"{hint} (no Dask answer within {timeout:g} s: is that the scheduler's port?)"
            ) from exc
        except ValueError as exc:
            raise InputError(f"bad Dask scheduler address {scheduler!r}: {exc}") from None
        except Exception as exc:  # e.g. another service on that port sent garbage
            raise InputError(
                f"{hint} (it did not answer as a Dask scheduler: {type(exc).__name__})"
            ) from exc
        self.address: str = self._client.scheduler.address
        self.retries = int(retries)
        self.name = f"dask:{self.address}"
        self._workers = 1
        self._workers = self.workers
        logger.info("connected to %s (%d worker threads)", self.address, self._workers)

    @property
    def workers(self) -> int:
        """Worker threads in the cluster now (at least 1; the last known count if unreachable)."""
        try:
            self._workers = max(1, sum(self._client.nthreads().values()))
        except Exception as exc:  # a diagnostic count must not fail the run
            logger.debug("cannot count the Dask workers: %s", exc)
        return self._workers

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        progress: MapProgress | None = None,
    ) -> list[R]:
        """``[fn(item) for item in items]`` on the cluster, in input order.

        Parameters
        ----------
        fn
            A function importable on the workers.
        items
            Its arguments (serialisable).
        progress
            Called as ``progress(done, total)`` in this process as tasks finish.

        Returns
        -------
        list
            The results, in the order of ``items``.

        Raises
        ------
        Exception
            The first task exception (after ``retries`` re-runs), re-raised unchanged; the
            other tasks of the call are cancelled.
        """
        from distributed import as_completed

        items = list(items)
        total = len(items)
        if not total:
            return []
        prefix = f"{getattr(fn, '__name__', 'task')}-{uuid.uuid4().hex}"
        keys = [f"{prefix}-{i}" for i in range(total)]
        futures = self._client.map(fn, items, key=keys, pure=False, retries=self.retries)
        try:
            for done, fut in enumerate(as_completed(futures, loop=self._client.loop), start=1):
                if fut.status == "error":
                    fut.result()  # re-raises the task's exception
                if progress is not None:
                    progress(done, total)
            return list(self._client.gather(futures))
        except BaseException:
            self._client.cancel(futures)  # stop the rest of this call's tasks
            raise

    def close(self) -> None:
        """Close the client connection (the cluster keeps running; idempotent)."""
        if self._client.status not in ("closed", "closing"):
            self._client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DaskExecutor({self.address!r})"


def make_executor(workers: int = 1, scheduler: str | None = None, **kwargs: Any) -> Executor:
    """Serial (``workers=1``, no scheduler), local processes, or a Dask cluster.

    Parameters
    ----------
    workers
        Local worker processes; 1 runs everything in this process.
    scheduler
        Address of a Dask scheduler: overrides ``workers`` (the cluster decides).
    **kwargs
        Passed to :class:`DaskExecutor` (``retries``, ``timeout``).

    Raises
    ------
    InputError
        ``workers < 1``, Dask missing or the scheduler unreachable.
    """
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise InputError(f"workers is {workers!r}: use an integer >= 1")
    if scheduler:
        return DaskExecutor(scheduler, **kwargs)
    if workers == 1:
        return SerialExecutor()
    return ProcessExecutor(workers)
