"""The page of a parameter sweep (``lstm-bt sweep``): one self-contained HTML file.

Rendered from the sweep's ``sweep.json`` summary (:func:`lstm_backtrader.backtests.sweep.run_sweep`
builds it) through the ``sweep.html`` template, which shares the run page's layout and
stylesheet (``base.html``, :mod:`lstm_backtrader.backtests.report.render`): the assets with
buy-and-hold's Sharpe ratio as the bar to beat, every trial ranked by Sharpe with its PSR and its
DSR deflated for the true number of trials ``N``, the spread across seeds of each parameter set,
a note on the DSR, and the sweep's configuration.

Inline CSS only: no script, font, image or external URL. Every text (asset names, parameter
values, file names) is escaped. Identical summaries give identical bytes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lstm_backtrader.backtests.report import render
from lstm_backtrader.backtests.report.render import NA, Table, format_value, make_table
from lstm_backtrader.models.infra.fileio import atomic_write_text

logger = logging.getLogger(__name__)

__all__ = ["render_sweep_page", "write_sweep_page"]

#: Trial-table columns after the varied parameters: (summary key, header, format kind).
TRIAL_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("seed", "Seed", "auto"),
    ("sharpe", "Sharpe (ann.)", "ratio"),
    ("psr", "PSR(0)", "ratio3"),
    ("dsr", "DSR", "ratio3"),
    ("cagr", "CAGR", "pct"),
    ("max_drawdown", "Max DD", "pct"),
    ("rmse_ratio", "RMSE ratio vs persistence", "ratio3"),
    ("direction_acc", "Direction acc.", "pct"),
    ("always_up_rate", "Always-up rate", "pct"),
    ("n_trades", "Trades", "int"),
    ("bh_sharpe", "B&H Sharpe", "ratio"),
)


def _rows(block: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    return list((block or {}).get("rows") or [])


def _param(v: Any) -> str:
    """A varied parameter's value as text (``None`` → ``none``)."""
    return "none" if v is None else str(v)


def _pm(mean: Any, std: Any, kind: str) -> str:
    """``mean ± std`` (``n/a`` without a mean, ``mean ± n/a`` without a std)."""
    if render.as_number(mean) is None:
        return NA
    if render.as_number(std) is None:
        return f"{format_value(mean, kind)} ± {NA}"
    return f"{format_value(mean, kind)} ± {format_value(std, kind)}"


def _param_keys(summary: Mapping[str, Any]) -> list[str]:
    return [str(k) for k in summary.get("param_keys") or []]


def _assets_table(summary: Mapping[str, Any]) -> Table | None:
    """One row per asset: its data, buy and hold's Sharpe (a range when windows differ), the
    best trial and how many trials beat buy and hold."""
    header = [
        "Asset", "Source", "Symbol / file", "Timeframe", "Range", "Bars", "B&H Sharpe",
        "Best trial Sharpe", "Trials beating B&H", "SR₀ (ann.)",
    ]  # fmt: skip
    fmt = format_value
    rows = []
    for a in summary.get("assets") or []:
        bh = a.get("bh_sharpe")
        if bh is None and a.get("bh_sharpe_min") is not None:
            bh_text = f"{fmt(a['bh_sharpe_min'], 'ratio')} … {fmt(a['bh_sharpe_max'], 'ratio')}"
        else:
            bh_text = fmt(bh, "ratio")
        rows.append(
            [
                str(a.get("asset", "")),
                fmt(a.get("source")),
                fmt(a.get("symbol")),
                fmt(a.get("timeframe")),
                f"{fmt(a.get('start'))} → {fmt(a.get('end'))}",
                fmt(a.get("bars"), "int"),
                bh_text,
                fmt(a.get("best_sharpe"), "ratio"),
                f"{fmt(a.get('trials_beating_bh'), 'int')} of {fmt(a.get('trials'), 'int')}",
                fmt(a.get("expected_max_sharpe_annualised"), "ratio"),
            ]
        )
    return make_table(header, rows)


def _trials_table(summary: Mapping[str, Any]) -> Table | None:
    """Every trial ranked by Sharpe: its parameters, metrics (▲: beats buy and hold), cache."""
    keys = _param_keys(summary)
    header = ["Rank", "Trial", "Asset", *keys, *(h for _, h, _ in TRIAL_COLUMNS), "Cached"]
    rows = []
    for r in _rows(summary.get("trials")):
        beats = bool(r.get("beats_bh"))
        rows.append(
            [
                format_value(r.get("rank"), "int"),
                str(r.get("trial_id", "")),
                str(r.get("asset", "")),
                *(_param(r.get(k)) for k in keys),
                *(
                    format_value(r.get(c), kind) + (" ▲" if c == "sharpe" and beats else "")
                    for c, _, kind in TRIAL_COLUMNS
                ),
                "yes" if r.get("cached") else "no",
            ]
        )
    return make_table(header, rows)


