"""quantstats tearsheet written offline: a socket guard makes any hidden download fail."""

from __future__ import annotations

import re
import socket

import matplotlib
import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.backtests.report.stats import sharpe_significance, strategy_table
from lstm_backtrader.backtests.report.tearsheet import (
    NAMESPACE_URIS,
    sanitize_quantstats_html,
    tearsheet_comparison,
    tearsheet_differences,
    tearsheet_inputs,
    write_tearsheet,
)
from lstm_backtrader.backtests.report.tearsheet_compare import SHARED_FIGURES
from lstm_backtrader.backtests.report.tearsheet_fixes import DAILY_CUMSUM_GID, daily_returns_grid
from lstm_backtrader.strategies.record import StrategyRecord

_LOCAL = ("127.0.0.1", "::1", "localhost")


def _guard_network(monkeypatch) -> None:
    """Any connection to a non-loopback address raises; quantstats' download helpers (curl_cffi
    does not go through Python sockets) raise too."""
    real_connect = socket.socket.connect

    def guarded_connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in _LOCAL:
            raise AssertionError(f"network access attempted: {address!r}")
        return real_connect(self, address)

    def no_download(*args, **kwargs):
        raise AssertionError("quantstats tried to download data")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    import quantstats

    monkeypatch.setattr(quantstats.utils, "download_returns", no_download)
    monkeypatch.setattr(quantstats.utils, "safe_yfinance_download", no_download)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every test runs with the network guard (:func:`_guard_network`)."""
    _guard_network(monkeypatch)


def _returns(n=600, seed=0, mu=0.001, sigma=0.03, name=None) -> pd.Series:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2021-01-01", periods=n, freq="D", tz="UTC", name="timestamp")
    r = pd.Series(rng.normal(mu, sigma, n), index=idx, name=name)
    r.iloc[0] = 0.0
    return r


def _remote_refs(text: str) -> set[str]:
    found = set(re.findall(r"""(?:https?:)?//[^\s"'<>)]+""", text))
    return {u for u in found if u not in NAMESPACE_URIS}


def test_guard_blocks_network():
    with socket.socket() as sock, pytest.raises(AssertionError, match="network access"):
        sock.connect(("93.184.216.34", 80))
    import quantstats

    with pytest.raises(AssertionError, match="download"):
        quantstats.utils._prepare_benchmark("BTC-USD")


def test_tearsheet_offline_with_benchmark(tmp_path):
    strat = _returns(seed=1, name="LSTM")
    bench = _returns(seed=2, sigma=0.04)
    font_before = list(matplotlib.rcParams["font.family"])
    out = write_tearsheet(
        strat,
        bench,
        tmp_path / "run" / "tearsheet.html",
        periods_per_year=365,
        title="LSTM <script>alert(1)</script>",
    )
    assert out == tmp_path / "run" / "tearsheet.html"
    assert [p.name for p in out.parent.iterdir()] == ["tearsheet.html"]  # no temp file left
    text = out.read_text(encoding="utf-8")
    for heading in ("Key Performance Metrics", "EOY Returns vs Benchmark", "Worst 10 Drawdowns"):
        assert heading in text
    for metric in ("Sharpe", "Sortino", "Max Drawdown", "Cumulative Return"):
        assert metric in text
    assert "Buy &amp; hold" in text and "BUY &amp; HOLD" in text
    assert "Periods/Year: 365" in text and "matched dates" not in text
    assert " 1 Jan, 2021 - " in text  # the full period, first (flat) bar included
    assert "<th>LSTM</th>" in text
    assert "<script" not in text  # the title is escaped, quantstats adds no script
    assert "LSTM &lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert text.count("<svg") >= 10  # the charts are inline SVG
    assert _remote_refs(text) == set()
    assert "onload" not in text and "<metadata>" not in text
    assert matplotlib.get_backend().lower() == "agg"
    assert list(matplotlib.rcParams["font.family"]) == font_before  # quantstats' style undone


def test_tearsheet_of_real_btc_buy_and_hold(tmp_path, btc_1d_raw):
    close = btc_1d_raw["close"].iloc[-800:]
    bench = close.pct_change().fillna(0.0)
    # a "strategy" long on bars after an up bar (known from the previous close only)
    signal = (bench.shift(1) > 0).astype(float)
    strat = (signal * bench).rename("Momentum sign")
    out = write_tearsheet(
        strat, bench, tmp_path / "tearsheet.html", periods_per_year=365, title="BTC daily"
    )
    text = out.read_text(encoding="utf-8")
    assert "Key Performance Metrics" in text and "Momentum sign" in text
    assert "Buy &amp; hold" in text
    assert _remote_refs(text) == set()


