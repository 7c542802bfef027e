"""The run's own HTML page: self-contained, escaped, deterministic, rebuilt from summary.json."""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.backtests.report import plots
from lstm_backtrader.backtests.report.page import (
    SCHEMA,
    ReportInputs,
    load_summary,
    rebuild_index,
    render_index,
    summary_dict,
    write_index,
    write_report,
)
from lstm_backtrader.backtests.report.stats import (
    StrategyRecord,
    sharpe_significance,
    strategy_table,
)
from lstm_backtrader.models.metrics import forecast_metrics

EVIL = "<script>alert('x')</script>"


def _records(n=400):
    rng = np.random.default_rng(3)
    idx = pd.date_range("2022-01-01", periods=n, freq="D", tz="UTC", name="timestamp")
    market = rng.normal(0.0005, 0.03, n)
    market[0] = 0.0
    close = 20_000 * np.cumprod(1 + market)
    signal = np.sign(rng.normal(size=n))
    strat = np.concatenate([[0.0], signal[:-1] * market[1:]]) - 0.0002 * (signal != 0)
    strat[0] = 0.0
    eq_l = pd.Series(10_000 * np.cumprod(1 + strat), index=idx)
    eq_b = pd.Series(10_000 * close / close[0], index=idx)
    pos = pd.Series(signal * 0.5, index=idx)
    trades = pd.DataFrame(
        {
            "entry_time": idx[[3, 50]],
            "exit_time": idx[[20, 90]],
            "side": ["long", "short"],
            "size": [0.5, 0.5],
            "entry_price": [20_000.0, 21_000.0],
            "exit_price": [21_000.0, 20_500.0],
            "pnl": [500.0, 250.0],
            "pnl_net": [480.0, -20.0],
            "commission": [20.0, 20.0],
            "bars": [17, 40],
        }
    )
    lstm = StrategyRecord("LSTM", eq_l, trades=trades, position=pos)
    bh = StrategyRecord("Buy & hold", eq_b, position=pd.Series(0.5, index=idx))
    evil = StrategyRecord(EVIL, eq_l * 1.01)
    forecast = pd.Series(0.3 * market + rng.normal(0, 0.02, n), index=idx)
    realised = pd.Series(market, index=idx)
    return [lstm, bh, evil], forecast, realised


@pytest.fixture(scope="module")
def report():
    records, forecast, realised = _records()
    table = strategy_table(records, 365)
    fm = forecast_metrics(forecast.iloc[1:], realised.iloc[1:], baseline=0.0)
    sig = sharpe_significance(records[0], 365, n_trials=24, var_trials_sr=3e-4)
    folds = pd.DataFrame(
        {
            "fold": [0, 1, 2, 3],
            "start": pd.date_range("2022-03-01", periods=4, freq="30D", tz="UTC"),
            "rmse": [0.031, 0.029, np.nan, 0.033],
            "baseline_rmse": [0.030, 0.030, 0.028, 0.031],
        }
    )
    inputs = ReportInputs(
        title=f"Run {EVIL}",
        config={
            "model": {"lookback": 60, "units": [50, 50], "dropout": float("nan")},
            "costs": {"commission": 0.001},
            "note": EVIL,
        },
        data={
            "source": "synthetic",
            "symbol": "BTC/USDT",
            "timeframe": "1d",
            "start": records[0].equity.index[0],
            "end": records[0].equity.index[-1],
            "bars": len(records[0].equity),
        },
        periods_per_year=365,
        strategies=table,
        forecast=fm.to_dict(),
        significance=[sig],
        folds=folds,
        notes=["costs: 0.1% a side", EVIL],
    )
    images = plots.standard_plots(
        records[:2], forecast=forecast, realised=realised, folds=folds, window=30
    )
    return inputs, images, table, fm, sig


