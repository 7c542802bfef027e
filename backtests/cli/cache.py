"""``lstm-bt cache info`` and ``lstm-bt cache prune``: the fold cache and the report pieces.

Both caches only save time (a missing entry is trained or drawn again), so pruning is always
safe; an entry's age is its *last use* (every hit stamps it), not its creation.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from lstm_backtrader.backtests.cli.common import CacheOpt, out
from lstm_backtrader.models.infra.cacheuse import CacheUsage, prune_entries, usage
from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["cache_info", "cache_prune"]

DAY = 86_400.0


def _entries(root: Path) -> dict[str, list[tuple[Path, float]]]:
    from lstm_backtrader.backtests.report.pieces import piece_entries
    from lstm_backtrader.backtests.run import REPORT_PIECES_DIR
    from lstm_backtrader.models.foldstore import fold_entries

    return {
        "fold models": fold_entries(root),
        "report pieces": piece_entries(root / REPORT_PIECES_DIR),
    }


def _root(cache_dir: Path | None) -> Path:
    from lstm_backtrader.backtests.simulation import default_cache_dir

    root = (cache_dir or default_cache_dir()).expanduser()
    if root.exists() and not root.is_dir():
        raise InputError(f"--cache-dir {root}: not a folder")
    return root


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def _when(t: float | None) -> str:
    if t is None:
        return "–"
    return pd.Timestamp(t, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def _table(title: str, rows: dict[str, CacheUsage]) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("what", "entries", "size", "oldest last use", "newest last use"):
        table.add_column(col, justify="right" if col in ("entries", "size") else "left")
    for what, u in rows.items():
        table.add_row(what, f"{u.entries:,}", _mib(u.bytes), _when(u.oldest), _when(u.newest))
    return table


def cache_info(cache_dir: CacheOpt = None) -> None:
    """How much the fold-model cache and the report pieces hold, and when they were last used."""
    root = _root(cache_dir)
    rows = {what: usage(entries) for what, entries in _entries(root).items()}
    out.print(_table(f"cache {root}", rows))


def cache_prune(
    older_than: Annotated[
        float,
        typer.Option(help="Remove entries no run has used for this many days (0: all)."),
    ],
    dry_run: Annotated[bool, typer.Option(help="Only say what would be removed.")] = False,
    cache_dir: CacheOpt = None,
) -> None:
    """Remove cache entries not used for --older-than days (they are rebuilt when needed)."""
    if not older_than >= 0 or older_than == float("inf"):
        raise InputError(f"--older-than is {older_than}: use a number of days >= 0")
    root = _root(cache_dir)
    gone = {
        what: prune_entries(entries, older_than * DAY, dry_run=dry_run)
        for what, entries in _entries(root).items()
    }
    verb = "would remove" if dry_run else "removed"
    out.print(
        f"{verb} "
        + ", ".join(f"{u.entries:,} {what} ({_mib(u.bytes)})" for what, u in gone.items())
        + f" unused for more than {older_than:g} days from {root}"
    )
