"""The run's summary: every number its report page shows, as strict JSON (``summary.json``).

:func:`summary_dict` turns the run's results (:class:`ReportInputs`) into a plain,
JSON-serialisable dict (NaN/inf → ``None``); :func:`write_summary` and :func:`load_summary`
store it and read it back. The page itself is drawn from that dict alone by
:func:`lstm_backtrader.backtests.report.page.render_index`, so a later ``lstm-bt report RUN``
can redraw it without retraining.

The layout of the dict is identified by :data:`SCHEMA`; its keys and their order are part of
that layout (the same run writes the same bytes).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstm_backtrader.backtests.report.stats import SharpeSignificance
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.infra.fileio import atomic_write_text

logger = logging.getLogger(__name__)

__all__ = [
    "SCHEMA",
    "ReportInputs",
    "is_plain_name",
    "is_relative_link",
    "jsonable",
    "load_summary",
    "summary_dict",
    "write_summary",
]

#: Identifies the layout of ``summary.json``; bump when keys change incompatibly.
SCHEMA = "lstm-bt.report/1"

_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_RELATIVE_LINK = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")


def is_plain_name(name: object) -> bool:
    """Whether ``name`` is a plain file stem (letters, digits, ``_ . -``; no separator).

    Parameters
    ----------
    name
        Candidate figure name.

    Returns
    -------
    bool
        ``True`` for a string safe to use as ``plots/<name>.png`` and as an HTML anchor.
    """
    return isinstance(name, str) and _PLAIN_NAME.match(name) is not None


def is_relative_link(link: object) -> bool:
    """Whether ``link`` is a plain relative path (no scheme, no ``..``, no leading ``/``).

    Parameters
    ----------
    link
        Candidate link, e.g. ``"tearsheet.html"``.

    Returns
    -------
    bool
        ``True`` for a string safe to use as the ``href`` of a link beside the page.
    """
    return isinstance(link, str) and _RELATIVE_LINK.match(link) is not None


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class ReportInputs:
    """Everything the run's page shows, before it is flattened by :func:`summary_dict`.

    Attributes
    ----------
    title
        Page heading.
    config
        The run's configuration (nested mappings allowed), shown as a key/value table.
    data
        Data range and source, e.g. ``{"source": ..., "symbol": "BTC/USDT", "timeframe": "1d",
        "start": ..., "end": ..., "bars": ...}``.
    periods_per_year
        Annualisation factor used by the tables (365 for daily crypto).
    strategies
        :func:`lstm_backtrader.backtests.report.stats.strategy_table` output (index = strategy
        names).
    forecast
        ``lstm_backtrader.models.metrics.ForecastMetrics.to_dict()`` of the model against
        persistence (or ``None`` when no forecast was scored).
    target
        A direction or volatility run: the model's scores against each of the target's
        baselines (:func:`lstm_backtrader.backtests.targets.target_diagnostics`); ``None``
        for a return run (its scores are ``forecast``).
    significance
        :class:`~lstm_backtrader.backtests.report.stats.SharpeSignificance` (or its ``to_dict()``)
        of one or more strategies; the number of trials each DSR deflates for is shown beside it.
    folds
        Per-fold table of the walk-forward (columns such as ``fold``, ``start``, ``end``,
        ``rmse``, ``baseline_rmse``); a ``rmse_ratio`` column is added when both RMSEs exist.
    model_name, baseline_name
        Labels of the model and of its forecast baseline.
    tearsheet
        Relative link to the quantstats tearsheet (``None``: no link).
    tearsheet_notes
        Where the tearsheet's conventions differ from this page's, one sentence each (shown
        next to the link).
    notes
        Free-text remarks shown at the end of the page.
    intervals
        Conformal intervals' nominal ``level``, ``method``, ``window``, realised ``coverage``
        and mean ``width`` over the out-of-sample bars with an interval (``bars``); ``None``
        (no key in the summary) while intervals are off. Per fold: the fold table's
        ``coverage`` and ``width``.
    """

    title: str
    config: Mapping[str, Any]
    data: Mapping[str, Any]
    periods_per_year: float
    strategies: pd.DataFrame
    forecast: Mapping[str, Any] | None = None
    target: Mapping[str, Any] | None = None
    significance: (
        SharpeSignificance | Mapping[str, Any] | Sequence[SharpeSignificance | Mapping[str, Any]]
    ) | None = None
    folds: pd.DataFrame | None = None
    model_name: str = "LSTM"
    baseline_name: str = "Persistence"
    tearsheet: str | None = "tearsheet.html"
    notes: Sequence[str] = field(default_factory=tuple)
    tearsheet_notes: Sequence[str] = field(default_factory=tuple)
    intervals: Mapping[str, Any] | None = None


# --------------------------------------------------------------------------- JSON


def jsonable(value: Any) -> Any:
    """A JSON-serialisable copy of ``value``.

    NaN/inf → ``None``, NumPy scalars → Python, timestamps → ISO 8601 strings, timedeltas →
    seconds, dataclasses and mappings → dicts (string keys, order kept), sets → lists sorted by
    their text, other sequences → lists, paths → strings; anything else → ``str``.

    Parameters
    ----------
    value
        Any value.

    Returns
    -------
    Any
        ``json.dumps(..., allow_nan=False)`` accepts it.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, pd.Timedelta | dt.timedelta):
        return None if pd.isna(value) else pd.Timedelta(value).total_seconds()
    if value is pd.NaT:
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, pd.Series | np.ndarray | list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        return [jsonable(v) for v in items]
    return str(value)