def _spread_table(summary: Mapping[str, Any]) -> Table | None:
    """Per parameter set and asset: the seeds and mean ± std of each spread metric."""
    keys = _param_keys(summary)
    metrics: Sequence[Sequence[str]] = summary.get("spread_metrics") or []
    kinds = {"sharpe": "ratio", "cagr": "pct", "rmse_ratio": "ratio3"}
    header = ["Asset", *keys, "Seeds", *(f"{label} mean ± std" for _, label in metrics)]
    rows = [
        [
            str(r.get("asset", "")),
            *(_param(r.get(k)) for k in keys),
            f"{format_value(r.get('n_seeds'), 'int')} ({format_value(r.get('seeds'))})",
            *(
                _pm(r.get(f"{col}_mean"), r.get(f"{col}_std"), kinds.get(col, "auto"))
                for col, _ in metrics
            ),
        ]
        for r in _rows(summary.get("seed_spread"))
    ]
    return make_table(header, rows)


def _dsr_pairs(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """N, the variance of the trials' Sharpe ratios and SR₀, as quantity/value pairs."""
    return [
        ("Trials N (all parameter sets × seeds × assets)",
         format_value(summary.get("n_trials"), "int")),
        ("Variance V of the trials' per-bar Sharpe ratios",
         format_value(summary.get("var_trials_sr"))),
        ("SR₀, expected max Sharpe of N zero-skill trials (per bar)",
         format_value(summary.get("expected_max_sharpe"), "fixed4")),
    ]  # fmt: skip


def _sweep_config(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The sweep's own settings, its trial list or its grid, as a key/value mapping."""
    sweep: dict[str, Any] = {
        "file": summary.get("sweep_file"),
        "sweep id": summary.get("sweep_id"),
        "mode": summary.get("mode"),
        "seeds": summary.get("seeds"),
        "base file": summary.get("base_file") or "(defaults)",
        "executor": summary.get("executor"),
        "trials computed now": summary.get("computed"),
        "trials reused from the cache": summary.get("cached"),
    }
    if summary.get("mode") == "list":
        for i, t in enumerate(summary.get("trials_list") or [], start=1):
            sweep[f"trial {i}"] = ", ".join(f"{k}={v}" for k, v in t.items()) or "(base)"
    else:
        for k, v in (summary.get("grid") or {}).items():
            sweep[f"grid {k}"] = " | ".join(_param(x) for x in v)
    return sweep


def render_sweep_page(summary: Mapping[str, Any]) -> str:
    """The sweep's self-contained HTML page from its ``sweep.json`` summary.

    Parameters
    ----------
    summary
        The dict :func:`lstm_backtrader.backtests.sweep.run_sweep` writes as ``sweep.json``.

    Returns
    -------
    str
        The page; no external URL, script or font; identical input gives identical output.
    """
    title = str(summary.get("title") or "lstm-backtrader sweep")
    assets = summary.get("assets") or []
    subtitle = (
        f"{summary.get('n_trials', '?')} trials · {len(assets)} asset(s) · seeds "
        + ", ".join(str(s) for s in summary.get("seeds") or [])
        + f" · sweep {summary.get('sweep_id', '')}"
    )
    nav = [
        ("assets", "Assets"),
        ("trials", "Trials"),
        ("seeds", "Seed spread"),
        ("dsr", "DSR"),
        ("config", "Config"),
        ("notes", "Notes"),
    ]
    versions = summary.get("versions") or {}
    footer = [", ".join(f"{k} {v}" for k, v in versions.items())] if versions else []
    footer.append("summary schema " + str(summary.get("schema", "")))
    return render.render_template(
        "sweep.html",
        title=title,
        subtitle=subtitle,
        nav=nav,
        footer=footer,
        n_trials=summary.get("n_trials"),
        assets=_assets_table(summary),
        trials=_trials_table(summary),
        spread=_spread_table(summary),
        dsr=_dsr_pairs(summary),
        sweep_config=render.kv_pairs(_sweep_config(summary)),
        base_config=render.kv_pairs(summary.get("base_config")),
        notes=[str(n) for n in summary.get("notes") or []],
    )


def write_sweep_page(path: str | os.PathLike[str], summary: Mapping[str, Any]) -> Path:
    """Render :func:`render_sweep_page` and write it atomically to ``path``.

    Parameters
    ----------
    path
        Destination, usually ``<sweep>/index.html``.
    summary
        As for :func:`render_sweep_page`.

    Returns
    -------
    Path
        The written page.
    """
    return atomic_write_text(path, render_sweep_page(summary))
