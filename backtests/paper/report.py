"""The quantstats tearsheet of a paper session's paper period, ``paper/<name>/tearsheet.html``.

``lstm-bt report paper/<name>`` calls :func:`paper_report`. It reads what the session already
wrote (``session.json``, ``state.json``, ``equity.csv``; nothing is recomputed and no model is
loaded), keeps the bars from ``trade_from`` on (the bars before it are the warm-up the first
model trains on, never traded) and gives :func:`~lstm_backtrader.backtests.report.tearsheet.
write_tearsheet` the per-bar simple returns of the account's ``value`` and of ``buy_hold`` in
``StrategyRecord.returns`` form: the first paper bar's return is the 0.0 placeholder, so the
tearsheet's Cumulative Return is ``value[-1] / value[trade_from] - 1``. Bars per year come from
the session's bar length (``session.json`` ``bar``) through
:func:`~lstm_backtrader.models.metrics.periods_per_year`, as the session's own strategy does.
The benchmark is a Series, so quantstats never downloads anything.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from lstm_backtrader.backtests.paper.journal import read_json_doc
from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["PAPER_FILES", "TEARSHEET", "is_paper_folder", "paper_period", "paper_report"]

#: The files that make a folder a paper session folder (``docs/paper.md``).
PAPER_FILES = ("session.json", "state.json", "equity.csv")
#: The tearsheet's file name inside the session folder (the status page links it).
TEARSHEET = "tearsheet.html"
#: Fewest paper bars a tearsheet needs (two returns after the first bar's placeholder).
MIN_BARS = 3


def is_paper_folder(folder: Path) -> bool:
    """True when ``folder`` holds a paper session's ``session.json``, ``state.json`` and
    ``equity.csv``."""
    return folder.is_dir() and all((folder / name).is_file() for name in PAPER_FILES)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:120]


def _read_equity(path: Path) -> pd.DataFrame:
    """``equity.csv`` by bar open time (naive UTC), with finite ``value`` and ``buy_hold``."""
    try:
        frame = pd.read_csv(path, index_col="timestamp", parse_dates=["timestamp"])
        index = pd.DatetimeIndex(frame.index)
        index = index.tz_convert("UTC") if index.tz is not None else index.tz_localize("UTC")
        frame = frame[["value", "buy_hold"]].astype("float64").set_axis(index, axis=0)
    except (ValueError, KeyError, TypeError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: corrupt ({_one_line(exc)})") from None
    if not frame.index.is_monotonic_increasing or frame.index.has_duplicates:
        raise InputError(f"{path}: corrupt (bar times are not strictly increasing)")
    bad = frame.isna().any(axis=1) | ~(frame > 0).all(axis=1)
    if bad.any():
        raise InputError(
            f"{path}: corrupt (value or buy_hold missing or not positive at bar "
            f"{frame.index[bad.to_numpy()][0].isoformat()})"
        )
    return frame


def _periods_per_year(session: dict[str, Any], path: Path) -> float:
    """Bars per year of the session's bar length (``session.json`` ``bar``, e.g. ``1 days``)."""
    from lstm_backtrader.backtests.data.validate import timeframe_label
    from lstm_backtrader.models.metrics import periods_per_year

    try:
        bar = pd.Timedelta(session["bar"])
        if not bar > pd.Timedelta(0):
            raise ValueError(f"bar is {session['bar']!r}")
        return periods_per_year(timeframe_label(bar))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: corrupt (no usable bar length: {_one_line(exc)})") from None


def paper_period(folder: Path) -> tuple[pd.DataFrame, pd.Timestamp, float]:
    """The paper period of a session folder: its equity rows from ``trade_from`` on.

    Parameters
    ----------
    folder
        A paper session folder (``paper/<name>``).

    Returns
    -------
    (equity, trade_from, periods_per_year)
        ``value`` and ``buy_hold`` by bar open time (UTC) from ``trade_from`` on, the first
        paper bar and the bars per year of the session's bar length.

    Raises
    ------
    InputError
        A missing or corrupt file (named), or fewer than 3 bars in the paper period.
    """
    missing = [name for name in PAPER_FILES if not (folder / name).is_file()]
    if missing:
        raise InputError(f"{folder}: not a paper session folder ({missing[0]} is missing)")
    ppy = _periods_per_year(read_json_doc(folder / "session.json"), folder / "session.json")
    state_path = folder / "state.json"
    state = read_json_doc(state_path)
    try:
        trade_from = pd.Timestamp(state["trade_from"])
        if pd.isna(trade_from):
            raise ValueError("trade_from is empty")
        trade_from = (
            trade_from.tz_convert("UTC") if trade_from.tz else trade_from.tz_localize("UTC")
        )
    except (KeyError, TypeError, ValueError) as exc:
        detail = f"no usable trade_from: {_one_line(exc)}"
        raise InputError(f"{state_path}: corrupt ({detail})") from None
    equity = _read_equity(folder / "equity.csv")
    paper = equity[equity.index >= trade_from]
    if len(paper) < MIN_BARS:
        raise InputError(
            f"{folder}: {len(paper)} bar(s) in the paper period (from {trade_from.isoformat()}); "
            f"a tearsheet needs at least {MIN_BARS}: let the session run longer"
        )
    return paper, trade_from, ppy


def paper_report(folder: Path, *, store: Any = None) -> Path:
    """Write ``folder/tearsheet.html``: the quantstats tearsheet of the session's paper period
    (the account's value) against buy and hold of the same cash (see the module docstring).

    Parameters
    ----------
    folder
        A paper session folder (``paper/<name>``) with ``session.json``, ``state.json`` and
        ``equity.csv``.
    store
        A :class:`~lstm_backtrader.backtests.report.pieces.PieceStore` the page is read back
        from when nothing changed (``None``: always rendered).

    Returns
    -------
    Path
        The written tearsheet.

    Raises
    ------
    InputError
        Not a paper folder, a corrupt file (named) or fewer than 3 paper bars.
    """
    from lstm_backtrader.backtests.report.tearsheet import write_tearsheet

    folder = Path(folder)
    paper, trade_from, ppy = paper_period(folder)
    # per-bar simple returns; the first paper bar's is the placeholder (no earlier close counted)
    returns = paper.pct_change().fillna(0.0)
    returns.iloc[0] = 0.0
    name = folder.name
    logger.info(
        "%s: tearsheet of %d paper bars from %s (%g bars a year)",
        folder, len(paper), trade_from.isoformat(), ppy,
    )  # fmt: skip
    return write_tearsheet(
        returns["value"],
        returns["buy_hold"],
        folder / TEARSHEET,
        periods_per_year=int(round(ppy)),
        title=f"Paper session {name} vs buy & hold",
        strategy_title="Paper",
        store=store,
    )
