"""What the ``lstm-bt`` command modules share: the two consoles and the shared option types.

Results go to :data:`out` (stdout); progress bars, warnings and errors go to :data:`err`
(stderr), so a command's output can be piped or redirected on its own.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = ["CacheOpt", "err", "out", "progress_bars"]

#: Console for a command's results (stdout).
out = Console()
#: Console for progress bars and error lines (stderr).
err = Console(stderr=True)

#: ``--cache-dir`` of the commands that train models (backtest, audit, sweep).
CacheOpt = Annotated[Path | None, typer.Option(help="Fold-model cache folder.")]


def progress_bars(*middle: Any, count: bool = True, transient: bool = False) -> Progress:
    """The commands' progress display on stderr (off when stderr is not a terminal): the task's
    description, a bar, ``done/total`` (unless ``count`` is off), the ``middle`` columns and
    the elapsed time."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        *((MofNCompleteColumn(),) if count else ()),
        *middle,
        TimeElapsedColumn(),
        console=err,
        transient=transient,
        disable=not err.is_terminal,
    )
