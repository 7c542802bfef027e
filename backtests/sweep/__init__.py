"""Parameter sweeps behind ``lstm-bt sweep``: many walk-forward backtests, one honest table.

A sweep file (TOML, see ``configs/sweep.toml``) names a base run configuration, a grid (or an
explicit list) of overrides of ``[model]``, ``[walkforward]`` and ``[strategy]`` fields, the
model seeds and optionally several assets. Every combination is a **trial**: a full
walk-forward backtest (:func:`lstm_backtrader.backtests.simulation.simulate`) scored with the same
statistics as a run folder (:func:`lstm_backtrader.backtests.report.stats.strategy_row`,
:func:`~lstm_backtrader.backtests.report.stats.sharpe_significance`,
:func:`lstm_backtrader.backtests.simulation.forecast_diagnostics`).

The results land in one table ranked by Sharpe ratio, where each trial's Deflated Sharpe Ratio
is computed with the **true number of trials** ``N`` of the sweep and the variance ``V`` of the
trials' per-bar Sharpe ratios (Bailey & López de Prado 2014)::

    DSR = PSR(SR₀),  SR₀ = √V · ((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)))

and the spread over seeds of each group of trials that differ only by seed (mean ± std of
Sharpe, CAGR and the forecast RMSE ratio vs persistence, as Qlib reports).

Trials are independent: they run through :func:`lstm_backtrader.models.infra.executor.make_executor`
(serial, local processes or Dask) as the module-level :func:`run_trial` applied to a picklable
:class:`TrialTask`; only plain dicts come back. A finished trial is cached as
``<cache_dir>/trials/<trial_id>.json`` (keyed on its config, the data hash and the installed
library versions), so a rerun only computes the missing trials; each trial also shares the
fold-model cache (``cache_dir``) with ``lstm-bt backtest``.

Modules, one job each (a module imports only those listed above it):

- :mod:`~lstm_backtrader.backtests.sweep.spec`: the sweep file → :class:`SweepConfig`.
- :mod:`~lstm_backtrader.backtests.sweep.trials`: its :class:`Trial` list and loaded assets.
- :mod:`~lstm_backtrader.backtests.sweep.keys`: trial ids, trial cache keys, the sweep id.
- :mod:`~lstm_backtrader.backtests.sweep.store`: the trial cache files.
- :mod:`~lstm_backtrader.backtests.sweep.table`: :class:`TrialRow`, the ranked table with the
  DSR, the seed spread.
- :mod:`~lstm_backtrader.backtests.sweep.output`: ``sweep.csv``, ``seeds.csv``,
  ``sweep.json`` and ``index.html``.
- :mod:`~lstm_backtrader.backtests.sweep.runner`: :func:`run_trial` and :func:`run_sweep`.
"""

from __future__ import annotations

import logging

from lstm_backtrader.backtests.sweep.keys import (
    TRIAL_SCHEMA,
    sweep_id_for,
    trial_cache_key,
    trial_id_for,
)
from lstm_backtrader.backtests.sweep.output import SWEEP_SCHEMA
from lstm_backtrader.backtests.sweep.runner import SweepResult, TrialTask, run_sweep, run_trial
from lstm_backtrader.backtests.sweep.spec import (
    SWEEP_KEYS,
    VARIABLE_SECTIONS,
    Asset,
    SweepConfig,
    load_sweep,
)
from lstm_backtrader.backtests.sweep.store import read_cached_trial, write_cached_trial
from lstm_backtrader.backtests.sweep.table import (
    CSV_COLUMNS,
    SPREAD_METRICS,
    TrialRow,
    seed_spread,
)
from lstm_backtrader.backtests.sweep.trials import Trial, expand_trials

logger = logging.getLogger(__name__)

__all__ = [
    "CSV_COLUMNS",
    "SPREAD_METRICS",
    "SWEEP_KEYS",
    "SWEEP_SCHEMA",
    "TRIAL_SCHEMA",
    "VARIABLE_SECTIONS",
    "Asset",
    "SweepConfig",
    "SweepResult",
    "Trial",
    "TrialRow",
    "TrialTask",
    "expand_trials",
    "load_sweep",
    "read_cached_trial",
    "run_sweep",
    "run_trial",
    "seed_spread",
    "sweep_id_for",
    "trial_cache_key",
    "trial_id_for",
    "write_cached_trial",
]
