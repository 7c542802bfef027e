"""Independent walk-forwards for ``bench_walkforward.py --assets N``: one per asset.

A warm-started chain of folds is sequential, but the chains of different assets (or of the
members of a seed ensemble) are independent: :func:`run_asset` runs one whole chain and is the
task the project's executor (:func:`lstm_backtrader.models.infra.executor.make_executor`)
maps over the assets, in this process or in spawned worker processes (this module is imported
there by name: it must stay importable from ``benchmarks/``, which the spawned workers find on
the ``sys.path`` they inherit).

Assets: the daily candles file, then daily bars built from the 2-hourly file over days that
start at another hour (12:00 UTC, 06:00, ...), so each is a different series of the same
length and timeframe.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

#: Hour (UTC) at which the days of the 2-hourly file's assets 1, 2, ... start.
DAY_STARTS = (12, 6, 18, 2, 14, 8, 20, 4, 16, 10, 22)


@dataclass(frozen=True)
class AssetTask:
    """One asset's whole walk-forward: its candles and the run configuration."""

    name: str
    candles: pd.DataFrame
    config: Any  # lstm_backtrader.backtests.config.RunConfig


@dataclass(frozen=True)
class AssetRun:
    """What :func:`run_asset` returns (plain data)."""

    name: str
    forecasts: pd.Series
    n_folds: int
    seconds: float
    cpu_seconds: float
    pid: int
    peak_rss_mb: float


def run_asset(task: AssetTask) -> AssetRun:
    """Walk forward over one asset (a private fold cache): forecasts, wall and CPU time (all
    threads of the process), peak RSS (``VmHWM``: unlike ``ru_maxrss``, not inherited from
    the parent a spawned worker was forked from)."""
    from memwatch import hwm_mb  # benchmarks/ is on sys.path (script dir, or inherited)

    from lstm_backtrader.backtests.simulation import make_walkforward

    t0, c0 = time.perf_counter(), time.process_time()
    res = make_walkforward(task.config).run(task.candles)
    return AssetRun(
        name=task.name,
        forecasts=res.forecasts,
        n_folds=len(res.folds),
        seconds=time.perf_counter() - t0,
        cpu_seconds=time.process_time() - c0,
        pid=os.getpid(),
        peak_rss_mb=hwm_mb(),
    )


def daily_from_2h(path: Path, start_hour: int) -> pd.DataFrame:
    """Daily candles from a 2-hourly file, days starting at ``start_hour`` UTC (the first and
    last, possibly partial, days dropped; a day with missing 2h bars keeps the ones it has)."""
    from lstm_backtrader.backtests.data.files import load_ohlcv
    from lstm_backtrader.backtests.data.validate import validate_ohlcv

    bars = load_ohlcv(path)
    days = bars.resample("24h", offset=f"{start_hour}h").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    days = days.dropna().iloc[1:-1]
    return validate_ohlcv(days, source=f"{path.name} days from {start_hour:02d}:00")


def asset_candles(
    n: int, csv_1d: Path, csv_2h: Path, bars: int | None
) -> list[tuple[str, pd.DataFrame]]:
    """``n`` assets (name, daily candles), each cut to its first ``bars`` bars if given."""
    from lstm_backtrader.backtests.config import DataConfig
    from lstm_backtrader.backtests.simulation import load_candles

    if n - 1 > len(DAY_STARTS):
        raise ValueError(f"--assets {n}: at most {len(DAY_STARTS) + 1}")
    out = [(csv_1d.name, load_candles(DataConfig(source="file", path=str(csv_1d)))[0])]
    for hour in DAY_STARTS[: n - 1]:
        out.append((f"{csv_2h.name} days from {hour:02d}:00", daily_from_2h(csv_2h, hour)))
    if bars is not None:
        out = [(name, c.iloc[:bars]) for name, c in out]
    return out
