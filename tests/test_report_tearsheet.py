"""quantstats tearsheet written offline: a socket guard makes any hidden download fail."""

from __future__ import annotations

import re
import socket

import matplotlib
import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.backtests.report.tearsheet import (
    NAMESPACE_URIS,
    sanitize_quantstats_html,
    write_tearsheet,
)

_LOCAL = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
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