def _frame_records(frame: pd.DataFrame, index_name: str | None) -> dict[str, Any]:
    """``{"columns": [...], "rows": [{column: value}, ...]}`` of a frame (index first, named
    ``index_name``, or dropped when ``None``)."""
    df = frame.reset_index() if index_name is not None else frame.reset_index(drop=True)
    if index_name is not None:
        df = df.rename(columns={df.columns[0]: index_name})
    columns = [str(c) for c in df.columns]
    rows = [
        {col: jsonable(v) for col, v in zip(columns, rec, strict=True)}
        for rec in df.itertuples(index=False, name=None)
    ]
    return {"columns": columns, "rows": rows}


def summary_dict(inputs: ReportInputs, image_names: Sequence[str] = ()) -> dict[str, Any]:
    """Every number of the page as a JSON-serialisable dict.

    Parameters
    ----------
    inputs
        The run's results.
    image_names
        Which figures the page shows, in order (their PNGs are stored beside the summary by
        :func:`lstm_backtrader.backtests.report.page.write_report`).

    Returns
    -------
    dict
        The input of :func:`lstm_backtrader.backtests.report.page.render_index`;
        ``json.dumps(..., allow_nan=False)`` accepts it.

    Raises
    ------
    ValueError
        If the tearsheet link is not a plain relative path or an image name not a plain stem.
    """
    if inputs.tearsheet is not None and not is_relative_link(inputs.tearsheet):
        raise ValueError(f"tearsheet must be a plain relative path, got {inputs.tearsheet!r}")
    for name in image_names:
        if not is_plain_name(name):
            raise ValueError(f"image name {name!r} must be a plain file stem")
    strategies = _frame_records(inputs.strategies, "strategy")
    folds = None
    if inputs.folds is not None:
        fdf = inputs.folds.copy()
        if {"rmse", "baseline_rmse"} <= set(fdf.columns) and "rmse_ratio" not in fdf.columns:
            base = pd.to_numeric(fdf["baseline_rmse"]).replace(0.0, np.nan)
            fdf["rmse_ratio"] = pd.to_numeric(fdf["rmse"]) / base
        folds = _frame_records(fdf, None)
    significance = None
    if inputs.significance is not None:
        sigs = inputs.significance
        if isinstance(sigs, SharpeSignificance | Mapping):
            sigs = [sigs]  # one strategy given without a list
        significance = [
            s.to_dict() if isinstance(s, SharpeSignificance) else jsonable(s) for s in sigs
        ]
    return jsonable(
        {
            "schema": SCHEMA,
            "title": inputs.title,
            "model_name": inputs.model_name,
            "baseline_name": inputs.baseline_name,
            "periods_per_year": float(inputs.periods_per_year),
            "data": inputs.data,
            "config": inputs.config,
            "strategies": strategies,
            "forecast": inputs.forecast,
            **({"target": inputs.target} if inputs.target is not None else {}),
            **({"intervals": inputs.intervals} if inputs.intervals is not None else {}),
            "significance": significance,
            "folds": folds,
            "tearsheet": inputs.tearsheet,
            "tearsheet_notes": list(inputs.tearsheet_notes),
            "images": list(image_names),
            "notes": list(inputs.notes),
        }
    )


def write_summary(path: str | os.PathLike[str], summary: Mapping[str, Any]) -> Path:
    """Write ``summary`` as strict JSON (no NaN, indented, UTF-8), atomically.

    Parameters
    ----------
    path
        Destination, usually ``<run>/summary.json``.
    summary
        Output of :func:`summary_dict`.

    Returns
    -------
    Path
        The written file.
    """
    text = json.dumps(summary, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    return atomic_write_text(path, text)


def load_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``summary.json`` written by :func:`write_summary`.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    dict
        The summary.

    Raises
    ------
    InputError
        One line naming the file: missing, unreadable, not JSON, or not a summary of schema
        :data:`SCHEMA`.
    """
    try:
        summary = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: not found; is this a run folder?") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read ({type(exc).__name__})") from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: corrupt (not valid JSON at line {exc.lineno}, column {exc.colno}); "
            "rerun the backtest to write it again"
        ) from None
    if not isinstance(summary, dict) or summary.get("schema") != SCHEMA:
        found = summary.get("schema") if isinstance(summary, dict) else type(summary).__name__
        raise InputError(f"{path}: not a report summary of schema {SCHEMA!r} (found {found!r})")
    return summary
