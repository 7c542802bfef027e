"""The run's own report page: one self-contained HTML file, rebuilt from ``summary.json``.

Two steps, so a later ``lstm-bt report RUN`` can redraw the page without retraining:

1. :func:`~lstm_backtrader.backtests.report.summary.summary_dict` turns the run's results
   (:class:`~lstm_backtrader.backtests.report.summary.ReportInputs`) into a plain,
   JSON-serialisable dict holding **every number shown on the page** (NaN/inf → ``None``);
   it lives in :mod:`lstm_backtrader.backtests.report.summary` and is re-exported here.
2. :func:`render_index` turns that dict plus the figures (PNG bytes) into HTML through the
   ``run.html`` template (:mod:`lstm_backtrader.backtests.report.render`).

:func:`write_report` writes ``summary.json``, ``plots/<name>.png`` and ``index.html`` into a
run folder; :func:`rebuild_index` redraws ``index.html`` from those saved files alone.

The page is self-contained: inline CSS, figures embedded as ``data:image/png;base64`` URIs, no
script, no font, no external URL of any kind. The only link is the relative one to the
quantstats tearsheet beside it. Every text is escaped. The output is deterministic: the same
summary and figures give the same bytes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lstm_backtrader.backtests.report import render
from lstm_backtrader.backtests.report.plots import PLOT_TITLES
from lstm_backtrader.backtests.report.render import NA, Table, format_value, make_table
from lstm_backtrader.backtests.report.stats import STRATEGY_COLUMNS
from lstm_backtrader.backtests.report.summary import (
    SCHEMA,
    ReportInputs,
    is_plain_name,
    is_relative_link,
    jsonable,
    load_summary,
    summary_dict,
    write_summary,
)
from lstm_backtrader.backtests.report.target_page import target_section
from lstm_backtrader.models.infra.fileio import atomic_write_bytes, atomic_write_text

logger = logging.getLogger(__name__)

__all__ = [
    "SCHEMA",
    "ReportInputs",
    "jsonable",
    "load_summary",
    "rebuild_index",
    "render_index",
    "summary_dict",
    "write_index",
    "write_report",
    "write_summary",
]

SUMMARY_FILE = "summary.json"
INDEX_FILE = "index.html"
PLOTS_DIR = "plots"

#: Per-fold columns with a fixed format; other float columns get 4 significant digits.
_FOLD_KINDS = {"fold": "int", "bars": "int", "n": "int", "train_bars": "int", "test_bars": "int",
               "rmse_ratio": "ratio3"}  # fmt: skip


@dataclass(frozen=True)
class Figure:
    """One embedded figure of the page: ``name`` (anchor ``fig-<name>``), caption, data URI."""

    name: str
    caption: str
    src: str


# --------------------------------------------------------------------------- sections


def _strategies_table(summary: Mapping[str, Any]) -> Table | None:
    """Strategy vs baselines: one row per strategy, labels and formats of STRATEGY_COLUMNS."""
    block = summary.get("strategies") or {}
    labels = {key: (label, kind) for key, label, kind in STRATEGY_COLUMNS}
    cols = [c for c in block.get("columns", []) if c != "strategy"]
    header = ["Strategy"] + [labels.get(c, (c, "auto"))[0] for c in cols]
    rows = [
        [str(r.get("strategy", ""))]
        + [format_value(r.get(c), labels.get(c, (c, "auto"))[1]) for c in cols]
        for r in block.get("rows") or []
    ]
    return make_table(header, rows)


def _forecast_verdict(f: Mapping[str, Any], model: str, base: str) -> str:
    """The forecast diagnostics in words: RMSE ratio with its DM test, direction vs always-up."""
    ratio = render.as_number(f.get("rmse_ratio"))
    dm = f.get("dm_vs_baseline") or {}
    d = f.get("directional") or {}
    parts = []
    if ratio is not None:
        p = render.as_number(dm.get("p_value"))
        better = "lower" if ratio < 1 else "higher"
        sig = (
            "significant at the 5% level"
            if p is not None and p < 0.05
            else "not significant at the 5% level"
        )
        parts.append(
            f"{model}'s RMSE is {ratio:.3f}× {base.lower()}'s ({better}; Diebold–Mariano "
            f"p = {format_value(p, 'p')}, {sig})."
        )
    acc, up = render.as_number(d.get("accuracy")), render.as_number(d.get("always_up_rate"))
    if acc is not None and up is not None:
        p = render.as_number(d.get("p_value"))
        verdict = "beats" if p is not None and p < 0.05 else "does not beat"
        parts.append(
            f"Its direction is right on {acc * 100:.1f}% of bars against an always-up rate of "
            f"{up * 100:.1f}% (binomial p = {format_value(p, 'p')}): it {verdict} always calling "
            "“up”."
        )
    return " ".join(parts)


def _forecast(summary: Mapping[str, Any], model: str, base: str) -> dict[str, Any] | None:
    """Forecast diagnostics as metric/value rows and a verdict (``None``: nothing scored)."""
    f = summary.get("forecast")
    if not f:
        return None
    d = f.get("directional") or {}
    ic = f.get("ic") or {}
    dm = f.get("dm_vs_baseline") or {}
    dm_desc = ""
    if dm:
        dm_desc = f" (HLN, h = {dm.get('h', 1)}, {dm.get('loss', 'squared')} loss, " + (
            f"{dm.get('alternative', 'two-sided')})"
        )
    fmt, b = format_value, base.lower()
    rows = [
        ("Bars scored", fmt(f.get("n"), "int")),
        (f"RMSE {model}", fmt(f.get("rmse"))),
        (f"RMSE {b}", fmt(f.get("baseline_rmse"))),
        (f"RMSE ratio {model} / {b} (< 1: {model} better)", fmt(f.get("rmse_ratio"), "ratio3")),
        (f"MAE {model}", fmt(f.get("mae"))),
        (f"MAE {b}", fmt(f.get("baseline_mae"))),
        ("Diebold–Mariano statistic" + dm_desc, fmt(dm.get("statistic"), "ratio")),
        ("Diebold–Mariano p-value", fmt(dm.get("p_value"), "p")),
        (f"Directional accuracy {model}", fmt(d.get("accuracy"), "pct")),
        ("Always-up rate (same bars)", fmt(d.get("always_up_rate"), "pct")),
        ("Binomial p-value (H1: accuracy > always-up rate)", fmt(d.get("p_value"), "p")),
        ("Information coefficient (Spearman)", fmt(ic.get("ic"), "ratio3")),
        ("IC p-value", fmt(ic.get("p_value"), "p")),
    ]
    return {"rows": rows, "verdict": _forecast_verdict(f, model, base)}


def _trl(s: Mapping[str, Any], key: str, kind: str) -> str:
    """MinTRL: ``None`` in the summary is inf when the Sharpe ratio is <= 0 (never significant)
    and NaN when it is undefined."""
    v = s.get(key)
    if v is None:
        sr = render.as_number(s.get("sharpe_per_bar"))
        return "∞ (Sharpe ≤ 0)" if sr is not None and sr <= 0 else NA
    return format_value(v, kind)


def _significance(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """PSR/DSR table of each strategy and the trial counts its DSRs deflate for."""
    sig = summary.get("significance")
    if not sig:
        return None
    header = [
        "Strategy", "Returns", "Sharpe (ann.)", "Skew", "Kurtosis (raw)", "PSR(0)", "Trials N",
        "SR₀ (ann.)", "DSR", "MinTRL (bars)", "MinTRL (years)",
    ]  # fmt: skip
    fmt = format_value
    rows = [
        [
            str(s.get("strategy", "")), fmt(s.get("n"), "int"),
            fmt(s.get("sharpe_annualised"), "ratio"), fmt(s.get("skew"), "ratio"),
            fmt(s.get("kurtosis"), "ratio"), fmt(s.get("psr"), "ratio3"),
            fmt(s.get("n_trials"), "int"), fmt(s.get("expected_max_sharpe_annualised"), "ratio"),
            fmt(s.get("dsr"), "ratio3"), _trl(s, "min_trl_bars", "int"),
            _trl(s, "min_trl_years", "ratio"),
        ]
        for s in sig
    ]  # fmt: skip
    trials = sorted({int(s["n_trials"]) for s in sig if s.get("n_trials") is not None})
    return {"table": make_table(header, rows), "trials": trials}


def _folds_table(summary: Mapping[str, Any]) -> Table | None:
    """The per-fold table: every column and row of the summary, digests drawn truncated."""
    block = summary.get("folds")
    if not block or not block.get("rows"):
        return None
    cols = list(block["columns"])
    rows_in = block["rows"]
    kinds = {c: _FOLD_KINDS.get(c) or render.column_kind(r.get(c) for r in rows_in) for c in cols}
    return make_table(cols, ([format_value(r.get(c), kinds[c]) for c in cols] for r in rows_in))


def _figures(images: Mapping[str, bytes]) -> list[Figure]:
    """The figures in order, as data URIs, captioned from PLOT_TITLES (else their name)."""
    figures = []
    for name, data in images.items():
        if not render.is_png(data):
            raise ValueError(f"image {name!r} is not PNG bytes")
        figures.append(Figure(name, PLOT_TITLES.get(name, name), render.png_data_uri(data)))
    return figures


def _tearsheet(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The checked relative link to the tearsheet, the model it shows and where its conventions
    differ from this page's (``None``: no link)."""
    link = summary.get("tearsheet")
    if not link:
        return None
    if not is_relative_link(link):
        raise ValueError(f"tearsheet must be a plain relative path, got {link!r}")
    return {
        "href": str(link),
        "model": str(summary.get("model_name", "")),
        "notes": [str(n) for n in summary.get("tearsheet_notes") or []],
    }


