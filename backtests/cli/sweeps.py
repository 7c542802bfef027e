"""The ``lstm-bt sweep`` command: walk-forward backtests over a grid of parameters."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

from lstm_backtrader.backtests.cli.common import CacheOpt, out, progress_bars

logger = logging.getLogger(__name__)

__all__ = ["sweep"]


def sweep(
    config: Annotated[
        Path, typer.Option("--config", help="TOML sweep file (see configs/sweep.toml).")
    ],
    workers: Annotated[int, typer.Option(help="Trials run at once (1 = serial).")] = 1,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address, e.g. tcp://host:8786.")
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (default: reports/sweeps/<sweep-id>)."),
    ] = None,
    cache_dir: CacheOpt = None,
    top: Annotated[int, typer.Option(help="Trials shown in the terminal table.")] = 10,
) -> None:
    r"""Walk-forward backtests over a grid (or list) of model/strategy parameters, seeds and
    assets; writes sweep.csv, seeds.csv, sweep.json and index.html, ranked by Sharpe with each
    trial's DSR deflated for the true number of trials.

    Sweep file (TOML, paths relative to it; see configs/sweep.toml): base = "run.toml" (a run
    config as for backtest --config; optional), optional \[model] \[walkforward] \[strategy]
    \[data] tables on top of it, seeds = \[1, 2, 3] (model.seed values), mode = "grid" with
    \[grid] "section.field" = \[values] (cartesian product) or mode = "list" with \[\[trials]]
    tables of "section.field" = value, and optional \[\[assets]] tables (name, then sample =
    "1d", path = "file.csv" or exchange/symbol/timeframe; since/until). Finished trials are
    cached in <cache-dir>/trials and reused on a rerun.
    """

    from lstm_backtrader.backtests.sweep import load_sweep, run_sweep

    spec = load_sweep(config)
    with progress_bars() as progress:
        task = progress.add_task("trials run", total=None)

        def on_plan(n_trials: int, n_todo: int) -> None:
            progress.update(task, total=n_todo, completed=0)
            if n_todo < n_trials:
                progress.console.print(f"{n_trials - n_todo} of {n_trials} trials cached")

        def on_trial(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = run_sweep(
            spec,
            out_dir=out_dir,
            cache_dir=cache_dir,
            workers=workers,
            scheduler=scheduler,
            progress=on_trial,
            on_plan=on_plan,
        )
    _print_sweep(result.table, result.summary, top)
    out.print(f"sweep: {result.out_dir / 'index.html'}")


def _print_sweep(table: pd.DataFrame, summary: dict[str, Any], top: int) -> None:
    keys = list(summary.get("param_keys") or [])
    n = len(table)
    grid = Table(
        title=f"top {min(top, n)} of {n} trials by Sharpe (DSR with N = {n})", title_justify="left"
    )
    for col in ("#", "trial", "asset", *keys, "seed", "Sharpe", "DSR", "CAGR", "RMSE ratio"):
        grid.add_column(
            escape(col),
            justify="left" if col in ("trial", "asset", *keys) else "right",
            no_wrap=col not in ("asset", *keys),
        )

    def num(v: Any, fmt: str = ".2f") -> str:
        return "—" if v is None or pd.isna(v) else format(v, fmt)

    for _, row in table.head(max(top, 0)).iterrows():
        grid.add_row(
            str(row["rank"]),
            row["trial_id"],
            escape(str(row["asset"])),
            *(escape("none" if pd.isna(row[k]) else str(row[k])) for k in keys),
            str(row["seed"]),
            num(row["sharpe"]) + (" ▲" if row["beats_bh"] else ""),
            num(row["dsr"], ".3f"),
            num(row["cagr"], ".1%"),
            num(row["rmse_ratio"], ".3f"),
        )
    out.print(grid)
    for asset in summary.get("assets") or []:
        lo, hi = asset.get("bh_sharpe_min"), asset.get("bh_sharpe_max")
        bh = num(lo) if lo == hi else f"{num(lo)} … {num(hi)}"
        out.print(
            f"buy & hold Sharpe on {escape(str(asset['asset']))}: {bh}; "
            f"{asset.get('trials_beating_bh')} of {asset.get('trials')} trials beat it (▲)",
            highlight=False,
        )