def test_summary_is_strict_json_with_every_number(report):
    inputs, images, table, fm, sig = report
    summary = summary_dict(inputs, list(images))
    text = json.dumps(summary, allow_nan=False)  # raises on NaN/inf
    back = json.loads(text)
    assert back == summary
    assert back["schema"] == SCHEMA
    rows = {r["strategy"]: r for r in back["strategies"]["rows"]}
    assert set(rows) == {"LSTM", "Buy & hold", EVIL}
    for col in table.columns:
        expected = table.loc["LSTM", col]
        got = rows["LSTM"][col]
        if isinstance(expected, float) and not np.isfinite(expected):
            assert got is None
        else:
            assert got == pytest.approx(expected), col
    assert back["forecast"]["rmse_ratio"] == pytest.approx(fm.rmse_ratio)
    assert back["significance"][0]["dsr"] == pytest.approx(sig.dsr)
    assert back["significance"][0]["n_trials"] == 24
    assert back["config"]["model"]["dropout"] is None  # NaN -> None
    assert back["data"]["start"] == "2022-01-01T00:00:00+00:00"
    fold_rows = back["folds"]["rows"]
    assert fold_rows[2]["rmse"] is None and fold_rows[2]["rmse_ratio"] is None
    assert fold_rows[0]["rmse_ratio"] == pytest.approx(0.031 / 0.030)
    assert back["images"] == list(images)