def _day(value: Any) -> str:
    """An ISO timestamp as ``YYYY-MM-DD`` (``YYYY-MM-DD HH:MM`` when not midnight)."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return str(value)
    if ts is pd.NaT:
        return str(value)
    return ts.strftime("%Y-%m-%d" if ts.hour == ts.minute == 0 else "%Y-%m-%d %H:%M")


def _subtitle(data: Mapping[str, Any]) -> str:
    """``asset · timeframe · out-of-sample A → B (n bars) · data from C``."""
    asset = data.get("symbol") or data.get("file")
    parts = [str(asset) if asset else "", str(data.get("timeframe") or "")]
    if data.get("out_of_sample_start") and data.get("end"):
        bars = data.get("out_of_sample_bars")
        count = f" ({bars:,} bars)" if isinstance(bars, int) else ""
        parts.append(
            f"out-of-sample {_day(data['out_of_sample_start'])} → {_day(data['end'])}{count}"
        )
    if data.get("start"):
        parts.append(f"data from {_day(data['start'])}")
    return " · ".join(p for p in parts if p)


def _footer(summary: Mapping[str, Any], run_info: Mapping[str, Any] | None) -> list[str]:
    """The run's date, duration and version (from its manifest), and the summary schema."""
    lines = []
    if run_info:
        bits = []
        if run_info.get("created_at"):
            bits.append(f"run {_day(run_info['created_at'])} UTC")
        seconds = run_info.get("seconds")
        if isinstance(seconds, int | float):
            bits.append(f"took {seconds:,.1f} s")
        if run_info.get("version"):
            bits.append(f"lstm-backtrader {run_info['version']}")
        if bits:
            lines.append(" · ".join(bits))
    lines.append("summary schema " + str(summary.get("schema", SCHEMA)))
    return lines


