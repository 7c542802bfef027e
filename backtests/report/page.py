"""The run's own report page: one self-contained HTML file, rebuilt from ``summary.json``.

Two steps, so a later ``lstm-bt report RUN`` can redraw the page without retraining:

1. :func:`summary_dict` turns the run's results (:class:`ReportInputs`) into a plain,
   JSON-serialisable dict holding **every number shown on the page** (NaN/inf → ``None``).
2. :func:`render_index` turns that dict plus the figures (PNG bytes) into HTML.

:func:`write_report` writes ``summary.json``, ``plots/<name>.png`` and ``index.html`` into a
run folder; :func:`rebuild_index` redraws ``index.html`` from those saved files alone.

The page is self-contained: inline CSS, figures embedded as ``data:image/png;base64`` URIs, no
script, no font, no external URL of any kind. The only link is the relative one to the
quantstats tearsheet beside it. Every text is escaped with :func:`html.escape`. The output is
deterministic: the same summary and figures give the same bytes.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import html
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstm_backtrader.backtests.report.plots import PLOT_TITLES
from lstm_backtrader.backtests.report.stats import STRATEGY_COLUMNS, SharpeSignificance
from lstm_backtrader.models.infra.fileio import atomic_write_bytes, atomic_write_text

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

#: Identifies the layout of ``summary.json``; bump when keys change incompatibly.
SCHEMA = "lstm-bt.report/1"

SUMMARY_FILE = "summary.json"
INDEX_FILE = "index.html"
PLOTS_DIR = "plots"

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_SAFE_LINK = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")


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
    notes
        Free-text remarks shown at the end of the page.
    """

    title: str
    config: Mapping[str, Any]
    data: Mapping[str, Any]
    periods_per_year: float
    strategies: pd.DataFrame
    forecast: Mapping[str, Any] | None = None
    significance: (
        SharpeSignificance | Mapping[str, Any] | Sequence[SharpeSignificance | Mapping[str, Any]]
    ) | None = None
    folds: pd.DataFrame | None = None
    model_name: str = "LSTM"
    baseline_name: str = "Persistence"
    tearsheet: str | None = "tearsheet.html"
    notes: Sequence[str] = field(default_factory=tuple)


# --------------------------------------------------------------------------- JSON


def jsonable(value: Any) -> Any:
    """A JSON-serialisable copy of ``value``: NaN/inf → ``None``, NumPy scalars → Python,
    timestamps → ISO 8601 strings, timedeltas → seconds, dataclasses and mappings → dicts
    (string keys), sequences → lists, paths → strings; anything else → ``str``."""
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
    """Every number of the page as a JSON-serialisable dict (``json.dumps(..., allow_nan=False)``
    works): the input of :func:`render_index`.

    ``image_names`` records which figures the page shows, in order (their PNGs are stored
    beside the summary by :func:`write_report`).
    """
    if inputs.tearsheet is not None and not _SAFE_LINK.match(inputs.tearsheet):
        raise ValueError(f"tearsheet must be a plain relative path, got {inputs.tearsheet!r}")
    for name in image_names:
        if not _SAFE_NAME.match(name):
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
            "significance": significance,
            "folds": folds,
            "tearsheet": inputs.tearsheet,
            "images": list(image_names),
            "notes": list(inputs.notes),
        }
    )


