"""What the ``lstm-bt`` command modules share: the two consoles and the shared option types.

Results go to :data:`out` (stdout); progress bars, warnings and errors go to :data:`err`
(stderr), so a command's output can be piped or redirected on its own.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

logger = logging.getLogger(__name__)

__all__ = ["CacheOpt", "err", "out"]

#: Console for a command's results (stdout).
out = Console()
#: Console for progress bars and error lines (stderr).
err = Console(stderr=True)

#: ``--cache-dir`` of the commands that train models (backtest, audit, sweep).
CacheOpt = Annotated[Path | None, typer.Option(help="Fold-model cache folder.")]
