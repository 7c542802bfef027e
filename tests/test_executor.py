"""Executors: serial, spawned processes and a real local Dask cluster give identical results.

The Dask tests start a real ``dask scheduler`` and ``dask worker`` subprocesses on 127.0.0.1
(the loopback guard of ``conftest.py`` patches sockets in *this* process only; the
subprocesses are told to bind to 127.0.0.1 explicitly).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas.testing as pd_testing
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.infra.executor import (
    DaskExecutor,
    Executor,
    ProcessExecutor,
    SerialExecutor,
    cpu_count,
    make_executor,
    threads_per_worker,
)
from tests._executor_tasks import (
    FoldJob,
    StatConfig,
    StatJob,
    die_once,
    env_of,
    fail_on_three,
    fold_task,
    pid_of,
    seeded_stat,
    sleepy,
)
from tests.conftest import REPO_ROOT, make_candles

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

CANDLES = make_candles(120, seed=3)
JOBS = [StatJob(StatConfig(seed=7), CANDLES.iloc[10 * i : 10 * i + 60], i) for i in range(6)]
TINY = ForecasterConfig(lookback=8, units=(4,), epochs=2, batch_size=32, seed=1)


def _same_arrays(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)


@pytest.fixture(scope="module")
def expected() -> list[np.ndarray]:
    """The serial results of :data:`JOBS`."""
    return SerialExecutor().map(seeded_stat, JOBS)


@pytest.fixture(scope="module")
def procs() -> Iterator[ProcessExecutor]:
    """One 2-process executor shared by the module (its pool is reused across maps)."""
    with ProcessExecutor(2) as ex:
        yield ex


@pytest.fixture(params=["serial", "processes"])
def executor(request: pytest.FixtureRequest, procs: ProcessExecutor) -> Executor:
    return SerialExecutor() if request.param == "serial" else procs


# --------------------------------------------------------------------------- a real cluster
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 5
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


@contextlib.contextmanager
def _cluster(
    folder: Path, n_workers: int = 2
) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A scheduler and ``n_workers`` single-thread, nanny-less workers, all on 127.0.0.1."""
    from distributed import Client

    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    dask = [sys.executable, "-m", "dask"]
    # the timeouts end orphans should this test process die without its teardown
    commands = [
        [*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
         "--idle-timeout", "300s"],
        *(
            [*dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-nanny",
             "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}",
             "--local-directory", str(folder), "--death-timeout", "60s"]
            for i in range(n_workers)
        ),
    ]  # fmt: skip
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for k, cmd in enumerate(commands):
            log = open(folder / f"proc{k}.log", "wb")  # noqa: SIM115 - owned by the child
            procs.append(
                subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=folder, env=env)
            )
            log.close()
        try:
            with Client(address, timeout=30, set_as_default=False) as client:
                client.wait_for_workers(n_workers, timeout=60)
        except (OSError, TimeoutError) as exc:
            logs = "\n".join(p.read_text()[-2000:] for p in sorted(folder.glob("proc*.log")))
            raise RuntimeError(f"local Dask cluster did not start:\n{logs}") from exc
        yield address, procs[1:]
    finally:
        _stop(procs[1:])  # workers first: they exit faster while the scheduler still answers
        _stop(procs[:1])


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Address of a real local cluster: a scheduler and two 1-thread workers."""
    with _cluster(tmp_path_factory.mktemp("dask")) as (address, _):
        yield address


# --------------------------------------------------------------------------- basics
def test_make_executor_and_cpu_count() -> None:
    assert 1 <= cpu_count() <= (os.cpu_count() or 1)
    assert threads_per_worker(1) == cpu_count()
    assert threads_per_worker(10_000) == 1
    with make_executor() as ex:
        assert isinstance(ex, SerialExecutor) and ex.workers == 1 and ex.name == "serial"
        assert ex.map(abs, [-1, 2]) == [1, 2]
    with make_executor(workers=3) as ex:
        assert isinstance(ex, ProcessExecutor)
        assert (ex.workers, ex.name) == (3, "processes:3")
        assert ex._pool is None  # started lazily, on the first map
        assert ex.map(abs, []) == []
    for bad in (0, -2):
        with pytest.raises(InputError, match=rf"workers is {bad}: use an integer >= 1"):
            make_executor(workers=bad)


def test_processes_match_serial_in_other_processes(
    procs: ProcessExecutor, expected: list[np.ndarray]
) -> None:
    _same_arrays(procs.map(seeded_stat, JOBS), expected)
    pids = procs.map(pid_of, range(8))
    assert os.getpid() not in pids
    assert 1 <= len(set(pids)) <= 2
    # the same pool serves every map: at most two worker processes ever existed
    assert len(set(pids) | set(procs.map(pid_of, range(8)))) <= 2
    threads = str(threads_per_worker(2))
    env = procs.map(
        env_of, [("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")]
    )
    assert env == [(threads, threads, threads)]
    assert procs.map(env_of, [("TF_CPP_MIN_LOG_LEVEL",)]) in ([("2",)], [("3",)])


def test_task_exception_is_reraised(executor: Executor) -> None:
    with pytest.raises(ValueError) as info:
        executor.map(fail_on_three, [1, 2, 3, 4])
    assert type(info.value) is ValueError
    assert str(info.value) == "item 3 is bad: no threes allowed"
    assert executor.map(fail_on_three, [4, 5]) == [16, 25]  # still usable afterwards


def test_progress_reaches_total(executor: Executor, expected: list[np.ndarray]) -> None:
    calls: list[tuple[int, int]] = []
    out = executor.map(seeded_stat, JOBS, progress=lambda d, t: calls.append((d, t)))
    _same_arrays(out, expected)
    assert calls == [(k, len(JOBS)) for k in range(1, len(JOBS) + 1)]


def test_dead_worker_process_is_replaced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="lstm_backtrader.models.infra.executor")
    with ProcessExecutor(2) as ex:
        out = ex.map(die_once, [(str(tmp_path), i) for i in range(6)])
        assert out == [i * i for i in range(6)]
        assert (tmp_path / "died").exists()  # a worker really died on the first try
        assert "worker process died; re-running" in caplog.text
        assert ex.map(pid_of, [0]) != [os.getpid()]  # the fresh pool is reused


# --------------------------------------------------------------------------- Dask
def test_dask_matches_serial(dask_cluster: str, expected: list[np.ndarray]) -> None:
    calls: list[tuple[int, int]] = []
    with make_executor(scheduler=dask_cluster) as ex:
        assert isinstance(ex, DaskExecutor)
        assert ex.name == f"dask:{dask_cluster}"
        assert ex.workers == 2
        _same_arrays(
            ex.map(seeded_stat, JOBS, progress=lambda d, t: calls.append((d, t))), expected
        )
        assert calls[-1] == (len(JOBS), len(JOBS)) and len(calls) == len(JOBS)
        assert os.getpid() not in ex.map(pid_of, range(4))
        with pytest.raises(ValueError) as info:
            ex.map(fail_on_three, [1, 3])
        assert type(info.value) is ValueError
        assert str(info.value) == "item 3 is bad: no threes allowed"
        assert ex.map(fail_on_three, [2]) == [4]


def test_dask_unreachable_scheduler_is_an_input_error() -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    t0 = time.monotonic()
    with pytest.raises(InputError) as info:
        make_executor(scheduler=address)
    assert time.monotonic() - t0 < 5  # refused at once, not after the 10 s timeout
    message = str(info.value)
    assert "\n" not in message
    assert address in message and "`dask scheduler`" in message and "refused" in message
    with pytest.raises(InputError, match=r"^bad Dask scheduler address 'nope://x': .*scheme"):
        make_executor(scheduler="nope://x")


def test_dask_port_that_never_answers_is_an_input_error() -> None:
    """A listening port that never speaks Dask (the handshake alone would block forever)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel accepts connections; nobody ever answers
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        t0 = time.monotonic()
        with pytest.raises(InputError, match="no Dask answer within 1 s") as info:
            make_executor(scheduler=address, timeout=1.0)
        assert time.monotonic() - t0 < 8
        assert "\n" not in str(info.value) and address in str(info.value)