# --------------------------------------------------------------------------- page


def render_index(
    summary: Mapping[str, Any],
    images: Mapping[str, bytes] | None = None,
    run_info: Mapping[str, Any] | None = None,
) -> str:
    """The run's self-contained HTML page from a :func:`summary_dict` and the figures.

    Parameters
    ----------
    summary
        Output of :func:`summary_dict` (or the same read back from ``summary.json``).
    images
        Figure name → PNG bytes, shown in this order (captions from
        :data:`lstm_backtrader.backtests.report.plots.PLOT_TITLES`, else the name).
    run_info
        The run's ``created_at``, ``seconds`` and ``version`` (``manifest.json``'s ``run``),
        shown in the footer.

    Returns
    -------
    str
        The page. No external URL, script or font; identical input gives identical output.

    Raises
    ------
    ValueError
        If an image is not PNG bytes or the tearsheet link is not a plain relative path.
    """
    images = dict(images or {})
    title = str(summary.get("title") or "lstm-backtrader run")
    model = str(summary.get("model_name") or "Model")
    base = str(summary.get("baseline_name") or "Baseline")
    data = summary.get("data") or {}
    subtitle = _subtitle(data)
    notes = [str(n) for n in summary.get("notes") or []]
    nav = [
        ("strategies", "Strategies"),
        ("forecast", "Forecast"),
        ("significance", "PSR / DSR"),
        ("intervals", "Intervals") if summary.get("intervals") else None,
        ("figures", "Figures") if images else None,
        ("folds", "Folds"),
        ("data", "Data"),
        ("config", "Config"),
        ("notes", "Notes") if notes else None,
    ]
    return render.render_template(
        "run.html",
        title=title,
        subtitle=subtitle,
        nav=[item for item in nav if item],
        footer=_footer(summary, run_info),
        tearsheet=_tearsheet(summary),
        model=model,
        baseline=base.lower(),
        periods_per_year=summary.get("periods_per_year"),
        strategies=_strategies_table(summary),
        forecast=_forecast(summary, model, base),
        target=target_section(summary, model),
        significance=_significance(summary),
        intervals=render.kv_pairs(summary.get("intervals")),
        figures=_figures(images),
        folds=_folds_table(summary),
        data=render.kv_pairs(data),
        config=render.kv_pairs(summary.get("config")),
        notes=notes,
    )