def test_refuses_ticker_strings_and_misaligned_benchmarks(tmp_path):
    strat = _returns(n=50)
    with pytest.raises(TypeError, match="download"):
        write_tearsheet(strat, "BTC-USD", tmp_path / "t.html", periods_per_year=365, title="x")
    with pytest.raises(ValueError, match="no return on 10"):
        write_tearsheet(
            strat, strat.iloc[10:], tmp_path / "t.html", periods_per_year=365, title="x"
        )
    prices = strat.abs() + 1.5  # looks like prices to quantstats
    with pytest.raises(ValueError, match="prices"):
        write_tearsheet(prices, strat, tmp_path / "t.html", periods_per_year=365, title="x")
    with pytest.raises(ValueError, match="periods_per_year"):
        write_tearsheet(strat, strat, tmp_path / "t.html", periods_per_year=0, title="x")
    assert not list(tmp_path.iterdir())


def test_sanitize_strips_quantstats_remote_references():
    raw = (
        '<head><link rel="shortcut icon" href="https://qtpylib.io/favicon.ico" '
        'type="image/x-icon"></head><body onload="save()">'
        '<h4>Generated by <a href="http://quantstats.io" target="quantstats">QuantStats</a></h4>'
        '<?xml version="1.0" encoding="utf-8" standalone="no"?>\n'
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"\n'
        '  "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
        '<svg xmlns="http://www.w3.org/2000/svg">\n <metadata>\n  <dc:date>2026</dc:date>\n'
        "  <dc:title>Matplotlib, https://matplotlib.org/</dc:title>\n </metadata>\n</svg>"
    )
    clean = sanitize_quantstats_html(raw)
    assert _remote_refs(clean) == set()
    assert "Generated by QuantStats" in clean and "<body>" in clean
    assert '<svg xmlns="http://www.w3.org/2000/svg">' in clean


def test_strategy_that_never_traded_gets_a_note_not_a_crash(tmp_path, caplog):
    flat = _returns(seed=1, name="LSTM") * 0.0
    out = write_tearsheet(
        flat, _returns(seed=2), tmp_path / "tearsheet.html", periods_per_year=365, title="T <b>"
    )
    text = out.read_text(encoding="utf-8")
    assert "never held a position" in text and "T &lt;b&gt;" in text
    assert "never traded" in caplog.text
    assert _remote_refs(text) == set()


# --------------------------------------------------------------------------- same numbers as the page

#: Out-of-sample start mid-year; a 12-day gap (like the Coinbase sample's) and a gap over all of
#: February 2022, ending 2022-03-04.
_OOS_START, _END = "2021-06-15", "2022-09-10"
_GAPS = (("2021-11-10", "2021-11-22"), ("2022-01-27", "2022-03-04"))


def _gap_records() -> tuple[StrategyRecord, StrategyRecord]:
    """A strategy (long on ~60% of bars, 0.1% fee per change) and buy and hold on daily bars
    with data gaps; a return over a gap sits on the bar after it."""
    idx = pd.date_range(_OOS_START, _END, freq="D", tz="UTC", name="timestamp")
    for start, end in _GAPS:
        idx = idx[(idx < start) | (idx >= end)]
    rng = np.random.default_rng(11)
    market = rng.normal(0.004, 0.025, len(idx))
    market[0] = 0.0
    held = (rng.random(len(idx)) < 0.6).astype(float)
    held[0] = 0.0
    fees = 0.001 * np.abs(np.diff(held, prepend=0.0))
    strat = np.concatenate([[0.0], held[:-1] * market[1:]]) - fees
    bh_pos = np.ones(len(idx))
    bh_pos[0] = 0.0
    lstm = StrategyRecord(
        "LSTM",
        pd.Series(10_000 * np.cumprod(1 + strat), index=idx),
        position=pd.Series(held, index=idx),
    )
    bh = StrategyRecord(
        "Buy & hold",
        pd.Series(10_000 * np.cumprod(1 + market), index=idx),
        position=pd.Series(bh_pos, index=idx),
    )
    return lstm, bh