def test_dask_survives_a_killed_worker(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    args = [(str(marks), i, 0.7) for i in range(6)]
    with _cluster(tmp_path / "cluster") as (address, workers), DaskExecutor(address) as ex:
        assert ex.workers == 2
        with ThreadPoolExecutor(1) as thread:
            running = thread.submit(ex.map, sleepy, args)
            deadline = time.monotonic() + 30
            while not (started := list(marks.glob("*.started"))):
                if running.done():
                    pytest.fail(f"the map ended before any task started: {running.result()!r}")
                assert time.monotonic() < deadline, "no task started within 30 s"
                time.sleep(0.02)
            victim_pid = int(started[0].name.split("-")[0])
            (victim,) = [w for w in workers if w.pid == victim_pid]
            (survivor,) = [w for w in workers if w.pid != victim_pid]
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
            out = running.result(timeout=60)
        assert [(i, sq) for i, sq, _ in out] == [(i, i * i) for i in range(6)]
        # results held by the dead worker were lost too: everything came from the survivor
        assert {pid for *_, pid in out} == {survivor.pid}
        assert ex.workers == 1


# --------------------------------------------------------------------------- real Keras
def test_keras_fold_bit_identical_everywhere(
    procs: ProcessExecutor, dask_cluster: str, tmp_path: Path
) -> None:
    candles = make_candles(190, seed=5)

    def jobs(tag: str) -> list[FoldJob]:
        return [
            FoldJob(
                TINY,
                candles.iloc[first - 120 : first],
                candles.iloc[first - 40 : first + 30],
                candles.index[first],
                str(tmp_path / f"{tag}-{first}.keras"),
            )
            for first in (130, 160)
        ]

    # the three run at once (each process imports TensorFlow: overlap those seconds)
    with DaskExecutor(dask_cluster) as dask_ex, ThreadPoolExecutor(2) as threads:
        running = {
            "processes": threads.submit(procs.map, fold_task, jobs("processes")),
            "dask": threads.submit(dask_ex.map, fold_task, jobs("dask")),
        }
        serial = SerialExecutor().map(fold_task, jobs("serial"))
        others: dict[str, list[Any]] = {name: f.result(timeout=300) for name, f in running.items()}
    assert serial[0].model_hash != serial[1].model_hash
    for name, results in others.items():
        for ref, got in zip(serial, results, strict=True):
            assert np.array_equal(ref.forecasts, got.forecasts), name
            assert np.isfinite(got.forecasts).all() and len(got.forecasts) == 30
            assert got.model_hash == ref.model_hash, name
            assert (got.epochs, got.val_loss) == (ref.epochs, ref.val_loss), name
            assert Path(got.model_path).exists() and name in got.model_path


# ------------------------------------------------------- walk-forward and sweep on Dask
def _scratch_walkforward(**kw: Any) -> Any:
    from lstm_backtrader.models.schedule import WalkForwardSpec
    from lstm_backtrader.models.walkforward import WalkForward

    cfg = ForecasterConfig(lookback=8, units=(4,), epochs=3, batch_size=32, patience=2, seed=1)
    spec = WalkForwardSpec(train_bars=100, retrain_every=30, warm_start=False)
    return WalkForward(cfg, spec, **kw)


def test_walkforward_and_sweep_through_dask_match_serial(dask_cluster: str, tmp_path: Path) -> None:
    """A from-scratch walk-forward and a small sweep run on the cluster's two workers give
    the serial run's forecasts, weights and table."""
    from lstm_backtrader.backtests.sweep import load_sweep, run_sweep

    candles = make_candles(220, seed=8)
    serial = _scratch_walkforward().run(candles)
    with DaskExecutor(dask_cluster) as ex:
        on_dask = _scratch_walkforward(executor=ex, cache_dir=tmp_path / "wf").run(candles)
    pd_testing.assert_series_equal(on_dask.forecasts, serial.forecasts, check_exact=True)
    assert on_dask.folds["model_hash"].tolist() == serial.folds["model_hash"].tolist()
    assert len(serial.folds) == 4

    make_candles(300, seed=4).to_csv(tmp_path / "c.csv")
    (tmp_path / "s.toml").write_text(
        "seeds = [1, 2]\n[model]\nlookback = 8\nunits = [4]\nepochs = 2\nbatch_size = 32\n"
        "[walkforward]\ntrain_bars = 200\nretrain_every = 50\nwarm_start = false\n"
        '[strategy]\nsma_fast = 5\nsma_slow = 10\n[grid]\n"strategy.entry" = [0.0, -0.001]\n'
        '[[assets]]\npath = "c.csv"\n'
    )
    sweep = load_sweep(tmp_path / "s.toml")
    here = run_sweep(sweep, out_dir=tmp_path / "a", cache_dir=tmp_path / "c1")
    there = run_sweep(
        sweep, out_dir=tmp_path / "b", cache_dir=tmp_path / "c2", scheduler=dask_cluster
    )
    assert there.summary["executor"].startswith("dask:") and there.computed == 4
    same = [c for c in here.table.columns if c not in ("cached", "seconds")]
    pd_testing.assert_frame_equal(there.table[same], here.table[same])


def test_walkforward_survives_a_worker_killed_mid_run(tmp_path: Path) -> None:
    """SIGKILL one of two workers while it trains a fold: Dask retries the fold on the other
    worker and the walk-forward is complete and identical to the serial one."""
    from distributed import Client

    candles = make_candles(250, seed=9)
    serial = _scratch_walkforward().run(candles)
    with _cluster(tmp_path / "cluster") as (address, workers), DaskExecutor(address) as ex:
        wf = _scratch_walkforward(executor=ex, cache_dir=tmp_path / "wf")
        with ThreadPoolExecutor(1) as thread, Client(address, set_as_default=False) as watch:
            running = thread.submit(wf.run, candles)
            deadline = time.monotonic() + 60
            busy: list[str] = []
            while not busy:
                assert not running.done(), "the walk-forward ended before any fold was running"
                assert time.monotonic() < deadline, "no fold started within 60 s"
                busy = [w for w, tasks in watch.processing().items() if tasks]
                time.sleep(0.05)
            pid = watch.run(os.getpid, workers=[busy[0]])[busy[0]]
            (victim,) = [w for w in workers if w.pid == pid]
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
            result = running.result(timeout=300)
    pd_testing.assert_series_equal(result.forecasts, serial.forecasts, check_exact=True)
    assert result.folds["model_hash"].tolist() == serial.folds["model_hash"].tolist()
    assert len(result.folds) == 5 and result.forecasts.iloc[100:].notna().all()
