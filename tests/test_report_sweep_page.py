"""The sweep's page: the run page's layout and stylesheet, every row, escaped, deterministic."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from lstm_backtrader.backtests.report.page import ReportInputs, render_index, summary_dict
from lstm_backtrader.backtests.report.sweep_page import render_sweep_page, write_sweep_page

EVIL = "<script>alert('x')</script>"
EVIL_ESCAPED = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"


def _trial(rank: int, asset: str, kind: Any, seed: int, sharpe: float | None) -> dict[str, Any]:
    return {
        "rank": rank, "trial_id": f"{rank:012x}", "asset": asset, "model.kind": kind,
        "seed": seed, "sharpe": sharpe, "psr": 0.6, "dsr": 0.3, "cagr": 0.05,
        "max_drawdown": -0.2, "rmse_ratio": 0.99, "direction_acc": 0.55, "always_up_rate": 0.5,
        "n_trades": 10, "bh_sharpe": 0.1, "beats_bh": sharpe is not None and sharpe > 0.1,
        "cached": rank == 3,
    }  # fmt: skip


def _summary(mode: str = "grid") -> dict[str, Any]:
    trials = [
        _trial(1, EVIL, "lstm", 1, 0.5),
        _trial(2, EVIL, "lstm", 2, 0.05),
        _trial(3, "other", None, 1, None),
    ]
    return {
        "schema": "lstm-bt.sweep/1",
        "title": f"Sweep {EVIL}",
        "sweep_id": "s-1234",
        "sweep_file": f"{EVIL}.toml",
        "mode": mode,
        "param_keys": ["model.kind"],
        "seeds": [1, 2],
        "grid": {"model.kind": ["lstm", None, EVIL]},
        "trials_list": [{"model.kind": EVIL}, {}],
        "base_file": None,
        "base_config": {"model": {"units": [4], "note": EVIL}},
        "n_trials": 3,
        "var_trials_sr": 0.0033,
        "expected_max_sharpe": 0.061,
        "computed": 2,
        "cached": 1,
        "executor": "serial",
        "assets": [
            {
                "asset": EVIL,
                "source": "file",
                "symbol": f"{EVIL}.csv",
                "timeframe": "1d",
                "start": "2020-01-01T00:00:00+00:00",
                "end": "2021-02-03T00:00:00+00:00",
                "bars": 400,
                "bh_sharpe": None,
                "bh_sharpe_min": -0.5,
                "bh_sharpe_max": 0.25,
                "best_sharpe": 0.5,
                "trials_beating_bh": 1,
                "trials": 2,
                "expected_max_sharpe_annualised": 0.88,
            },
        ],
        "trials": {"columns": list(trials[0]), "rows": trials},
        "seed_spread": {
            "columns": ["asset", "model.kind", "n_seeds", "seeds", "sharpe_mean", "sharpe_std"],
            "rows": [
                {
                    "asset": EVIL,
                    "model.kind": "lstm",
                    "n_seeds": 2,
                    "seeds": "1 2",
                    "sharpe_mean": 0.275,
                    "sharpe_std": 0.318,
                },
                {
                    "asset": "other",
                    "model.kind": None,
                    "n_seeds": 1,
                    "seeds": "1",
                    "sharpe_mean": None,
                    "sharpe_std": None,
                },
            ],
        },
        "spread_metrics": [["sharpe", "Sharpe"]],
        "notes": [f"note {EVIL}"],
        "versions": {"python": "3.11", EVIL: "1"},
    }


def _style(page: str) -> str:
    (css,) = re.findall(r"<style>(.*?)</style>", page, re.S)
    return css


def test_sweep_page_shares_the_run_pages_layout_and_stylesheet() -> None:
    sweep = render_sweep_page(_summary())
    inputs = ReportInputs(title="run", config={}, data={}, periods_per_year=365,
                          strategies=pd.DataFrame({"sharpe": [1.0]}, index=["LSTM"]),
                          tearsheet=None)  # fmt: skip
    run = render_index(summary_dict(inputs))
    assert _style(sweep) == _style(run) and len(_style(sweep)) > 500
    head = sweep.split("<style>")[0]
    assert head == run.split("<style>")[0].replace(
        "<title>run</title>", f"<title>Sweep {EVIL_ESCAPED}</title>"
    )
    for page in (sweep, run):
        assert page.startswith("<!DOCTYPE html>\n<html lang='en'>") and page.endswith("</html>\n")
        assert page.count("<nav>") == 1 and page.count("<h1>") == 1


def test_sweep_page_is_escaped_and_self_contained() -> None:
    page = render_sweep_page(_summary())
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "url(" not in page and "@import" not in page and "<img" not in page
    links = re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]*)['"]""", page)
    assert links and all(u.startswith("#") for u in links)
    # title (head and h1), asset (assets, 2 trials, spread), symbol, sweep file, grid value,
    # base config, note, versions
    assert page.count(EVIL_ESCAPED) >= 12
    assert "B&amp;H Sharpe" in page and "&lt; 1 means" in page


def test_sweep_page_shows_every_row_and_number() -> None:
    page = render_sweep_page(_summary())
    for rank in (1, 2, 3):
        assert f"<td>{rank:012x}</td>" in page
    assert "0.50 ▲" in page and "0.05 ▲" not in page  # beats buy & hold
    assert "-0.50 … 0.25" in page  # buy & hold Sharpe range
    assert "1 of 2" in page and "2020-01-01 → 2021-02-03" in page
    assert "0.28 ± 0.32" in page and "<td>n/a</td>" in page
    assert "<td>none</td>" in page  # a None parameter
    assert "N = 3 trials" in page and "0.0610" in page  # SR₀ per bar, fixed4
    assert "lstm | none | " + EVIL_ESCAPED in page  # the grid
    assert "<td>yes</td>" in page and "<td>no</td>" in page  # cached
    assert "model.<wbr>kind" in page  # long headings may wrap
    listed = render_sweep_page(_summary("list"))
    assert f"model.kind={EVIL_ESCAPED}" in listed and "(base)" in listed


def test_empty_sweep_summary_renders_every_section_as_na(tmp_path: Path) -> None:
    page = write_sweep_page(tmp_path / "index.html", {}).read_text(encoding="utf-8")
    assert "lstm-backtrader sweep" in page
    for anchor in ("assets", "trials", "seeds", "dsr", "config", "notes"):
        assert f"id='{anchor}'" in page
    assert page.count("<p class='muted'>n/a</p>") == 4  # three tables and the base config


def test_sweep_page_is_deterministic(tmp_path: Path) -> None:
    first = render_sweep_page(_summary())
    assert render_sweep_page(_summary()) == first
    written = write_sweep_page(tmp_path / "index.html", _summary())
    assert written.read_text(encoding="utf-8") == first
