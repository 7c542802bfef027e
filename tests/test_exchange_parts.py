"""The helpers fetch_ohlcv is built from, each on its own and offline: the safe exchange
builder's redaction and market checks (exchange_client) and the times (times)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pandas as pd
import pytest

from lstm_backtrader.backtests.data import exchange
from lstm_backtrader.backtests.data.exchange_client import (
    Redactor,
    build_exchange,
    check_market,
    page_limit,
    scrubbed_logs,
)
from lstm_backtrader.backtests.data.exchange_download import RETRYABLE_ERRORS
from lstm_backtrader.backtests.data.times import fmt_ms, ms_to_stamp, stamp_to_ms, to_ms
from lstm_backtrader.models.infra.errors import DataError

API_KEY = "aPiKeY-9876543210fedcba-never-store"
SECRET = "sEcReT-0123456789abcdef-never-store"
DAY_MS = 86_400_000


def test_exchange_module_keeps_its_public_names() -> None:
    assert exchange.build_exchange is build_exchange
    assert exchange.RETRYABLE_ERRORS is RETRYABLE_ERRORS
    assert set(exchange.__all__) == {"fetch_ohlcv", "build_exchange", "RETRYABLE_ERRORS"}


# -- exchange_client ------------------------------------------------------------------------


def test_redactor_blanks_options_and_exchange_credentials() -> None:
    ex = SimpleNamespace(apiKey=API_KEY, secret=None, uid="abc")  # 3 chars: too short to blank
    redact = Redactor(ex, {"secret": SECRET, "my_passphrase": "pass-phrase", "timeout": "1000"})
    assert redact
    text = f"key={API_KEY}\nsecret={SECRET}  pw=pass-phrase uid=abc timeout=1000"
    assert redact(text) == "key=*** secret=*** pw=*** uid=abc timeout=1000"
    assert redact.scrub(f"a\n{SECRET}") == "a\n***"  # scrub keeps the layout
    assert not Redactor(SimpleNamespace(), {"timeout": 1000})


def test_scrubbed_logs_cleans_ccxt_records_only_while_active(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ex = build_exchange("binance", {"apiKey": API_KEY, "secret": SECRET})
    caplog.set_level(logging.DEBUG, logger=ex.logger.name)
    with scrubbed_logs(ex, Redactor(ex, None)):
        ex.logger.debug("headers %s", {"X-MBX-APIKEY": API_KEY})
    assert API_KEY not in caplog.text and "'X-MBX-APIKEY': '***'" in caplog.text
    assert ex.logger.filters == []  # removed again afterwards


def test_page_limit() -> None:
    assert page_limit(build_exchange("binance"), None) == 1000  # published by ccxt
    assert page_limit(SimpleNamespace(features={}), None) == 500  # the fallback
    assert page_limit(SimpleNamespace(), 7) == 7
    with pytest.raises(DataError, match="at least 1 candle"):
        page_limit(SimpleNamespace(), 0)


def test_check_market() -> None:
    ex = SimpleNamespace(
        id="x",
        has={"fetchOHLCV": True},
        symbols=["BTC/USDT", "ETH/USDT", "DOGE/USDT"],
        timeframes={"1h": "1h", "1d": "1d"},
    )
    check_market(ex, "BTC/USDT", "1d", "x BTC/USDT 1d")
    with pytest.raises(
        DataError, match=r"^lbl: symbol 'BTC/USDX' is not listed on x \(3 markets\)"
    ):
        check_market(ex, "BTC/USDX", "1d", "lbl")
    with pytest.raises(DataError, match="timeframe '4h' is not offered by x; valid ones: 1h, 1d"):
        check_market(ex, "BTC/USDT", "4h", "lbl")
    with pytest.raises(DataError, match="does not offer candles"):
        check_market(SimpleNamespace(id="y", has={}), "BTC/USDT", "1d", "lbl")


# -- times ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2021-01-02",
        date(2021, 1, 2),
        datetime(2021, 1, 2),
        datetime(2021, 1, 2, tzinfo=UTC),
        pd.Timestamp("2021-01-02 01:00", tz="Europe/Paris"),
        1_609_545_600_000,
        1_609_545_600_000.0,
    ],
)
def test_to_ms_reads_every_time_form_as_utc(value: object) -> None:
    assert to_ms(value, name="since") == 1_609_545_600_000  # 2021-01-02 00:00 UTC


def test_to_ms_refuses_non_times() -> None:
    assert to_ms(None, name="since") is None
    with pytest.raises(DataError, match="since=True is not a time"):
        to_ms(True, name="since")
    with pytest.raises(DataError, match="until is empty"):
        to_ms(pd.NaT, name="until")
    with pytest.raises(DataError, match="until is 'soon', not a date: use a date like 2017-08-17"):
        to_ms("soon", name="until")


def test_ms_round_trip_and_format() -> None:
    stamp = pd.Timestamp("2021-01-02 03:04", tz="UTC").as_unit("s")
    assert ms_to_stamp(stamp_to_ms(stamp)) == stamp
    assert fmt_ms(stamp_to_ms(stamp)) == "2021-01-02 03:04"
    assert fmt_ms(18_628 * DAY_MS) == "2021-01-01"