def write_index(
    path: str | os.PathLike[str],
    summary: Mapping[str, Any],
    images: Mapping[str, bytes] | None = None,
    run_info: Mapping[str, Any] | None = None,
) -> Path:
    """Render :func:`render_index` and write it atomically to ``path``.

    Parameters
    ----------
    path
        Destination, usually ``<run>/index.html``.
    summary, images, run_info
        As for :func:`render_index`.

    Returns
    -------
    Path
        The written page.
    """
    return atomic_write_text(path, render_index(summary, images, run_info))


# --------------------------------------------------------------------------- run folder


def write_report(
    run_dir: str | os.PathLike[str],
    inputs: ReportInputs,
    images: Mapping[str, bytes],
    run_info: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``summary.json``, ``plots/<name>.png`` and ``index.html`` into ``run_dir``.

    The tearsheet is written separately
    (:func:`lstm_backtrader.backtests.report.tearsheet.write_tearsheet`).

    Parameters
    ----------
    run_dir
        The run folder (created when missing).
    inputs
        The run's results.
    images
        Figure name → PNG bytes, in page order.
    run_info
        The run's date, duration and version for the page's footer (see :func:`render_index`).

    Returns
    -------
    dict of str to Path
        The written paths keyed ``summary``, ``index`` and ``plot:<name>``.
    """
    run = Path(run_dir)
    summary = summary_dict(inputs, list(images))
    out: dict[str, Path] = {}
    for name, data in images.items():
        out[f"plot:{name}"] = atomic_write_bytes(run / PLOTS_DIR / f"{name}.png", bytes(data))
    out["summary"] = write_summary(run / SUMMARY_FILE, summary)
    out["index"] = write_index(run / INDEX_FILE, summary, images, run_info)
    return out


def rebuild_index(run_dir: str | os.PathLike[str]) -> Path:
    """Redraw ``index.html`` of a run folder from its ``summary.json`` and ``plots/*.png`` alone.

    No retraining, no backtest. A figure listed in the summary but missing on disk is left out
    of the page.

    Parameters
    ----------
    run_dir
        A run folder written by :func:`write_report`.

    Returns
    -------
    Path
        The rewritten ``index.html``.

    Raises
    ------
    ValueError
        If the summary is not of schema :data:`SCHEMA` or names a figure that is not a plain
        file stem.
    """
    run = Path(run_dir)
    summary = load_summary(run / SUMMARY_FILE)
    images: dict[str, bytes] = {}
    for name in summary.get("images") or []:
        if not is_plain_name(name):
            raise ValueError(f"{run / SUMMARY_FILE}: bad image name {name!r}")
        png = run / PLOTS_DIR / f"{name}.png"
        if png.is_file():
            images[name] = png.read_bytes()
    return write_index(run / INDEX_FILE, summary, images, _manifest_run_info(run))


def _manifest_run_info(run: Path) -> dict[str, Any] | None:
    """The ``run`` entry of the folder's ``manifest.json`` (``None`` when absent or unreadable:
    the footer then shows the schema only)."""
    try:
        manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    info = manifest.get("run") if isinstance(manifest, dict) else None
    return info if isinstance(info, dict) else None
