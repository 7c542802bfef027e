"""Module-level (picklable, importable by worker processes) tasks for ``tests/test_executor.py``."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class StatConfig:
    """A small frozen config, like the forecaster configs that travel to workers."""

    seed: int = 7
    window: int = 5
    draws: int = 1000


@dataclass(frozen=True)
class StatJob:
    """One task: a config and a slice of a candle frame."""

    config: StatConfig
    candles: pd.DataFrame
    index: int


def seeded_stat(job: StatJob) -> np.ndarray:
    """Deterministic NumPy work on a DataFrame slice (rolling stats + seeded bootstrap)."""
    close = job.candles["close"]
    rets = np.log(close).diff().dropna().to_numpy()
    rolling = close.rolling(job.config.window).mean().dropna().to_numpy()
    rng = np.random.default_rng([job.config.seed, job.index])
    boot = rng.choice(rets, size=(job.config.draws, len(rets))).mean(axis=1)
    return np.concatenate([[rets.std(), rolling[-1]], np.quantile(boot, [0.05, 0.5, 0.95])])


def pid_of(_: object) -> int:
    """The process id of whichever worker ran the task."""
    return os.getpid()


def fail_on_three(x: int) -> int:
    """Squares ``x``; raises ValueError for 3."""
    if x == 3:
        raise ValueError(f"item {x} is bad: no threes allowed")
    return x * x


def die_once(args: tuple[str, int]) -> int:
    """Squares ``i``; the first time ``i == 2`` runs (per marker folder) the process dies."""
    folder, i = args
    marker = Path(folder) / "died"
    if i == 2 and not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(1)
    return i * i


def sleepy(args: tuple[str, int, float]) -> tuple[int, int, int]:
    """Marks ``<pid>-<i>.started`` in ``folder``, sleeps, returns ``(i, i*i, pid)``."""
    folder, i, seconds = args
    pid = os.getpid()
    (Path(folder) / f"{pid}-{i}.started").touch()
    time.sleep(seconds)
    return i, i * i, pid


@dataclass(frozen=True)
class FoldJob:
    """Arguments of one :func:`lstm_backtrader.models.fold.train_fold` call."""

    config: object
    train_candles: pd.DataFrame
    predict_candles: pd.DataFrame
    first_forecast: pd.Timestamp
    model_path: str


def fold_task(job: FoldJob) -> object:
    """Train one real walk-forward fold (TensorFlow is imported here, in the worker)."""
    from lstm_backtrader.models.fold import train_fold

    return train_fold(
        job.config,  # type: ignore[arg-type]
        job.train_candles,
        job.predict_candles,
        job.first_forecast,
        job.model_path,
    )


def env_of(names: tuple[str, ...]) -> tuple[str | None, ...]:
    """The worker's values of environment variables ``names``."""
    return tuple(os.environ.get(name) for name in names)