@pytest.fixture(scope="module")
def gap_run(tmp_path_factory):
    """The two records, their tearsheet's HTML and the page's numbers (written once)."""
    lstm, bh = _gap_records()
    path = tmp_path_factory.mktemp("gap") / "tearsheet.html"
    with pytest.MonkeyPatch.context() as mp:
        _guard_network(mp)
        write_tearsheet(
            lstm.returns, bh.returns, path, periods_per_year=365, title="Gap", strategy_title="LSTM"
        )
        comparison = tearsheet_comparison(lstm, bh, 365)
        differences = tearsheet_differences(lstm, bh, 365)
    page = strategy_table([lstm, bh], 365)
    for rec in (lstm, bh):
        sig = sharpe_significance(rec, 365)
        page.loc[rec.name, ["psr", "skew", "kurtosis"]] = [sig.psr, sig.skew, sig.kurtosis]
    return {
        "records": (lstm, bh),
        "html": path.read_text(encoding="utf-8"),
        "page": page,
        "comparison": comparison,
        "differences": differences,
    }


def _metrics_table(text: str) -> dict[str, dict[str, str]]:
    """quantstats' Key Performance Metrics: row label -> {column: shown text}."""
    i = text.index("Key Performance Metrics")
    table = text[i : text.index("</table>", i)]
    rows = [re.findall(r"<t[dh]>(.*?)</t[dh]>", r) for r in re.findall(r"<tr>(.*?)</tr>", table)]
    header = [c.replace("&amp;", "&") for c in rows[0][1:]]
    return {r[0]: dict(zip(header, r[1:], strict=True)) for r in rows[1:] if len(r) > 1}


def _worst_drawdown_days(text: str) -> int:
    """Days of the first (deepest) row of the tearsheet's Worst 10 Drawdowns."""
    i = text.index('<div id="ddinfo">')
    first_row = re.search(r"<tbody>\s*<tr>(.*?)</tr>", text[i:], flags=re.DOTALL).group(1)
    return int(re.findall(r"<td>(.*?)</td>", first_row)[-1])


def _shown(cell: str) -> float:
    return float(cell.rstrip("%").replace(",", ""))


_HTML_ROWS = {"CAGR": "CAGR﹪"}  # SharedFigure.figure -> the tearsheet's row label


def test_tearsheet_sharpe_family_equals_the_page(gap_run):
    """(a) Figures computed from the same N - 1 returns read the same on both pages."""
    table, page = _metrics_table(gap_run["html"]), gap_run["page"]
    assert set(table["Sharpe"]) == {"Buy & hold", "LSTM"}
    for column in ("LSTM", "Buy & hold"):
        row = page.loc[column]
        assert _shown(table["Sharpe"][column]) == round(row["sharpe"], 2)
        assert _shown(table["Sortino"][column]) == round(row["sortino"], 2)
        assert _shown(table["Volatility (ann.)"][column]) == round(row["volatility"] * 100, 2)
        assert _shown(table["Cumulative Return"][column]) == round(row["total_return"] * 100, 2)
        assert _shown(table["Max Drawdown"][column]) == round(row["max_drawdown"] * 100, 2)
    assert "<dt>15 Jun, 2021 - 10 Sep, 2022</dt>" in gap_run["html"]  # from the first bar close


def test_differences_list_exactly_what_differs_with_the_shown_values(gap_run):
    """(b) Every shared figure's values are those the tearsheet and the page show, and the
    sentences name exactly the figures whose shown values differ, in the tearsheet's order."""
    html_text, page, comparison = gap_run["html"], gap_run["page"], gap_run["comparison"]
    table = _metrics_table(html_text)
    page_key = {figure: key for figure, key, _ in SHARED_FIGURES}
    assert {(f.figure, f.column) for f in comparison} == {
        (figure, column) for figure in page_key for column in ("LSTM", "Buy & hold")
    }
    for f in comparison:
        if f.figure == "Worst drawdown Days":
            if f.column == "LSTM":  # the tearsheet's table is the strategy's
                assert f.tearsheet == _worst_drawdown_days(html_text)
        else:
            shown = table[_HTML_ROWS.get(f.figure, f.figure)][f.column]
            assert _shown(shown) == _shown(f.tearsheet_text), (f, shown)
        assert f.page == pytest.approx(page.loc[f.column, page_key[f.figure]])
    differing = [fig for fig in page_key if any(not f.equal for f in comparison if f.figure == fig)]
    assert {"CAGR", "Calmar", "Time in Market", "Kurtosis"} <= set(differing)
    same = {"Sharpe", "Sortino", "Volatility (ann.)", "Cumulative Return", "Max Drawdown"}
    assert not same & set(differing)
    sentences = dict(zip(differing, gap_run["differences"], strict=True))
    for f in comparison:
        if not f.equal:
            assert f"{f.column} {f.tearsheet_text}" in sentences[f.figure]
            assert f"{f.column} {f.page_text}" in sentences[f.figure]
    for fig in ("CAGR", "Calmar", "Time in Market", "Kurtosis", "Skew"):
        if fig in sentences:
            assert sentences[fig].startswith(f"Tearsheet {fig} ")
    lstm, _ = gap_run["records"]
    cagr = sentences["CAGR"]
    assert f"{len(lstm.equity) - 1} returns / 365" in cagr and "365.25" in cagr
    for column in ("LSTM", "Buy & hold"):
        assert _shown(table["CAGR﹪"][column]) == round(
            next(f.tearsheet for f in comparison if (f.figure, f.column) == ("CAGR", column)) * 100,
            2,
        )
        assert f"{column} {page.loc[column, 'cagr'] * 100:.2f}%" in cagr
        assert f"{column} {page.loc[column, 'exposure'] * 100:.2f}%" in sentences["Time in Market"]


