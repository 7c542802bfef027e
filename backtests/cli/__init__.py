"""The ``lstm-bt`` command line.

Commands stay thin: they parse options, call the library and print. Every error caused by the
user's input (:class:`~lstm_backtrader.models.infra.errors.InputError`) is printed as one line on
stderr with exit code 2 — never a traceback. Heavy libraries (TensorFlow, ccxt) are imported only
by the commands that need them, so ``lstm-bt --help`` and ``lstm-bt data info`` start fast.

This package holds the Typer :data:`app`, its root options (logging) and :func:`main`; the
commands live in one module per group and are registered here, in the order ``--help`` lists
them:

* :mod:`~lstm_backtrader.backtests.cli.data` — ``fetch``, ``data info``
* :mod:`~lstm_backtrader.backtests.cli.runs` — ``backtest``, ``report``, ``audit``
* :mod:`~lstm_backtrader.backtests.cli.sweeps` — ``sweep``
* :mod:`~lstm_backtrader.backtests.cli.paper` — ``paper``
* :mod:`~lstm_backtrader.backtests.cli.cache` — ``cache info``, ``cache prune``
* :mod:`~lstm_backtrader.backtests.cli.common` — the consoles and option types they share
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec, TypeVar

import click
import typer
from rich.markup import escape

from lstm_backtrader.backtests.cli import cache, data, paper, runs, sweeps
from lstm_backtrader.backtests.cli.common import err
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.tfload import QUIET_ENV

logger = logging.getLogger(__name__)

__all__ = ["app", "data_app", "main", "user_errors"]

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="lstm-bt",
    help="Walk-forward LSTM backtests of BTC on Backtrader, with honest baselines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect candle files.", no_args_is_help=True)
app.add_typer(data_app, name="data")
cache_app = typer.Typer(help="Size and pruning of the fold-model cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


#: Exit codes of every command: 0 success (a check that found nothing wrong), 1 a check found a
#: problem (``audit``: a leak, named), 2 bad input (one line naming the file, row or field),
#: 3 the tool's own failure (one line; ``-v`` adds the traceback), 130 interrupted.
EXIT_OK, EXIT_FOUND, EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn an :class:`InputError` into one line on stderr and exit code 2, and any other
    failure into one line with exit code 3 (never a traceback unless ``-v`` was given).

    Parameters
    ----------
    func
        A command function.

    Returns
    -------
    Callable
        ``func`` with the same signature and help; a Ctrl-C exits with code 130.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_INPUT) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (click.exceptions.Exit, click.exceptions.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - the tool's own failure: one line, code 3
            if logging.getLogger().getEffectiveLevel() <= logging.INFO:
                logger.exception("internal error")
            message = " ".join(str(exc).split()) or "no message"
            err.print(
                f"[bold red]internal error:[/] {escape(type(exc).__name__)}: {escape(message)}"
                " (a bug in lstm-bt, not in your input: rerun with -v for the traceback and "
                "report it)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper


class _LowerLevelFormatter(logging.Formatter):
    """``warning: ...`` rather than ``WARNING: ...``, like the CLI's own ``error:`` lines."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord(record.__dict__)
        record.levelname = record.levelname.lower()
        return super().format(record)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time (survives redirections in tests)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


@app.callback()
def _root(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output.")
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors.")] = False,
) -> None:
    level = (
        logging.ERROR
        if quiet
        else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    )
    handler = _StderrHandler()
    # plain "warning: ..." lines for users; -v adds where each line comes from
    fmt = "%(levelname)s %(name)s: %(message)s" if verbose else "%(levelname)s: %(message)s"
    handler.setFormatter(_LowerLevelFormatter(fmt))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    # TensorFlow's native start-up lines (absl, oneDNN, CUDA) only with -v
    os.environ[QUIET_ENV] = "0" if verbose else "1"


# The commands, in the order `lstm-bt --help` lists them.
app.command()(user_errors(data.fetch))
data_app.command("info")(user_errors(data.data_info))
app.command()(user_errors(runs.backtest))
app.command()(user_errors(runs.report))
app.command()(user_errors(runs.audit))
app.command()(user_errors(sweeps.sweep))
app.command()(user_errors(paper.paper))
cache_app.command("info")(user_errors(cache.cache_info))
cache_app.command("prune")(user_errors(cache.cache_prune))


def main() -> None:
    """Entry point of the ``lstm-bt`` console script."""
    app()