def write_summary(path: str | os.PathLike[str], summary: Mapping[str, Any]) -> Path:
    """Write ``summary`` as strict JSON (no NaN), atomically."""
    text = json.dumps(summary, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    return atomic_write_text(path, text)


def load_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``summary.json`` written by :func:`write_summary` (checks the schema)."""
    summary = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(summary, dict) or summary.get("schema") != SCHEMA:
        found = summary.get("schema") if isinstance(summary, dict) else type(summary).__name__
        raise ValueError(f"{path}: not a report summary of schema {SCHEMA!r} (found {found!r})")
    return summary


# --------------------------------------------------------------------------- formatting

_NA = "n/a"


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        return float(v) if math.isfinite(v) else None
    return None


_ISO_UTC = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::00(?:\.0+)?)?(?:\+00:00|Z)?$")


def _fmt_text(text: str) -> str:
    """Shorten ISO timestamps at UTC: ``2024-01-01T00:00:00+00:00`` → ``2024-01-01``,
    ``2024-01-01T04:00:00+00:00`` → ``2024-01-01 04:00``; other text unchanged."""
    m = _ISO_UTC.match(text)
    if m is None:
        return text
    return m.group(1) if m.group(2) == "00:00" else f"{m.group(1)} {m.group(2)}"


def _fmt(v: Any, kind: str = "auto") -> str:
    """Format one value for display (``None`` → ``n/a``)."""
    if v is None:
        return _NA
    x = _num(v)
    if x is None:
        return _fmt_text(str(v))
    if kind == "pct":
        return f"{x * 100:.2f}%"
    if kind == "ratio":
        return f"{x:.2f}"
    if kind == "ratio3":
        return f"{x:.3f}"
    if kind == "int":
        return f"{round(x):,}"
    if kind == "days":
        return f"{x:,.0f}" if x == round(x) else f"{x:,.1f}"
    if kind == "money":
        return f"{x:,.2f}"
    if kind.startswith("fixed"):
        return f"{x:,.{int(kind[5:])}f}"
    if kind == "p":
        return f"{x:.3g}" if x >= 1e-4 else f"{x:.1e}"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{x:.4g}"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    cls_attr = f' class="{_e(cls)}"' if cls else ""
    return f"<table{cls_attr}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in mapping.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.extend(_flatten(v, key + "."))
        elif isinstance(v, list):
            out.append((key, ", ".join(_fmt(x) for x in v)))
        else:
            out.append((key, v))
    return out


def _kv_table(mapping: Mapping[str, Any] | None) -> str:
    if not mapping:
        return f"<p class='muted'>{_NA}</p>"
    return _table(["Key", "Value"], [(k, _fmt(v)) for k, v in _flatten(mapping)], "kv")


_GENERIC_KIND = {"fold": "int", "bars": "int", "n": "int", "train_bars": "int", "test_bars": "int"}


def _column_kind(values: Sequence[Any]) -> str:
    """Fixed decimals for a float column: 4 significant digits of its largest magnitude."""
    nums = [abs(x) for x in map(_num, values) if x is not None]
    if not nums or all(float(x).is_integer() for x in nums):
        return "auto"
    top = max(nums)
    decimals = 4 if top == 0 else min(8, max(0, 3 - math.floor(math.log10(top))))
    return f"fixed{decimals}"


def _records_table(block: Mapping[str, Any] | None, kinds: Mapping[str, str] | None = None) -> str:
    if not block or not block.get("rows"):
        return f"<p class='muted'>{_NA}</p>"
    cols = list(block["columns"])
    rows_in = block["rows"]
    kinds = dict(kinds or {})
    for c in cols:
        if c not in kinds:
            kinds[c] = _GENERIC_KIND.get(c) or _column_kind([r.get(c) for r in rows_in])
    rows = [[_fmt(r.get(c), kinds[c]) for c in cols] for r in rows_in]
    return _table(cols, rows, "num")


# --------------------------------------------------------------------------- sections


def _strategies_section(summary: Mapping[str, Any]) -> str:
    block = summary.get("strategies") or {}
    rows_in = block.get("rows") or []
    labels = {key: (label, kind) for key, label, kind in STRATEGY_COLUMNS}
    cols = [c for c in block.get("columns", []) if c != "strategy"]
    header = ["Strategy"] + [labels.get(c, (c, "auto"))[0] for c in cols]
    rows = [
        [str(r.get("strategy", ""))] + [_fmt(r.get(c), labels.get(c, (c, "auto"))[1]) for c in cols]
        for r in rows_in
    ]
    ppy = _fmt(summary.get("periods_per_year"))
    return (
        "<h2 id='strategies'>Strategy vs baselines</h2>\n"
        + (_table(header, rows, "num") if rows else f"<p class='muted'>{_NA}</p>")
        + "\n<p class='muted'>"
        + _e(
            f"Annualised with {ppy} bars a year (24/7 market); CAGR on calendar time "
            "(elapsed days / 365.25); Sharpe and Sortino with a zero risk-free rate; max drawdown "
            "duration = peak to recovery (or to the end) of the deepest drawdown; trades = "
            "closed round trips; win rate = share with positive net P&L; exposure = share of "
            "bars holding a position."
        )
        + "</p>"
    )


def _forecast_verdict(f: Mapping[str, Any], model: str, base: str) -> str:
    ratio = _num(f.get("rmse_ratio"))
    dm = f.get("dm_vs_baseline") or {}
    d = f.get("directional") or {}
    parts = []
    if ratio is not None:
        p = _num(dm.get("p_value"))
        better = "lower" if ratio < 1 else "higher"
        sig = (
            "significant at the 5% level"
            if p is not None and p < 0.05
            else "not significant at the 5% level"
        )
        parts.append(
            f"{model}'s RMSE is {ratio:.3f}× {base.lower()}'s ({better}; Diebold–Mariano "
            f"p = {_fmt(p, 'p')}, {sig})."
        )
    acc, up = _num(d.get("accuracy")), _num(d.get("always_up_rate"))
    if acc is not None and up is not None:
        p = _num(d.get("p_value"))
        verdict = "beats" if p is not None and p < 0.05 else "does not beat"
        parts.append(
            f"Its direction is right on {acc * 100:.1f}% of bars against an always-up rate of "
            f"{up * 100:.1f}% (binomial p = {_fmt(p, 'p')}): it {verdict} always calling “up”."
        )
    return " ".join(parts)


def _forecast_section(summary: Mapping[str, Any]) -> str:
    f = summary.get("forecast")
    model = str(summary.get("model_name") or "Model")
    base = str(summary.get("baseline_name") or "Baseline")
    head = f"<h2 id='forecast'>Forecast diagnostics: {_e(model)} vs {_e(base.lower())}</h2>\n"
    if not f:
        return head + f"<p class='muted'>{_NA}</p>"
    d = f.get("directional") or {}
    ic = f.get("ic") or {}
    dm = f.get("dm_vs_baseline") or {}
    dm_desc = ""
    if dm:
        dm_desc = f" (HLN, h = {dm.get('h', 1)}, {dm.get('loss', 'squared')} loss, " + (
            f"{dm.get('alternative', 'two-sided')})"
        )
    rows = [
        ("Bars scored", _fmt(f.get("n"), "int")),
        (f"RMSE {model}", _fmt(f.get("rmse"))),
        (f"RMSE {base.lower()}", _fmt(f.get("baseline_rmse"))),
        (f"RMSE ratio {model} / {base.lower()} (< 1: {model} better)",
         _fmt(f.get("rmse_ratio"), "ratio3")),
        (f"MAE {model}", _fmt(f.get("mae"))),
        (f"MAE {base.lower()}", _fmt(f.get("baseline_mae"))),
        ("Diebold–Mariano statistic" + dm_desc, _fmt(dm.get("statistic"), "ratio")),
        ("Diebold–Mariano p-value", _fmt(dm.get("p_value"), "p")),
        (f"Directional accuracy {model}", _fmt(d.get("accuracy"), "pct")),
        ("Always-up rate (same bars)", _fmt(d.get("always_up_rate"), "pct")),
        ("Binomial p-value (H1: accuracy > always-up rate)", _fmt(d.get("p_value"), "p")),
        ("Information coefficient (Spearman)", _fmt(ic.get("ic"), "ratio3")),
        ("IC p-value", _fmt(ic.get("p_value"), "p")),
    ]  # fmt: skip
    verdict = _forecast_verdict(f, model, base)
    return (
        head
        + _table(["Metric", "Value"], rows, "kv")
        + (f"\n<p>{_e(verdict)}</p>" if verdict else "")
    )


def _trl(s: Mapping[str, Any], key: str, kind: str) -> str:
    """MinTRL: ``None`` in the summary is inf when the Sharpe ratio is <= 0 (never significant)
    and NaN when it is undefined."""
    v = s.get(key)
    if v is None:
        sr = _num(s.get("sharpe_per_bar"))
        return "∞ (Sharpe ≤ 0)" if sr is not None and sr <= 0 else _NA
    return _fmt(v, kind)


def _significance_section(summary: Mapping[str, Any]) -> str:
    sig = summary.get("significance")
    head = "<h2 id='significance'>Is the Sharpe ratio significant? (PSR, DSR)</h2>\n"
    if not sig:
        return head + f"<p class='muted'>{_NA}</p>"
    header = [
        "Strategy", "Returns", "Sharpe (ann.)", "Skew", "Kurtosis (raw)", "PSR(0)", "Trials N",
        "SR₀ (ann.)", "DSR", "MinTRL (bars)", "MinTRL (years)",
    ]  # fmt: skip
    rows = [
        [
            str(s.get("strategy", "")),
            _fmt(s.get("n"), "int"),
            _fmt(s.get("sharpe_annualised"), "ratio"),
            _fmt(s.get("skew"), "ratio"),
            _fmt(s.get("kurtosis"), "ratio"),
            _fmt(s.get("psr"), "ratio3"),
            _fmt(s.get("n_trials"), "int"),
            _fmt(s.get("expected_max_sharpe_annualised"), "ratio"),
            _fmt(s.get("dsr"), "ratio3"),
            _trl(s, "min_trl_bars", "int"),
            _trl(s, "min_trl_years", "ratio"),
        ]
        for s in sig
    ]  # fmt: skip
    trials = sorted({int(s["n_trials"]) for s in sig if s.get("n_trials") is not None})
    note = (
        "PSR(0) = probability that the true Sharpe ratio is above 0 (Bailey & López de Prado "
        "2012, raw kurtosis). DSR = PSR(SR₀), deflated for the best of N = "
        + ", ".join(str(t) for t in trials)
        + " configurations tried (Bailey & López de Prado 2014); SR₀ is the Sharpe ratio "
        "expected from the best of N zero-skill trials. MinTRL = bars needed for PSR(0) ≥ 95%."
    )
    return head + _table(header, rows, "num") + f"\n<p class='muted'>{_e(note)}</p>"


def _folds_section(summary: Mapping[str, Any]) -> str:
    kinds = {"rmse_ratio": "ratio3"}
    return "<h2 id='folds'>Walk-forward folds</h2>\n" + _records_table(summary.get("folds"), kinds)


def _images_section(images: Mapping[str, bytes]) -> str:
    if not images:
        return ""
    parts = ["<h2 id='figures'>Figures</h2>"]
    for name, data in images.items():
        if not isinstance(data, bytes | bytearray) or not bytes(data).startswith(_PNG_MAGIC):
            raise ValueError(f"image {name!r} is not PNG bytes")
        caption = PLOT_TITLES.get(name, name)
        b64 = base64.b64encode(bytes(data)).decode("ascii")
        parts.append(
            f"<figure id='fig-{_e(name)}'><img alt='{_e(caption)}' "
            f"src='data:image/png;base64,{b64}'><figcaption>{_e(caption)}</figcaption></figure>"
        )
    return "\n".join(parts)


def _tearsheet_link(summary: Mapping[str, Any]) -> str:
    link = summary.get("tearsheet")
    if not link:
        return ""
    if not isinstance(link, str) or not _SAFE_LINK.match(link):
        raise ValueError(f"tearsheet must be a plain relative path, got {link!r}")
    return (
        f"<p class='tearsheet'>Full quantstats tearsheet of {_e(summary.get('model_name', ''))} "
        f"vs buy and hold: <a href='{_e(link)}'>{_e(link)}</a></p>"
    )


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:24px auto;max-width:1100px;padding:0 16px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;
border-bottom:1px solid #ddd;padding-bottom:3px}
table{border-collapse:collapse;margin:6px 0;font-size:13px}
th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
thead th{background:#f3f3f3;font-weight:600}
table.num td:not(:first-child),table.num th:not(:first-child){text-align:right}
table.kv td:last-child{text-align:right;font-variant-numeric:tabular-nums}
td{font-variant-numeric:tabular-nums}
.muted{color:#666;font-size:12px}
figure{margin:14px 0}img{max-width:100%;height:auto}figcaption{color:#555;font-size:12px}
nav a{margin-right:12px}
""".strip()


def render_index(summary: Mapping[str, Any], images: Mapping[str, bytes] | None = None) -> str:
    """The run's self-contained HTML page from a :func:`summary_dict` and the figures.

    Parameters
    ----------
    summary
        Output of :func:`summary_dict` (or the same read back from ``summary.json``).
    images
        Figure name → PNG bytes, shown in this order (captions from
        :data:`lstm_backtrader.backtests.report.plots.PLOT_TITLES`, else the name).

    Returns
    -------
    str
        The page. No external URL, script or font; identical input gives identical output.
    """
    images = dict(images or {})
    title = str(summary.get("title") or "lstm-backtrader run")
    data = summary.get("data") or {}
    span = ""
    if data.get("start") or data.get("end"):
        span = f"{data.get('start', '?')} → {data.get('end', '?')}"
    subtitle = " · ".join(str(x) for x in (data.get("symbol"), data.get("timeframe"), span) if x)
    notes = summary.get("notes") or []
    sections = [
        ("strategies", "Strategies"),
        ("forecast", "Forecast"),
        ("significance", "PSR / DSR"),
        ("figures", "Figures") if images else None,
        ("folds", "Folds"),
        ("data", "Data"),
        ("config", "Config"),
        ("notes", "Notes") if notes else None,
    ]
    nav = " ".join(f"<a href='#{a}'>{_e(t)}</a>" for a, t in filter(None, sections))
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p class='muted'>{_e(subtitle)}</p>" if subtitle else "",
        f"<nav>{nav}</nav>",
        _tearsheet_link(summary),
        _strategies_section(summary),
        _forecast_section(summary),
        _significance_section(summary),
        _images_section(images),
        _folds_section(summary),
        "<h2 id='data'>Data</h2>\n" + _kv_table(data),
        "<h2 id='config'>Configuration</h2>\n" + _kv_table(summary.get("config")),
        ("<h2 id='notes'>Notes</h2>\n<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
        if notes
        else "",
        f"<p class='muted'>{_e('summary schema ' + str(summary.get('schema', SCHEMA)))}</p>",
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        f"<title>{_e(title)}</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n"
        + "\n".join(b for b in body if b)
        + "\n</body>\n</html>\n"
    )


def write_index(
    path: str | os.PathLike[str],
    summary: Mapping[str, Any],
    images: Mapping[str, bytes] | None = None,
) -> Path:
    """Render :func:`render_index` and write it atomically to ``path``."""
    return atomic_write_text(path, render_index(summary, images))


# --------------------------------------------------------------------------- run folder


def write_report(
    run_dir: str | os.PathLike[str], inputs: ReportInputs, images: Mapping[str, bytes]
) -> dict[str, Path]:
    """Write ``summary.json``, ``plots/<name>.png`` and ``index.html`` into ``run_dir``.

    Returns the written paths keyed ``summary``, ``index`` and ``plot:<name>``. The tearsheet is
    written separately (:func:`lstm_backtrader.backtests.report.tearsheet.write_tearsheet`).
    """
    run = Path(run_dir)
    summary = summary_dict(inputs, list(images))
    out: dict[str, Path] = {}
    for name, data in images.items():
        out[f"plot:{name}"] = atomic_write_bytes(run / PLOTS_DIR / f"{name}.png", bytes(data))
    out["summary"] = write_summary(run / SUMMARY_FILE, summary)
    out["index"] = write_index(run / INDEX_FILE, summary, images)
    return out


def rebuild_index(run_dir: str | os.PathLike[str]) -> Path:
    """Redraw ``index.html`` of a run folder from its ``summary.json`` and ``plots/*.png``
    alone (no retraining, no backtest). A figure listed in the summary but missing on disk is
    left out of the page."""
    run = Path(run_dir)
    summary = load_summary(run / SUMMARY_FILE)
    images: dict[str, bytes] = {}
    for name in summary.get("images") or []:
        if not isinstance(name, str) or not _SAFE_NAME.match(name):
            raise ValueError(f"{run / SUMMARY_FILE}: bad image name {name!r}")
        png = run / PLOTS_DIR / f"{name}.png"
        if png.is_file():
            images[name] = png.read_bytes()
    return write_index(run / INDEX_FILE, summary, images)