def _daily_path(text: str) -> list[tuple[float, float]]:
    """Vertices of the strategy's line in the daily cumulative-sum chart."""
    div = re.search(r'<div id="daily_returns">(.*?)</div>', text, flags=re.DOTALL).group(1)
    group = re.search(rf'<g id="{DAILY_CUMSUM_GID}">(.*?)</g>', div, flags=re.DOTALL).group(1)
    d = re.search(r'<path d="([^"]*)"', group).group(1)
    numbers = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", d)]
    return list(zip(numbers[::2], numbers[1::2], strict=True))


def test_daily_cumulative_sum_does_not_dive_across_a_gap(gap_run):
    """(c) The chart's data carries the last value through a gap; the drawn line touches 0
    only at its start (quantstats' own chart of the bar returns drops to 0 on every gap day)."""
    lstm, _ = gap_run["records"]
    bars = tearsheet_inputs(lstm.returns, lstm.returns, 365).bars
    grid = daily_returns_grid(lstm.returns.tz_convert(None))
    assert grid.index[0] == bars[0] and grid.index[-1] == bars[-1]
    assert len(grid) == (bars[-1] - bars[0]).days + 1
    cumsum = grid.fillna(0).cumsum()  # what quantstats plots
    for start, end in _GAPS:
        gap = (grid.index >= start) & (grid.index < end)
        assert gap.sum() >= 12 and grid[gap].isna().all()
        before = cumsum[grid.index < start].iloc[-1]
        assert (cumsum[gap] == before).all() and before != 0
        after = pd.Timestamp(end)  # the gap's return sits on the bar after it
        ratio = (
            lstm.equity.iloc[lstm.equity.index.get_loc(after.tz_localize("UTC"))]
            / (lstm.equity[lstm.equity.index < pd.Timestamp(start, tz="UTC")].iloc[-1])
        )
        assert grid[after] == pytest.approx(ratio - 1)

    path = _daily_path(gap_run["html"])
    y0 = path[0][1]  # the first bar's placeholder: cumulative sum 0
    assert sum(abs(y - y0) < 0.01 for _, y in path) == 1

    import quantstats as qs  # the same chart of the bar returns, as quantstats draws it

    fig = qs.plots.daily_returns(
        lstm.returns.iloc[1:].tz_convert(None), None, show=False, prepare_returns=False
    )
    line = max(fig.axes[0].get_lines(), key=lambda ln: len(ln.get_xdata()))
    assert (np.asarray(line.get_ydata()) == 0).sum() >= 12 + 35  # every gap day at 0


def test_heatmap_leaves_months_without_bars_blank(gap_run):
    """(d) Only months holding an out-of-sample bar have a value in the heatmap (Jun 2021 -
    Sep 2022 without February 2022): 15 cells, no 0.00 of quantstats' fill."""
    div = re.search(r'<div id="monthly_heatmap">(.*?)</div>', gap_run["html"], flags=re.DOTALL)
    labels = re.findall(r"<!-- (.*?) -->", div.group(1))
    values = [x for x in labels if re.fullmatch(r"-?\d+\.\d\d", x)]
    assert "0.00" not in values
    lstm, _ = gap_run["records"]
    monthly = (1 + lstm.returns).groupby(lstm.returns.index.strftime("%Y-%m")).prod() - 1
    assert len(monthly) == 15 and "2022-02" not in monthly.index
    assert values == [f"{v * 100:.2f}" for v in monthly]  # row by row, Jan..Dec
    assert {"2021", "2022"} <= set(labels)


