"""Running a sweep: :func:`run_trial` scores one trial (on any executor worker) and
:func:`run_sweep` plans the trials, reuses the cached ones, runs the rest through the
executor and writes the sweep folder.

:func:`run_trial` is the function process and Dask workers unpickle by reference, as
``lstm_backtrader.backtests.sweep.runner.run_trial``: keep it at module level in this module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lstm_backtrader.backtests.config import RunConfig
from lstm_backtrader.backtests.sweep.keys import sweep_id_for, trial_cache_key, trial_id_for
from lstm_backtrader.backtests.sweep.output import sweep_summary, write_sweep_folder
from lstm_backtrader.backtests.sweep.spec import SweepConfig
from lstm_backtrader.backtests.sweep.store import (
    plain_scalar,
    read_cached_trial,
    write_cached_trial,
)
from lstm_backtrader.backtests.sweep.table import build_table, seed_spread
from lstm_backtrader.backtests.sweep.trials import expand_trials, load_assets
from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["SweepResult", "TrialTask", "run_sweep", "run_trial"]


@dataclass(frozen=True)
class TrialTask:
    """What a worker needs to run one trial: picklable, nothing Keras or backtrader inside.

    Attributes
    ----------
    trial_id
        :func:`~lstm_backtrader.backtests.sweep.keys.trial_id_for` of the config and the data.
    key
        Full cache key (config, data hash, library versions); stored in the cache file.
    config
        The trial's run configuration.
    candles
        The asset's candle frame.
    cache_dir
        Fold-model cache root (``''``: no cache, neither folds nor trial result).
    """

    trial_id: str
    key: str
    config: RunConfig
    candles: pd.DataFrame
    cache_dir: str = ""


def run_trial(task: TrialTask) -> dict[str, Any]:
    """Run one trial: walk-forward forecasts, the LSTM strategy and buy-and-hold, scored.

    Module-level so process and Dask executors can pickle it. Returns plain floats, ints and
    strings (per-bar Sharpe moments included, so the sweep can deflate every trial with the
    final ``N`` and ``V`` without the return series). The result is also written to the
    trial cache when ``task.cache_dir`` is set (a killed sweep resumes from it).

    Parameters
    ----------
    task
        The trial, its data and the cache root.

    Returns
    -------
    dict
        Keyed by :data:`~lstm_backtrader.backtests.sweep.table.CSV_COLUMNS` names; ``None``
        for a value that is not finite.
    """
    from lstm_backtrader.backtests.data.validate import describe_ohlcv
    from lstm_backtrader.backtests.report.stats import sharpe_significance, strategy_row
    from lstm_backtrader.backtests.simulation import (
        BASELINE_NAMES,
        MODEL_NAME,
        default_cache_dir,
        forecast_diagnostics,
        simulate,
    )
    from lstm_backtrader.models.metrics import periods_per_year

    start = time.perf_counter()
    # no folder given (a remote Dask worker): this machine's own default fold cache
    cache = Path(task.cache_dir) if task.cache_dir else default_cache_dir()
    sim = simulate(task.candles, task.config, cache_dir=cache)
    ppy = periods_per_year(describe_ohlcv(task.candles).timeframe)
    lstm, bh = sim.records[MODEL_NAME], sim.records[BASELINE_NAMES[0]]
    row, bh_row = strategy_row(lstm, ppy), strategy_row(bh, ppy)
    sig = sharpe_significance(lstm, ppy)  # N = 1 here: the sweep deflates with the true N
    fm = forecast_diagnostics(sim)
    fc = fm.to_dict() if fm is not None else {}
    directional = fc.get("directional") or {}
    dm = fc.get("dm_vs_baseline") or {}
    ic = fc.get("ic") or {}
    folds = sim.folds
    result: dict[str, Any] = {
        "sharpe": row["sharpe"],
        "psr": sig.psr,
        "cagr": row["cagr"],
        "max_drawdown": row["max_drawdown"],
        "rmse_ratio": fc.get("rmse_ratio"),
        "direction_acc": directional.get("accuracy"),
        "always_up_rate": directional.get("always_up_rate"),
        "bh_sharpe": bh_row["sharpe"],
        "bh_cagr": bh_row["cagr"],
        "sortino": row["sortino"],
        "volatility": row["volatility"],
        "total_return": row["total_return"],
        "calmar": row["calmar"],
        "n_trades": row["n_trades"],
        "win_rate": row["win_rate"],
        "exposure": row["exposure"],
        "fees_paid": row["fees_paid"],
        "final_equity": row["final_equity"],
        "rmse": fc.get("rmse"),
        "baseline_rmse": fc.get("baseline_rmse"),
        "dm_p_value": dm.get("p_value"),
        "direction_p_value": directional.get("p_value"),
        "ic": ic.get("ic"),
        "sharpe_per_bar": sig.sharpe_per_bar,
        "n_returns": sig.n,
        "skew": sig.skew,
        "kurtosis": sig.kurtosis,
        "periods_per_year": ppy,
        "oos_start": sim.oos_start.isoformat(),
        "oos_end": lstm.equity.index[-1].isoformat(),
        "oos_bars": len(lstm.equity),
        "folds": len(folds),
        "seconds": round(time.perf_counter() - start, 3),
    }
    result = {k: plain_scalar(v) for k, v in result.items()}
    if task.cache_dir:
        try:
            write_cached_trial(task.cache_dir, task.trial_id, task.key, result)
        except OSError as exc:  # the client stores the result anyway
            logger.warning("trial %s: cannot write the trial cache (%s)", task.trial_id, exc)
    return result


@dataclass(frozen=True)
class SweepResult:
    """What :func:`run_sweep` produced.

    Attributes
    ----------
    out_dir
        The folder holding ``sweep.csv``, ``seeds.csv``, ``sweep.json`` and ``index.html``.
    table
        The ranked trial table (``sweep.csv``).
    spread
        The seed-spread table (``seeds.csv``).
    summary
        Everything on the page (``sweep.json``).
    computed, cached
        Trials run now and trials reused from the trial cache.
    """

    out_dir: Path
    table: pd.DataFrame
    spread: pd.DataFrame
    summary: dict[str, Any]
    computed: int
    cached: int


def run_sweep(
    sweep: SweepConfig,
    *,
    out_dir: Path | None = None,
    reports_dir: Path = Path("reports") / "sweeps",
    cache_dir: Path | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_plan: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Run every trial of ``sweep`` (reusing cached ones) and write the sweep folder.

    Parameters
    ----------
    sweep
        From :func:`~lstm_backtrader.backtests.sweep.spec.load_sweep`.
    out_dir
        Output folder; default ``reports_dir / <sweep id>``
        (:func:`~lstm_backtrader.backtests.sweep.keys.sweep_id_for`).
    reports_dir
        Parent of the default output folder.
    cache_dir
        Root of the fold cache and of the trial cache (``<cache_dir>/trials``); default
        :func:`lstm_backtrader.backtests.simulation.default_cache_dir`.
    workers, scheduler
        Passed to :func:`lstm_backtrader.models.infra.executor.make_executor`.
    progress
        ``progress(done, total)`` after each trial computed now.
    on_plan
        ``on_plan(n_trials, n_to_run)`` once the cached trials are known.

    Returns
    -------
    SweepResult

    Raises
    ------
    InputError
        An invalid combination, an asset that cannot be loaded, two identical trials or an
        unusable ``workers`` / ``scheduler``.
    """
    from lstm_backtrader.backtests.simulation import default_cache_dir
    from lstm_backtrader.models.infra.executor import make_executor

    if workers < 1:
        raise InputError(f"--workers is {workers}: use 1 or more")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    trials = expand_trials(sweep)  # validates every combination before any data is loaded
    loaded = load_assets(sweep)
    ids = [trial_id_for(t.config, loaded[t.asset].data_hash) for t in trials]
    keys = [trial_cache_key(t.config, loaded[t.asset].data_hash) for t in trials]
    seen: dict[str, int] = {}
    for t, tid in zip(trials, ids, strict=True):
        if tid in seen:
            raise InputError(
                f"{sweep.path}: trials #{seen[tid] + 1} and #{t.index + 1} are identical (same "
                "config, seed and data); remove the duplicate so N counts distinct trials"
            )
        seen[tid] = t.index

    results: list[dict[str, Any] | None] = [
        read_cached_trial(cache, tid, key) for tid, key in zip(ids, keys, strict=True)
    ]
    cached = [r is not None for r in results]
    todo = [i for i, r in enumerate(results) if r is None]
    logger.info("sweep: %d trials, %d cached, %d to run", len(trials), len(trials) - len(todo),
                len(todo))  # fmt: skip
    if on_plan is not None:
        on_plan(len(trials), len(todo))
    executor_name = "none"
    if todo:
        # on a cluster the client's default cache folder may not exist on the workers: they
        # use their own default then, and the results are stored here below either way
        task_cache = "" if scheduler and cache_dir is None else str(cache)
        tasks = [
            TrialTask(ids[i], keys[i], trials[i].config, loaded[trials[i].asset].candles,
                      task_cache)
            for i in todo
        ]  # fmt: skip
        try:
            executor = make_executor(workers=workers, scheduler=scheduler)
        except NotImplementedError as exc:
            raise InputError(f"--workers {workers} / --scheduler {scheduler}: {exc}") from None
        with executor as ex:
            executor_name = ex.name
            computed = ex.map(run_trial, tasks, progress=progress)
        for i, res in zip(todo, computed, strict=True):
            results[i] = res
            if read_cached_trial(cache, ids[i], keys[i]) is None:  # e.g. a remote worker
                write_cached_trial(cache, ids[i], keys[i], res)

    keys_order = list(sweep.param_keys)
    table = build_table(trials, ids, [r or {} for r in results], cached, keys_order)
    spread = seed_spread(table, keys_order)
    sweep_id = sweep_id_for(sweep, ids)
    out = Path(out_dir) if out_dir is not None else Path(reports_dir) / sweep_id
    summary = sweep_summary(
        sweep,
        sweep_id=sweep_id,
        table=table,
        spread=spread,
        loaded=loaded,
        computed=len(todo),
        executor=executor_name,
    )
    write_sweep_folder(out, table, spread, summary)
    return SweepResult(out, table, spread, summary, len(todo), len(table) - len(todo))
