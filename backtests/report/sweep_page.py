"""The page of a parameter sweep (``lstm-bt sweep``): one self-contained HTML file.

Rendered from the sweep's ``sweep.json`` summary (:func:`lstm_backtrader.backtests.sweep.run_sweep`
builds it), in the style of the run page (:mod:`lstm_backtrader.backtests.report.page`, whose CSS
and formatting it shares): the assets with buy-and-hold's Sharpe ratio as the bar to beat, every
trial ranked by Sharpe with its PSR and its DSR deflated for the true number of trials ``N``, the
spread across seeds of each parameter set, a note on the DSR, and the sweep's configuration.

Inline CSS only: no script, font, image or external URL. Every text (asset names, parameter
values, file names) is escaped with :func:`html.escape`. Identical summaries give identical
bytes.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lstm_backtrader.backtests.report.page import _CSS, _fmt, _kv_table, _num, _table
from lstm_backtrader.models.infra.fileio import atomic_write_text

__all__ = ["render_sweep_page", "write_sweep_page"]

_NA = "n/a"

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


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _rows(block: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    return list((block or {}).get("rows") or [])


def _param(v: Any) -> str:
    return "none" if v is None else str(v)


def _pm(mean: Any, std: Any, kind: str) -> str:
    if _num(mean) is None:
        return _NA
    if _num(std) is None:
        return f"{_fmt(mean, kind)} ± {_NA}"
    return f"{_fmt(mean, kind)} ± {_fmt(std, kind)}"


def _assets_section(summary: Mapping[str, Any]) -> str:
    header = [
        "Asset", "Source", "Symbol / file", "Timeframe", "Range", "Bars", "B&H Sharpe",
        "Best trial Sharpe", "Trials beating B&H", "SR₀ (ann.)",
    ]  # fmt: skip
    rows = []
    for a in summary.get("assets") or []:
        bh = a.get("bh_sharpe")
        if bh is None and a.get("bh_sharpe_min") is not None:
            bh_text = f"{_fmt(a['bh_sharpe_min'], 'ratio')} … {_fmt(a['bh_sharpe_max'], 'ratio')}"
        else:
            bh_text = _fmt(bh, "ratio")
        rows.append(
            [
                str(a.get("asset", "")),
                _fmt(a.get("source")),
                _fmt(a.get("symbol")),
                _fmt(a.get("timeframe")),
                f"{_fmt(a.get('start'))} → {_fmt(a.get('end'))}",
                _fmt(a.get("bars"), "int"),
                bh_text,
                _fmt(a.get("best_sharpe"), "ratio"),
                f"{_fmt(a.get('trials_beating_bh'), 'int')} of {_fmt(a.get('trials'), 'int')}",
                _fmt(a.get("expected_max_sharpe_annualised"), "ratio"),
            ]
        )
    note = (
        "Buy & hold trades the same out-of-sample bars with the same costs as each trial: its "
        "Sharpe ratio is the bar to beat (a range when the trials' out-of-sample windows "
        "differ). SR₀ = the Sharpe ratio expected from the best of N zero-skill trials."
    )
    return _table_section("assets", "Assets and the bar to beat", header, rows, note)


def _table_section(
    anchor: str, title: str, header: Sequence[str], rows: Sequence[Sequence[str]], note: str
) -> str:
    """A heading, the numeric table (or "n/a" without rows) and a muted note."""
    return (
        f"<h2 id='{anchor}'>{_e(title)}</h2>\n"
        + (_table(header, rows, "num") if rows else f"<p class='muted'>{_NA}</p>")
        + f"\n<p class='muted'>{_e(note)}</p>"
    )


def _trials_section(summary: Mapping[str, Any]) -> str:
    keys = [str(k) for k in summary.get("param_keys") or []]
    header = ["Rank", "Trial", "Asset", *keys, *(h for _, h, _ in TRIAL_COLUMNS), "Cached"]
    rows = []
    for r in _rows(summary.get("trials")):
        beats = bool(r.get("beats_bh"))
        rows.append(
            [
                _fmt(r.get("rank"), "int"),
                str(r.get("trial_id", "")),
                str(r.get("asset", "")),
                *(_param(r.get(k)) for k in keys),
                *(
                    _fmt(r.get(c), kind) + (" ▲" if c == "sharpe" and beats else "")
                    for c, _, kind in TRIAL_COLUMNS
                ),
                "yes" if r.get("cached") else "no",
            ]
        )
    n = summary.get("n_trials")
    note = (
        f"Ranked by annualised Sharpe ratio (NaN = flat equity, last). ▲ = beats buy & hold on "
        f"the same bars. DSR deflated for N = {n} trials. RMSE ratio = the model's forecast RMSE "
        "over persistence's (a zero return); < 1 means the model forecasts better. Direction "
        "accuracy is to be compared with the always-up rate of the same bars, not 50%."
    )
    return _table_section("trials", "Trials ranked by Sharpe ratio", header, rows, note)


def _spread_section(summary: Mapping[str, Any]) -> str:
    keys = [str(k) for k in summary.get("param_keys") or []]
    metrics: Sequence[Sequence[str]] = summary.get("spread_metrics") or []
    kinds = {"sharpe": "ratio", "cagr": "pct", "rmse_ratio": "ratio3"}
    header = ["Asset", *keys, "Seeds", *(f"{label} mean ± std" for _, label in metrics)]
    rows = [
        [
            str(r.get("asset", "")),
            *(_param(r.get(k)) for k in keys),
            f"{_fmt(r.get('n_seeds'), 'int')} ({_fmt(r.get('seeds'))})",
            *(
                _pm(r.get(f"{col}_mean"), r.get(f"{col}_std"), kinds.get(col, "auto"))
                for col, _ in metrics
            ),
        ]
        for r in _rows(summary.get("seed_spread"))
    ]
    note = (
        "Trials that differ only by model.seed, summarised as mean ± standard deviation "
        "(ddof = 1) across seeds, as Qlib reports; n/a for the std of a single seed. A gap "
        "between parameter sets smaller than this spread is noise."
    )
    return _table_section("seeds", "Seed spread", header, rows, note)


def _dsr_section(summary: Mapping[str, Any]) -> str:
    rows = [
        ("Trials N (all parameter sets × seeds × assets)", _fmt(summary.get("n_trials"), "int")),
        ("Variance V of the trials' per-bar Sharpe ratios", _fmt(summary.get("var_trials_sr"))),
        ("SR₀, expected max Sharpe of N zero-skill trials (per bar)",
         _fmt(summary.get("expected_max_sharpe"), "fixed4")),
    ]  # fmt: skip
    text = (
        "The best of many backtests looks good by chance alone. The Deflated Sharpe Ratio "
        "(Bailey & López de Prado 2014) is DSR = PSR(SR₀) = Φ((SR − SR₀)·√(T − 1) / √(1 − γ₃·SR "
        "+ (γ₄ − 1)/4·SR²)) with SR₀ = √V·((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e))), γ the "
        "Euler–Mascheroni constant, all Sharpe ratios per bar and γ₄ the raw kurtosis. N here "
        "is the true number of trials this sweep ran, not 1: the DSR of the top trial is the "
        "probability that its Sharpe ratio reflects skill rather than the selection of the "
        "luckiest of N."
    )
    return (
        "<h2 id='dsr'>Deflated Sharpe Ratio with N trials</h2>\n"
        + _table(["Quantity", "Value"], rows, "kv")
        + f"\n<p>{_e(text)}</p>"
    )


def _config_section(summary: Mapping[str, Any]) -> str:
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
    return (
        "<h2 id='config'>Sweep configuration</h2>\n"
        + _kv_table(sweep)
        + "\n<h3>Base run configuration (before the overrides)</h3>\n"
        + _kv_table(summary.get("base_config"))
    )


def render_sweep_page(summary: Mapping[str, Any]) -> str:
    """The sweep's self-contained HTML page from its ``sweep.json`` summary.

    Parameters
    ----------
    summary
        The dict :func:`lstm_backtrader.backtests.sweep.run_sweep` writes as ``sweep.json``.

    Returns
    -------
    str
        The page; no external URL, script or font.
    """
    title = str(summary.get("title") or "lstm-backtrader sweep")
    assets = summary.get("assets") or []
    subtitle = (
        f"{summary.get('n_trials', '?')} trials · {len(assets)} asset(s) · seeds "
        + ", ".join(str(s) for s in summary.get("seeds") or [])
        + f" · sweep {summary.get('sweep_id', '')}"
    )
    notes = summary.get("notes") or []
    sections = [
        ("assets", "Assets"),
        ("trials", "Trials"),
        ("seeds", "Seed spread"),
        ("dsr", "DSR"),
        ("config", "Config"),
        ("notes", "Notes"),
    ]
    nav = " ".join(f"<a href='#{a}'>{_e(t)}</a>" for a, t in sections)
    versions = summary.get("versions") or {}
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p class='muted'>{_e(subtitle)}</p>",
        f"<nav>{nav}</nav>",
        _assets_section(summary),
        _trials_section(summary),
        _spread_section(summary),
        _dsr_section(summary),
        _config_section(summary),
        "<h2 id='notes'>Notes</h2>\n<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>",
        "<p class='muted'>" + _e(", ".join(f"{k} {v}" for k, v in versions.items())) + "</p>"
        if versions
        else "",
        f"<p class='muted'>{_e('summary schema ' + str(summary.get('schema', '')))}</p>",
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        f"<title>{_e(title)}</title>\n<style>\n{_CSS}\nh3{{font-size:15px;margin:16px 0 6px}}\n"
        "</style>\n</head>\n<body>\n" + "\n".join(b for b in body if b) + "\n</body>\n</html>\n"
    )


def write_sweep_page(path: str | os.PathLike[str], summary: Mapping[str, Any]) -> Path:
    """Render :func:`render_sweep_page` and write it atomically to ``path``."""
    return atomic_write_text(path, render_sweep_page(summary))