def test_benchmark_column_has_no_r2_or_information_ratio(gap_run):
    """(e) A benchmark against itself has no R^2 or Information Ratio; the strategy keeps its."""
    table = _metrics_table(gap_run["html"])
    for row in ("R^2", "Information Ratio"):
        assert table[row]["Buy & hold"] == "-"
        float(table[row]["LSTM"])
    assert table["Beta"]["Buy & hold"] == "-"


def test_rolling_beta_starts_where_its_window_is_full(gap_run):
    """The half-year beta has no points before its first full window (quantstats drew 0s)."""
    div = re.search(r'<div id="rolling_beta">(.*?)</div>', gap_run["html"], flags=re.DOTALL)
    paths = re.findall(r'<path d="([^"]*)"[^>]*style="[^"]*stroke: #([0-9a-f]{6})', div.group(1))
    lines = [d for d, _ in paths if d.count("L") > 50]
    assert lines  # the 6- and 12-month lines
    starts = [float(re.match(r"M\s*(-?[\d.]+)", d).group(1)) for d in lines]
    zero_lines = [d for d, _ in paths if d.count("L") == 1]
    left = min(float(re.match(r"M\s*(-?[\d.]+)", d).group(1)) for d in zero_lines)
    assert min(starts) > left + 50  # no line from the chart's left edge


def test_first_value_must_be_the_placeholder(tmp_path):
    strat = _returns(n=50)
    strat.iloc[0] = 0.02
    with pytest.raises(ValueError, match="placeholder"):
        write_tearsheet(strat, _returns(n=50), tmp_path / "t.html", periods_per_year=365, title="x")
    nan_first = _returns(n=50)
    nan_first.iloc[0] = np.nan  # equity.pct_change() without fillna: also the placeholder
    inputs = tearsheet_inputs(nan_first, _returns(n=50), 365)
    assert len(inputs.returns) == 49 and len(inputs.bars) == 50
    assert inputs.benchmark.index.equals(inputs.returns.index)


def test_daily_grid_sums_intraday_bars_per_day():
    idx = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 12:00", "2024-01-04 12:00"])
    grid = daily_returns_grid(pd.Series([0.0, 0.01, 0.02], index=idx, name="s"))
    assert grid.index.equals(pd.date_range("2024-01-01", "2024-01-04", freq="D"))
    assert grid.iloc[0] == pytest.approx(0.01) and grid.iloc[1:3].isna().all()
    assert grid.iloc[3] == 0.02 and grid.name == "s"


def test_no_differences_listed_for_a_strategy_that_never_traded():
    lstm, bh = _gap_records()
    flat = StrategyRecord("LSTM", lstm.equity * 0 + 10_000)
    assert tearsheet_comparison(flat, bh, 365) == []
    assert tearsheet_differences(flat, bh, 365) == []


def test_weekly_bars_name_the_integer_annualisation():
    """quantstats annualises with an integer: 52 weekly bars a year where the page uses 365/7."""
    idx = pd.date_range("2020-01-05", periods=160, freq="7D", tz="UTC", name="timestamp")
    rng = np.random.default_rng(3)
    r = rng.normal(0.01, 0.05, len(idx))
    r[0] = 0.0
    a = StrategyRecord("LSTM", pd.Series(1_000 * np.cumprod(1 + r), index=idx))
    b = StrategyRecord("Buy & hold", pd.Series(1_000 * np.cumprod(1 + r[::-1]), index=idx))
    ppy = 365 / 7
    sharpe = {f.column: f for f in tearsheet_comparison(a, b, ppy) if f.figure == "Sharpe"}
    assert sharpe["LSTM"].tearsheet == pytest.approx(sharpe["LSTM"].page * np.sqrt(52 / ppy))
    sentences = tearsheet_differences(a, b, ppy)
    assert not sharpe["LSTM"].equal  # 1.17 against 1.18
    for figure in ("Sharpe", "Volatility (ann.)"):
        assert any(
            s.startswith(f"Tearsheet {figure} annualises with 52 bars a year") and "52.1429" in s
            for s in sentences
        )