def test_page_is_self_contained_and_escaped(report):
    inputs, images, table, fm, sig = report
    page = render_index(summary_dict(inputs, list(images)), images)
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page and "https://" not in page
    links = re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]*)['"]""", page)
    assert links and all(
        u.startswith(("data:image/png;base64,", "#")) or u == "tearsheet.html" for u in links
    )
    assert "<script" not in page.lower()
    assert "@import" not in page and "url(" not in page
    assert (
        page.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;") >= 4
    )  # title, row, config, note
    assert "href='tearsheet.html'" in page
    # every figure embedded as a data URI
    assert page.count("data:image/png;base64,") == len(images) == 6
    for data in images.values():
        assert base64.b64encode(data).decode() in page
    # sections and numbers
    for heading in ("Strategy vs baselines", "Forecast diagnostics", "PSR, DSR", "Walk-forward folds",
                    "Configuration", "Data"):  # fmt: skip
        assert heading in page
    assert "Buy &amp; hold" in page
    assert f"{table.loc['LSTM', 'total_return'] * 100:.2f}%" in page
    assert f"{fm.rmse_ratio:.3f}" in page
    assert f"{fm.directional.always_up_rate * 100:.2f}%" in page
    assert f"{sig.dsr:.3f}" in page and f"{sig.psr:.3f}" in page
    assert "N = 24 configurations" in page
    assert "model.lookback" in page and "50, 50" in page
    assert "n/a" in page  # the NaN fold RMSE


def test_render_is_deterministic_and_rebuilds_from_saved_files(report, tmp_path):
    inputs, images, *_ = report
    summary = summary_dict(inputs, list(images))
    assert render_index(summary, images) == render_index(summary, images)
    paths = write_report(tmp_path / "run", inputs, images)
    first = paths["index"].read_bytes()
    assert (tmp_path / "run" / "summary.json").exists()
    assert sorted(p.name for p in (tmp_path / "run" / "plots").iterdir()) == sorted(
        f"{k}.png" for k in images
    )
    paths["index"].unlink()
    rebuilt = rebuild_index(tmp_path / "run")
    assert rebuilt.read_bytes() == first
    assert load_summary(tmp_path / "run" / "summary.json") == summary


def test_plots_are_deterministic_pngs():
    records, forecast, realised = _records(n=120)
    a = plots.standard_plots(records[:2], forecast=forecast, realised=realised, window=20)
    b = plots.standard_plots(records[:2], forecast=forecast, realised=realised, window=20)
    assert list(a) == ["equity", "equity_log", "drawdowns", "forecast", "direction"]
    assert a == b
    for data in a.values():
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert b"Software" not in data and b"matplotlib" not in data.lower()


def test_minimal_summary_renders(tmp_path):
    records, _, _ = _records(n=120)
    inputs = ReportInputs(
        title="minimal",
        config={},
        data={},
        periods_per_year=365,
        strategies=strategy_table(records[:1], 365),
        significance=sharpe_significance(records[0], 365, n_trials=3),  # one, not a list
        tearsheet=None,
    )
    page = write_index(tmp_path / "index.html", summary_dict(inputs)).read_text(encoding="utf-8")
    assert "minimal" in page and "href=" not in page.replace("href='#", "")
    assert "id='figures'" not in page and "#figures" not in page
    assert "N = 3 configurations" in page


def test_bad_inputs_are_refused(report, tmp_path):
    inputs, images, *_ = report
    summary = summary_dict(inputs, list(images))
    with pytest.raises(ValueError, match="not PNG"):
        render_index(summary, {"equity": b"<svg></svg>"})
    bad = dict(summary, tearsheet="https://example.com/x.html")
    with pytest.raises(ValueError, match="relative"):
        render_index(bad, {})
    with pytest.raises(ValueError, match="relative"):
        summary_dict(
            ReportInputs(
                title="t", config={}, data={}, periods_per_year=365,
                strategies=inputs.strategies, tearsheet="javascript:alert(1)",
            )
        )  # fmt: skip
    (tmp_path / "summary.json").write_text('{"schema": "other"}', encoding="utf-8")
    with pytest.raises(ValueError, match="schema"):
        load_summary(tmp_path / "summary.json")


# --------------------------------------------------------------------------- templates

DIGEST = "9302f40d411fe2cc2e3283ebd80b6e225d912feabcf7fdf0f52aad6d17d72de1"


def test_every_fold_row_and_digest_is_kept_and_long_digests_are_truncated_by_css(report):
    inputs, *_ = report
    folds = pd.DataFrame(
        {"fold": [0, 1, 2], "rmse": [0.031, 0.029, 0.03], "baseline_rmse": [0.03, 0.03, 0.03],
         "model_hash": [DIGEST, DIGEST[::-1], None]}
    )  # fmt: skip
    summary = summary_dict(ReportInputs(**{**inputs.__dict__, "folds": folds}))
    page = render_index(summary)
    section = page.split("id='folds'")[1].split("<h2")[0]
    assert section.count("<tr>") == 1 + 3  # header and every fold
    assert f"<span class='digest' title='{DIGEST}'>{DIGEST}</span>" in section
    assert f"title='{DIGEST[::-1]}'" in section and "<td>n/a</td>" in section
    assert "model_<wbr>hash" in section and "rmse_<wbr>ratio" in section
    assert "1.033" in section  # rmse_ratio, ratio3
    css = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    assert re.search(r"\.digest\{[^}]*text-overflow:ellipsis", css)


def test_hostile_names_everywhere_are_escaped(report):
    inputs, images, *_ = report
    hostile = ReportInputs(
        **{**inputs.__dict__, "model_name": EVIL, "baseline_name": EVIL,
           "config": {EVIL: {EVIL: [EVIL, 1]}}, "data": {"symbol": EVIL, "start": EVIL}}
    )  # fmt: skip
    page = render_index(summary_dict(hostile, list(images)), images)
    assert "<script" not in page.lower()
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
    heading = page.split("<h2 id='forecast'>")[1].split("</h2>")[0]
    assert heading == f"Forecast diagnostics: {escaped} vs {escaped}"
    assert f"<td>{escaped}.{escaped}</td><td>{escaped}, 1</td>" in page  # flattened config
    assert f"<p class='muted'>{escaped} · data from {escaped}</p>" in page  # subtitle
    assert f"Full quantstats tearsheet of {escaped} vs buy and hold" in page


def test_page_is_identical_across_processes(report, tmp_path):
    """No hash seed, dict or set order leaks into the page: two fresh processes rebuilding it
    from the saved files write the same bytes as this one."""
    inputs, images, *_ = report
    paths = write_report(tmp_path / "run", inputs, images)
    first = paths["index"].read_bytes()
    code = (
        "import sys; from lstm_backtrader.backtests.report.page import rebuild_index; "
        "rebuild_index(sys.argv[1])"
    )
    for seed in ("1", "2"):
        paths["index"].unlink()
        env = {**os.environ, "PYTHONHASHSEED": seed}
        res = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "run")],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr[-2000:]
        assert paths["index"].read_bytes() == first


@pytest.mark.parametrize("module", ["page", "sweep_page", "render", "summary"])
def test_page_modules_import_no_private_names(module):
    """The pages share public helpers only (render, summary), never another module's _names."""
    path = Path(__file__).resolve().parents[1] / "backtests" / "report" / f"{module}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    private = [
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lstm_backtrader")
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert not private, private
