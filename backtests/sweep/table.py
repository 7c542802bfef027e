"""The results table: every trial ranked by Sharpe ratio with its Deflated Sharpe Ratio over
the true number of trials, and the spread over seeds of each parameter set.

One row of ``sweep.csv`` is a :class:`TrialRow`; :data:`CSV_COLUMNS` are its fields, in order,
with one column per varied parameter (``section.field``) inserted after ``asset``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, get_type_hints

import numpy as np
import pandas as pd

from lstm_backtrader.backtests.sweep.trials import Trial

logger = logging.getLogger(__name__)

__all__ = ["CSV_COLUMNS", "SPREAD_METRICS", "TrialRow", "build_table", "csv_value", "seed_spread"]


@dataclass(frozen=True)
class TrialRow:
    """The schema of one row of ``sweep.csv`` (one trial); its fields are :data:`CSV_COLUMNS`.

    A ``float`` field is stored as float64 (NaN when the trial could not compute it), an
    ``int`` field as int64. The varied-parameter columns are not fields: each sweep varies its
    own keys, and they follow ``asset``.

    Attributes
    ----------
    rank
        1 = highest Sharpe ratio (NaN ranked last, ties in trial order).
    trial_id
        :func:`~lstm_backtrader.backtests.sweep.keys.trial_id_for` of the config and the data.
    asset, seed
        The asset's name and ``model.seed``.
    sharpe, psr, dsr
        Annualised Sharpe ratio of the LSTM strategy, PSR(0) and the Deflated Sharpe Ratio
        with N = :attr:`n_trials` and V = :attr:`var_trials_sr`.
    cagr, max_drawdown
        Of the LSTM strategy's equity.
    rmse_ratio, direction_acc, always_up_rate
        Forecast RMSE over the persistence baseline's, direction hit rate and the share of
        up moves (the hit rate of always forecasting up).
    bh_sharpe, beats_bh
        Buy & hold's Sharpe ratio on the same bars and costs; ``sharpe > bh_sharpe``.
    sortino, volatility, total_return, calmar
        The LSTM strategy's risk and return statistics (as in a run's statistics table).
    n_trades, win_rate, exposure, fees_paid, final_equity
        Its number of trades, win rate, share of bars ending in a position, fees and final
        equity.
    rmse, baseline_rmse, dm_p_value, direction_p_value, ic
        Forecast diagnostics: RMSE of the model and of the baseline, Diebold-Mariano and
        directional-accuracy p-values, information coefficient.
    sharpe_per_bar, n_returns, skew, kurtosis
        Moments of the per-bar returns the PSR and DSR use.
    n_trials, var_trials_sr
        N and V of the deflation: every trial of the sweep, variance of their per-bar Sharpe
        ratios (finite ones, ddof = 1).
    expected_max_sharpe, expected_max_sharpe_annualised
        SR₀ per bar and annualised: the best Sharpe ratio expected from N zero-skill trials.
    periods_per_year
        Bars per year of the asset's timeframe.
    bh_cagr
        Buy & hold's CAGR.
    oos_start, oos_end, oos_bars, folds
        The out-of-sample span (ISO timestamps), its bars and the walk-forward folds.
    group, params
        Label shared by the trials differing only by seed; the varied values as text.
    cached, seconds
        Reused from the trial cache (then ``seconds`` is 0); run time of the trial.
    """

    rank: int
    trial_id: str
    asset: str
    seed: int
    sharpe: float
    psr: float
    dsr: float
    cagr: float
    max_drawdown: float
    rmse_ratio: float
    direction_acc: float
    always_up_rate: float
    bh_sharpe: float
    beats_bh: bool
    sortino: float
    volatility: float
    total_return: float
    calmar: float
    n_trades: int
    win_rate: float
    exposure: float
    fees_paid: float
    final_equity: float
    rmse: float
    baseline_rmse: float
    dm_p_value: float
    direction_p_value: float
    ic: float
    sharpe_per_bar: float
    n_returns: int
    skew: float
    kurtosis: float
    n_trials: int
    var_trials_sr: float
    expected_max_sharpe: float
    expected_max_sharpe_annualised: float
    periods_per_year: float
    bh_cagr: float
    oos_start: str
    oos_end: str
    oos_bars: int
    folds: int
    group: str
    params: str
    cached: bool
    seconds: float


#: Columns of ``sweep.csv`` before and after the varied-parameter columns, in order.
CSV_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(TrialRow))
_PARAMS_AFTER = "asset"  # the varied-parameter columns follow this one
_TYPES = get_type_hints(TrialRow)
_NUMERIC = tuple(c for c in CSV_COLUMNS if _TYPES[c] in (int, float))
_INTEGER = tuple(c for c in CSV_COLUMNS if _TYPES[c] is int)

#: What :func:`seed_spread` summarises: CSV column → label.
SPREAD_METRICS: tuple[tuple[str, str], ...] = (
    ("sharpe", "Sharpe"),
    ("cagr", "CAGR"),
    ("rmse_ratio", "RMSE ratio vs persistence"),
)


def csv_value(value: Any) -> Any:
    """A parameter value as a table cell: tuples (TOML arrays) as JSON arrays, others as is.

    Parameters
    ----------
    value
        A varied parameter's value (lists frozen to tuples).

    Returns
    -------
    Any
        ``'[4, 4]'`` for ``(4, 4)``; anything else unchanged.
    """
    if isinstance(value, tuple):
        return json.dumps(list(value))
    return value


def build_table(
    trials: Sequence[Trial],
    ids: Sequence[str],
    results: Sequence[Mapping[str, Any]],
    cached: Sequence[bool],
    param_keys: Sequence[str],
) -> pd.DataFrame:
    """The ranked trial table: DSR with N = number of trials and V = variance of their
    per-bar Sharpe ratios (finite ones, ddof = 1, as
    :func:`lstm_backtrader.backtests.report.stats.trial_sharpe_variance`).

    Parameters
    ----------
    trials, ids, results, cached
        Per trial, in trial order: the trial, its id, what
        :func:`~lstm_backtrader.backtests.sweep.runner.run_trial` returned (``None`` for a
        value it could not compute) and whether that came from the trial cache.
    param_keys
        The varied keys, in sweep order: one column each, after ``asset``.

    Returns
    -------
    pandas.DataFrame
        :data:`CSV_COLUMNS` with the parameter columns, sorted by Sharpe ratio (NaN last).
    """
    from lstm_backtrader.models.metrics import dsr_from_moments, expected_max_sharpe

    rows = []
    for trial, tid, res, hit in zip(trials, ids, results, cached, strict=True):
        row: dict[str, Any] = {"trial_id": tid, "asset": trial.asset}
        row.update({k: csv_value(v) for k, v in trial.params})
        row["seed"] = trial.seed
        row.update({k: (np.nan if v is None else v) for k, v in res.items()})
        row.update(group=trial.group, params=trial.params_label, cached=bool(hit))
        if hit:
            row["seconds"] = 0.0
        rows.append(row)
    df = pd.DataFrame(rows)
    for col in (c for c in _NUMERIC if c in df):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    for col in (c for c in _INTEGER if c in df):
        df[col] = df[col].astype("int64")

    n_trials = len(df)
    srs = df["sharpe_per_bar"].to_numpy(dtype="float64")
    finite = srs[np.isfinite(srs)]
    var = float(np.var(finite, ddof=1)) if len(finite) >= 2 else 0.0
    sr0 = expected_max_sharpe(n_trials, var)
    df["n_trials"] = n_trials
    df["var_trials_sr"] = var
    df["expected_max_sharpe"] = sr0
    df["expected_max_sharpe_annualised"] = sr0 * np.sqrt(df["periods_per_year"])
    df["dsr"] = [
        dsr_from_moments(sr, n, sk, ku, n_trials, var) if math.isfinite(sr) else math.nan
        for sr, n, sk, ku in zip(
            df["sharpe_per_bar"], df["n_returns"], df["skew"], df["kurtosis"], strict=True
        )
    ]
    df["beats_bh"] = df["sharpe"] > df["bh_sharpe"]

    df = df.sort_values("sharpe", ascending=False, na_position="last", kind="stable")
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    pos = CSV_COLUMNS.index(_PARAMS_AFTER) + 1
    cols = [*CSV_COLUMNS[:pos], *param_keys, *CSV_COLUMNS[pos:]]
    return df[cols].reset_index(drop=True)


def seed_spread(table: pd.DataFrame, param_keys: Sequence[str] = ()) -> pd.DataFrame:
    """Mean ± std (pandas, ddof = 1) across seeds of Sharpe, CAGR and RMSE ratio for every
    group of trials differing only by seed; sorted by mean Sharpe (NaN last).

    Parameters
    ----------
    table
        From :func:`build_table`.
    param_keys
        The varied keys (their columns are carried over).

    Returns
    -------
    pandas.DataFrame
        Columns: ``group``, ``asset``, the varied keys, ``params``, ``n_seeds``, ``seeds``,
        then ``<metric>_mean`` and ``<metric>_std`` for each of :data:`SPREAD_METRICS`.
    """
    grouped = table.groupby("group", sort=False)
    first = grouped[["asset", *param_keys, "params"]].first()
    out = first.copy()
    out["n_seeds"] = grouped["seed"].count()
    out["seeds"] = grouped["seed"].agg(lambda s: " ".join(str(v) for v in sorted(s)))
    for col, _ in SPREAD_METRICS:
        out[f"{col}_mean"] = grouped[col].mean()
        out[f"{col}_std"] = grouped[col].std()
    out = out.reset_index()
    out = out.sort_values("sharpe_mean", ascending=False, na_position="last", kind="stable")
    return out.reset_index(drop=True)
