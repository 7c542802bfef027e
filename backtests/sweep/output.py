"""The sweep folder: ``sweep.csv``, ``seeds.csv``, the ``sweep.json`` summary and the page
(``index.html``, :mod:`lstm_backtrader.backtests.report.sweep_page`), all written atomically."""

from __future__ import annotations

import json
import logging
import math
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from lstm_backtrader.backtests.sweep.keys import config_doc
from lstm_backtrader.backtests.sweep.spec import SweepConfig
from lstm_backtrader.backtests.sweep.table import SPREAD_METRICS, csv_value
from lstm_backtrader.backtests.sweep.trials import LoadedAsset

logger = logging.getLogger(__name__)

__all__ = ["SWEEP_SCHEMA", "sweep_summary", "write_sweep_folder"]

#: Layout of ``sweep.json``; bump on incompatible changes.
SWEEP_SCHEMA = "lstm-bt.sweep/1"


def _asset_rows(loaded: Mapping[str, LoadedAsset], table: pd.DataFrame) -> list[dict[str, Any]]:
    """Per asset: its data, buy & hold's Sharpe ratio and how many trials beat it."""
    from lstm_backtrader.backtests.data.validate import describe_ohlcv

    rows = []
    for name, la in loaded.items():
        report = describe_ohlcv(la.candles)
        sub = table[table["asset"] == name]
        bh = sorted({round(float(v), 10) for v in sub["bh_sharpe"] if math.isfinite(v)})
        best = sub["sharpe"].max() if len(sub) else math.nan
        rows.append(
            {
                "asset": name,
                "source": la.source.get("source"),
                "symbol": la.source.get("symbol") or la.source.get("file"),
                "timeframe": report.timeframe,
                "start": report.start,
                "end": report.end,
                "bars": report.bars,
                "sha256": la.data_hash,
                "bh_sharpe": bh[0] if len(bh) == 1 else None,
                "bh_sharpe_min": bh[0] if bh else None,
                "bh_sharpe_max": bh[-1] if bh else None,
                "best_sharpe": best,
                "trials_beating_bh": int(sub["beats_bh"].sum()),
                "trials": len(sub),
                "expected_max_sharpe_annualised": (
                    float(sub["expected_max_sharpe_annualised"].iloc[0]) if len(sub) else None
                ),
            }
        )
    return rows


def _records(frame: pd.DataFrame) -> dict[str, Any]:
    """A frame as ``{"columns": [...], "rows": [{column: value}, ...]}`` of JSON values."""
    from lstm_backtrader.backtests.report.page import jsonable

    cols = [str(c) for c in frame.columns]
    return {
        "columns": cols,
        "rows": [
            {c: jsonable(v) for c, v in zip(cols, rec, strict=True)}
            for rec in frame.itertuples(index=False, name=None)
        ],
    }


def _notes(n_trials: int, var: float, sr0: float) -> list[str]:
    return [
        f"DSR = PSR(SR₀): the probability that a trial's true Sharpe ratio beats SR₀, the best "
        f"Sharpe ratio expected from N = {n_trials} zero-skill trials (every trial of this "
        f"sweep: all parameter sets, seeds and assets) whose per-bar Sharpe ratios have the "
        f"variance V = {var:.3g} observed here (SR₀ = {sr0:.4f} per bar; Bailey & López de "
        "Prado 2014). A top trial with DSR below 0.95 is not distinguishable from the luckiest "
        "of N random strategies.",
        "PSR(0) = probability that the true Sharpe ratio is above 0, not deflated (Bailey & "
        "López de Prado 2012, raw kurtosis).",
        "Seed spread: trials that differ only by model.seed form a group; mean ± std (ddof = 1) "
        "across seeds of Sharpe, CAGR and the forecast RMSE ratio vs persistence (< 1: the "
        "model beats a zero forecast), as Qlib reports. A difference between parameter sets "
        "smaller than the seed spread is noise.",
        "Buy & hold trades the same out-of-sample bars with the same costs: its Sharpe ratio per "
        "asset is the bar to beat.",
    ]


def sweep_summary(
    sweep: SweepConfig,
    *,
    sweep_id: str,
    table: pd.DataFrame,
    spread: pd.DataFrame,
    loaded: Mapping[str, LoadedAsset],
    computed: int,
    executor: str,
) -> dict[str, Any]:
    """Everything the page shows, as ``sweep.json`` holds it (JSON values only).

    Parameters
    ----------
    sweep
        The sweep as parsed.
    sweep_id
        :func:`~lstm_backtrader.backtests.sweep.keys.sweep_id_for` of its trials.
    table, spread
        From :func:`~lstm_backtrader.backtests.sweep.table.build_table` and
        :func:`~lstm_backtrader.backtests.sweep.table.seed_spread`.
    loaded
        The sweep's assets with their data.
    computed
        Trials run now (the others came from the trial cache).
    executor
        Name of the executor that ran them (``'none'`` when every trial was cached).

    Returns
    -------
    dict
        Strict-JSON-ready (:func:`lstm_backtrader.backtests.report.page.jsonable`).
    """
    from lstm_backtrader.backtests.report.page import jsonable
    from lstm_backtrader.backtests.run import package_versions

    n_trials = len(table)
    var = float(table["var_trials_sr"].iloc[0])
    sr0 = float(table["expected_max_sharpe"].iloc[0])
    summary = {
        "schema": SWEEP_SCHEMA,
        "title": sweep.title,
        "sweep_id": sweep_id,
        "sweep_file": sweep.path,
        "mode": sweep.mode,
        "param_keys": list(sweep.param_keys),
        "seeds": list(sweep.seeds),
        "grid": {k: [csv_value(v) for v in vals] for k, vals in sweep.grid},
        "trials_list": [{k: csv_value(v) for k, v in t} for t in sweep.trials],
        "base_file": sweep.raw.get("base"),
        "base_config": config_doc(sweep.base),
        "n_trials": n_trials,
        "var_trials_sr": var,
        "expected_max_sharpe": sr0,
        "computed": computed,
        "cached": n_trials - computed,
        "executor": executor,
        "assets": _asset_rows(loaded, table),
        "trials": _records(table),
        "seed_spread": _records(spread),
        "spread_metrics": [list(m) for m in SPREAD_METRICS],
        "notes": _notes(n_trials, var, sr0),
        "versions": package_versions(),
        "platform": f"{platform.system()} {platform.machine()}",
    }
    return jsonable(summary)


def write_sweep_folder(
    out: Path, table: pd.DataFrame, spread: pd.DataFrame, summary: Mapping[str, Any]
) -> None:
    """Write ``sweep.csv``, ``seeds.csv``, ``sweep.json`` and ``index.html`` into ``out``.

    Parameters
    ----------
    out
        The sweep folder (created if missing; existing files are replaced atomically).
    table, spread
        The ranked trial table and the seed-spread table.
    summary
        From :func:`sweep_summary`.
    """
    from lstm_backtrader.backtests.report.sweep_page import write_sweep_page
    from lstm_backtrader.models.infra.fileio import atomic_write, atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "sweep.csv", lambda p: table.to_csv(p, index=False))
    atomic_write(out / "seeds.csv", lambda p: spread.to_csv(p, index=False))
    atomic_write_text(
        out / "sweep.json",
        json.dumps(summary, indent=2, allow_nan=False, ensure_ascii=False) + "\n",
    )
    write_sweep_page(out / "index.html", summary)
