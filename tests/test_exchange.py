"""fetch_ohlcv through ccxt's real binance request and parsing code, against the loopback fake."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import ccxt
import pandas as pd
import pytest

from lstm_backtrader.backtests.data.cache import cache_path, read_cache
from lstm_backtrader.backtests.data.exchange import build_exchange, fetch_ohlcv
from lstm_backtrader.models.infra.errors import DataError
from tests.conftest import BTC_1D
from tests.fake_binance import FakeBinance, make_exchange

SECRET = "sEcReT-0123456789abcdef-never-store"
API_KEY = "aPiKeY-9876543210fedcba-never-store"
LIMIT = 500


@pytest.fixture
def sleeps() -> list[float]:
    """The retry sleeps fetch_ohlcv asked for (none really happen)."""
    return []


@pytest.fixture
def fetch(ex: ccxt.binance, tmp_path: Path, sleeps: list[float]) -> Callable[..., pd.DataFrame]:
    """fetch_ohlcv of BTC/USDT 1d against the fake: instant recorded sleep, temp cache."""

    def run(**kwargs: object) -> pd.DataFrame:
        kwargs.setdefault("cache_dir", tmp_path)
        kwargs.setdefault("retry_backoff", 0.5)
        kwargs.setdefault("sleep", sleeps.append)
        kwargs.setdefault("limit", LIMIT)
        return fetch_ohlcv(kwargs.pop("exchange", ex), "BTC/USDT", "1d", **kwargs)

    return run


def _ms(stamp: pd.Timestamp) -> int:
    return int(pd.Timestamp(stamp).as_unit("ns").value // 1_000_000)


def _starts(fake: FakeBinance) -> list[int]:
    return [int(r.params["startTime"]) for r in fake.kline_requests()]


def _cached(tmp_path: Path) -> pd.DataFrame:
    entry = read_cache(
        cache_path("binance", "BTC/USDT", "1d", tmp_path),
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1d",
    )
    assert entry is not None, "no usable cache file"
    return entry.frame


def _assert_complete(frame: pd.DataFrame, fake: FakeBinance) -> None:
    """Every closed candle the fake serves, exactly once, with the served values."""
    expected = fake.served_candles()
    assert frame.index.is_unique and frame.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(frame, expected, check_freq=False)


# -- the guard itself -----------------------------------------------------------------------


def test_guard_blocks_other_hosts() -> None:
    with socket.socket() as sock, pytest.raises(AssertionError, match="loopback only"):
        sock.connect(("10.255.255.1", 443))
    with pytest.raises(AssertionError, match="loopback only"):
        socket.getaddrinfo("api.binance.com", 443)


# -- pagination -----------------------------------------------------------------------------


def test_full_pagination_every_candle_once(fake: FakeBinance, fetch, tmp_path: Path) -> None:
    seen: list[tuple[int, pd.Timestamp]] = []
    frame = fetch(progress=lambda n, ts: seen.append((n, ts)))
    expected = fake.served_candles()
    assert len(expected) == len(fake.source[("BTCUSDT", "1d")])  # every source bar is closed
    _assert_complete(frame, fake)

    pages = -(-len(expected) // LIMIT)
    requests = fake.kline_requests()
    assert len(requests) == pages
    assert {r.params["limit"] for r in requests} == {str(LIMIT)}
    assert {(r.params["symbol"], r.params["interval"]) for r in requests} == {("BTCUSDT", "1d")}
    assert _starts(fake) == [0] + [_ms(expected.index[LIMIT * i]) for i in range(1, pages)]
    assert [n for n, _ in seen] == [min(LIMIT * (i + 1), len(expected)) for i in range(pages)]
    assert seen[-1][1] == expected.index[-1]
    pd.testing.assert_frame_equal(_cached(tmp_path), expected, check_freq=False)


def test_default_page_size_is_the_exchange_maximum(fake: FakeBinance, fetch) -> None:
    frame = fetch(limit=None)
    _assert_complete(frame, fake)
    assert {r.params["limit"] for r in fake.kline_requests()} == {"1000"}
    assert len(fake.kline_requests()) == -(-len(frame) // 1000)


def test_since_until_forms_and_until_exclusive(fake: FakeBinance, fetch) -> None:
    src = fake.served_candles()
    want = src.loc["2020-01-01":"2020-01-31"]
    for since, until in [
        ("2020-01-01", "2020-02-01"),
        (pd.Timestamp("2020-01-01", tz="UTC"), datetime(2020, 2, 1, tzinfo=UTC)),
        (_ms(pd.Timestamp("2020-01-01", tz="UTC")), _ms(pd.Timestamp("2020-02-01", tz="UTC"))),
    ]:
        frame = fetch(since=since, until=until)
        pd.testing.assert_frame_equal(frame, want, check_freq=False)
    # The first call downloaded from 2020-01-01; the others were served by the cache alone.
    assert _starts(fake)[0] == _ms(pd.Timestamp("2020-01-01", tz="UTC"))
    assert len(fake.kline_requests()) == 1


def test_incremental_update_only_requests_newer(fake: FakeBinance, fetch) -> None:
    fake.set_now("2024-01-01 05:00")  # 2024-01-01 is forming: served with partial values
    first = fetch()
    assert first.index[-1] == pd.Timestamp("2023-12-31", tz="UTC")
    _assert_complete(first, fake)
    before = len(fake.kline_requests())

    fake.set_now(fake.now_ms + 600 * 86_400_000)  # 600 days later
    second = fetch()
    _assert_complete(second, fake)
    new = _starts(fake)[before:]
    assert new[0] == _ms(first.index[-1])  # resumes at the last cached bar, nothing older
    assert all(start >= _ms(first.index[-1]) for start in new)
    assert len(new) == -(-(len(second) - len(first) + 1) // LIMIT)
    pd.testing.assert_frame_equal(second.loc[: first.index[-1]], first, check_freq=False)


def test_up_to_date_cache_asks_for_no_candles(fake: FakeBinance, fetch) -> None:
    first = fetch()
    before = len(fake.kline_requests())
    second = fetch()
    pd.testing.assert_frame_equal(first, second)
    assert len(fake.kline_requests()) == before  # only the clock was read


def test_still_forming_candle_dropped(fake: FakeBinance, fetch) -> None:
    frame = fetch()
    forming_open = pd.Timestamp(fake.now_ms, unit="ms", tz="UTC").floor("1D")
    assert frame.index[-1] == forming_open - pd.Timedelta("1D")
    # the fake did serve the forming bar; fetch_ohlcv dropped it
    ex = make_exchange(fake)
    rows = ex.fetch_ohlcv("BTC/USDT", "1d", since=_ms(forming_open), limit=5)
    assert [r[0] for r in rows] == [_ms(forming_open)]


# -- faults ---------------------------------------------------------------------------------

RETRIED = ["429", "418", "500", "502", "503", "504", "timeout", "malformed", "reset"]


@pytest.mark.parametrize("kind", RETRIED)
def test_fault_recovered_without_loss(
    fake: FakeBinance, fetch, sleeps: list[float], kind: str
) -> None:
    fake.add_fault(kind, after=2, times=2)  # mid-history, twice in a row
    frame = fetch()
    _assert_complete(frame, fake)
    # exponential backoff from 0.5 s; rate-limit answers' Retry-After (1 s) wins when longer
    assert sleeps == ([1.0, 1.0] if kind in ("429", "418") else [0.5, 1.0])
    faulted = [r for r in fake.kline_requests() if r.fault]
    assert len(faulted) == 2
    assert _starts(fake)[2] == _starts(fake)[3] == _starts(fake)[4]  # the same page, retried


def test_truncated_page_continues_where_it_stopped(
    fake: FakeBinance, fetch, sleeps: list[float]
) -> None:
    fake.add_fault("truncated", after=1, times=1)
    frame = fetch()
    _assert_complete(frame, fake)
    assert sleeps == []  # a short page is not an error
    starts = _starts(fake)
    short = LIMIT // 3
    assert starts[2] == _ms(frame.index[LIMIT + short])  # next request picks up the rest
    assert len(starts) == -(-(len(frame) - short) // LIMIT) + 1


@pytest.mark.parametrize("path", ["/api/v3/exchangeInfo", "/api/v3/time"])
def test_fault_outside_klines_recovered(
    fake: FakeBinance, fetch, sleeps: list[float], path: str
) -> None:
    fake.add_fault("503", path=path, times=2)
    _assert_complete(fetch(), fake)
    assert sleeps == [0.5, 1.0]


def test_back_fill_to_an_earlier_start(fake: FakeBinance, fetch) -> None:
    recent = fetch(since="2024-01-01")
    assert recent.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    before = len(fake.kline_requests())
    full = fetch()  # since=None: the whole history, which the cache does not cover yet
    _assert_complete(full, fake)
    assert _starts(fake)[before] == 0
    before = len(fake.kline_requests())
    pd.testing.assert_frame_equal(fetch(since="2019-01-01"), full.loc["2019-01-01":])
    assert len(fake.kline_requests()) == before  # covered by the cache now


def test_never_ending_fault_names_progress_and_keeps_pages(
    fake: FakeBinance, fetch, sleeps: list[float], tmp_path: Path
) -> None:
    fake.add_fault("503", after=3, times=None)
    with pytest.raises(DataError) as info:
        fetch(max_retries=4)
    message = str(info.value)
    expected = fake.served_candles()
    stuck_at = expected.index[3 * LIMIT].strftime("%Y-%m-%d")
    assert "\n" not in message
    assert message.startswith(f"binance BTC/USDT 1d: gave up after 4 tries at {stuck_at} (")
    assert f"{3 * LIMIT:,} candles fetched and cached so far" in message
    assert "ExchangeNotAvailable" in message and "503" in message
    assert sleeps == [0.5, 1.0, 2.0]
    # the partial download is in the cache, equal to the source
    pd.testing.assert_frame_equal(_cached(tmp_path), expected.iloc[: 3 * LIMIT], check_freq=False)
    # once the exchange is back, a rerun resumes where it stopped
    fake.clear_faults()
    before = len(fake.kline_requests())
    _assert_complete(fetch(), fake)
    assert _starts(fake)[before] == _ms(expected.index[3 * LIMIT - 1])


def test_never_ending_timeout_gives_up(fake: FakeBinance, fetch, sleeps: list[float]) -> None:
    fake.add_fault("timeout", times=None)
    with pytest.raises(DataError, match=r"gave up after 2 tries at 1970-01-01 \(nothing fetched\)"):
        fetch(max_retries=2)
    assert sleeps == [0.5]


def test_backoff_is_capped(fake: FakeBinance, fetch, sleeps: list[float]) -> None:
    fake.add_fault("429", times=None)
    with pytest.raises(DataError, match="DDoSProtection"):
        fetch(max_retries=9, retry_backoff=1.0)
    assert sleeps == [1, 2, 4, 8, 16, 32, 60, 60]


def test_retry_after_is_honoured_and_capped(fake: FakeBinance, fetch, sleeps: list[float]) -> None:
    fake.retry_after = 7
    fake.add_fault("418", times=1)
    _assert_complete(fetch(retry_backoff=0.25), fake)
    assert sleeps == [7.0]
    fake.retry_after = 86_400  # a day-long ban is not waited out blindly
    fake.add_fault("429", times=1)
    fake.set_now(fake.now_ms + 86_400_000)
    fetch(retry_backoff=0.25)
    assert sleeps == [7.0, 300.0]


# -- bad requests ---------------------------------------------------------------------------


def test_unknown_symbol_lists_valid_ones(fake: FakeBinance, ex, tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        fetch_ohlcv(ex, "BTC/USDX", "1d", cache_dir=tmp_path)
    message = str(info.value)
    assert "'BTC/USDX' is not listed on binance" in message
    assert "BTC/USDT" in message and "ETH/USDT" in message
    assert fake.kline_requests() == []
    assert not list(tmp_path.rglob("*.parquet"))


def test_unknown_timeframe_lists_valid_ones(fake: FakeBinance, ex, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"timeframe '7m' is not offered by binance.*1m, 3m, 5m"):
        fetch_ohlcv(ex, "BTC/USDT", "7m", cache_dir=tmp_path)
    with pytest.raises(DataError, match="timeframe 'daily' is not understood"):
        fetch_ohlcv(ex, "BTC/USDT", "daily", cache_dir=tmp_path)
    assert fake.kline_requests() == []


def test_unknown_exchange_suggests_close_ids(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"'binanse' is not known to ccxt; did you mean: binance"):
        fetch_ohlcv("binanse", cache_dir=tmp_path)


def test_bad_arguments(ex, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="until .* must be after since"):
        fetch_ohlcv(ex, since="2021-01-02", until="2021-01-01", cache_dir=tmp_path)
    with pytest.raises(
        DataError, match="since is 'yesterday-ish', not a date: use a date like 2017-08-17"
    ):
        fetch_ohlcv(ex, since="yesterday-ish", cache_dir=tmp_path)
    with pytest.raises(DataError, match="exchange_options only apply"):
        fetch_ohlcv(ex, exchange_options={"timeout": 1}, cache_dir=tmp_path)


def test_no_candles_in_range(fake: FakeBinance, fetch) -> None:
    with pytest.raises(DataError, match="no closed candles from 2030-01-01"):
        fetch(since="2030-01-01")


def test_changed_history_is_refused(fake: FakeBinance, fetch, tmp_path: Path) -> None:
    fake.set_now("2024-01-01 05:00")
    fetch()
    # the exchange now reports a different value for a bar already cached (the last one)
    fake._rows[("BTCUSDT", "1d")][
        fake.source[("BTCUSDT", "1d")].index.get_loc("2023-12-31"), 4
    ] *= 1.01
    fake.set_now("2024-02-01 05:00")
    with pytest.raises(DataError, match=r"different values, first at 2023-12-31.*delete .*parquet"):
        fetch()


# -- secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize("signed", [False, True], ids=["public-only", "signed-margin-calls"])
def test_api_key_never_written_anywhere(
    signed: bool,
    fake: FakeBinance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Credentials go to ccxt only: not the cache files or names, logs or error messages."""
    real_binance = ccxt.binance

    def pointed_at_fake(config: dict) -> ccxt.binance:
        exchange = real_binance({**config, "rateLimit": 1, "timeout": 400})
        for name in list(exchange.urls["api"]):
            exchange.urls["api"][name] = fake.base_url
        exchange.options["fetchMarkets"] = {"types": ["spot"]}
        return exchange

    monkeypatch.setattr(ccxt, "binance", pointed_at_fake)
    caplog.set_level(logging.DEBUG)
    options: dict = {"apiKey": API_KEY, "secret": SECRET, "password": SECRET + "-pw"}
    if signed:  # ccxt then makes signed requests and logs their headers (the key) at DEBUG
        options["options"] = {"fetchMargins": True}
    cache = tmp_path / "cache"

    fake.add_fault("429", after=1, times=1)
    fake.set_now("2024-01-01 05:00")
    fetch_ohlcv("binance", exchange_options=options, cache_dir=cache, sleep=lambda s: None)
    fake.add_fault("503", after=0, times=None)
    fake.set_now("2025-01-01 05:00")
    with pytest.raises(DataError) as info:
        fetch_ohlcv(
            "binance",
            exchange_options=options,
            cache_dir=cache,
            sleep=lambda s: None,
            max_retries=2,
        )

    files = [p for p in cache.rglob("*") if p.is_file()]
    assert files, "nothing was cached"
    for secret in (API_KEY, SECRET):
        for path in files:
            assert secret.encode() not in path.read_bytes(), path
            assert secret not in str(path)
        assert secret not in str(info.value)
        assert secret not in caplog.text
        out, err = capsys.readouterr()
        assert secret not in out + err
    assert caplog.records, "expected log records to check"
    carried_key = [r for r in fake.requests if r.headers.get("X-MBX-APIKEY") == API_KEY]
    if signed:  # the key did travel (to the fake), so the scrubbing was exercised
        assert carried_key and all("margin" in r.path for r in carried_key)
    else:  # by default only public requests are made
        assert carried_key == []


# -- interruption, unwritable cache, the builder, the fake itself ---------------------------


def test_interrupt_mid_download_keeps_fetched_pages(fake: FakeBinance, fetch, tmp_path) -> None:
    def stop_after_two_pages(n: int, ts: pd.Timestamp) -> None:
        if n >= 2 * LIMIT:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch(progress=stop_after_two_pages)
    expected = fake.served_candles().iloc[: 2 * LIMIT]
    pd.testing.assert_frame_equal(_cached(tmp_path), expected, check_freq=False)


def test_unwritable_cache_dir_is_a_clear_error(fake: FakeBinance, fetch, tmp_path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(DataError, match="cannot write the cache file .* LSTM_BT_CACHE_DIR"):
        fetch(cache_dir=blocker)


def test_build_exchange_from_id_without_network() -> None:
    ex = build_exchange("Binance", {"apiKey": API_KEY, "secret": SECRET, "timeout": 1234})
    assert isinstance(ex, ccxt.binance)
    assert ex.enableRateLimit and ex.enableLastJsonResponse
    assert ex.apiKey == API_KEY and ex.timeout == 1234
    assert ex.options["fetchCurrencies"] is False and ex.options["fetchMargins"] is False
    kept = build_exchange("binance", {"options": {"fetchMargins": True}})
    assert kept.options["fetchMargins"] is True


def test_fake_speaks_binance(fake: FakeBinance) -> None:
    ex = make_exchange(fake)
    assert ex.publicGetPing() == {}
    assert ex.fetch_time() == fake.now_ms
    ex.load_markets()
    assert {"BTC/USDT", "ETH/USDT"} <= set(ex.symbols)
    with pytest.raises(ccxt.BadSymbol):
        ex.publicGetKlines({"symbol": "NOPEUSDT", "interval": "1d"})
    with pytest.raises(ccxt.BadRequest):
        ex.publicGetKlines({"symbol": "BTCUSDT", "interval": "1d", "limit": 1001})
    rows = ex.publicGetKlines(
        {"symbol": "BTCUSDT", "interval": "1d", "startTime": 0, "endTime": 1503014400000}
    )
    assert len(rows) == 2 and len(rows[0]) == 12
    assert isinstance(rows[0][0], int) and all(isinstance(v, str) for v in rows[0][1:6])
    if BTC_1D.exists():  # the real first bar, in Binance's 8-decimal strings
        first = ["4261.48000000", "4485.39000000", "4200.74000000", "4285.08000000"]
        assert rows[0][:6] == [1502928000000, *first, "795.15037700"]
    latest = ex.publicGetKlines({"symbol": "BTCUSDT", "interval": "1d", "limit": 2})
    assert latest[-1][0] + 86_400_000 > fake.now_ms  # ends with the still-forming candle


# -- empty pages inside the range (issue: one empty page used to end the download early) ----


@pytest.mark.parametrize("after_pages", [2, 5])
def test_transient_empty_page_is_retried_without_loss(
    fake: FakeBinance, fetch, sleeps: list[float], after_pages: int, caplog
) -> None:
    fake.add_fault("empty", after=after_pages, times=2)
    with caplog.at_level("WARNING"):
        frame = fetch()
    _assert_complete(frame, fake)  # every candle, once: nothing lost after the empty pages
    assert sleeps == [0.5, 1.0]
    starts = _starts(fake)
    assert starts[after_pages] == starts[after_pages + 1] == starts[after_pages + 2]
    assert "empty page at" in caplog.text and "inside the range" in caplog.text


@pytest.mark.parametrize("after_pages", [2, 5])
def test_permanent_empty_page_gives_up_naming_date_and_kept_candles(
    fake: FakeBinance, fetch, sleeps: list[float], tmp_path: Path, after_pages: int
) -> None:
    fake.add_fault("empty", after=after_pages, times=None)
    with pytest.raises(DataError) as info:
        fetch(max_retries=3)
    message = str(info.value)
    expected = fake.served_candles()
    stuck_at = expected.index[after_pages * LIMIT].strftime("%Y-%m-%d")
    assert "\n" not in message
    assert message.startswith(f"binance BTC/USDT 1d: gave up after 3 tries at {stuck_at} (")
    assert f"{after_pages * LIMIT:,} candles fetched and cached so far" in message
    assert "returned no candles" in message
    assert sleeps == [0.5, 1.0]
    kept = _cached(tmp_path)
    pd.testing.assert_frame_equal(kept, expected.iloc[: after_pages * LIMIT], check_freq=False)
    fake.clear_faults()  # the exchange recovers: a rerun completes the history
    _assert_complete(fetch(), fake)


def test_empty_page_past_until_is_the_end(fake: FakeBinance, fetch, sleeps: list[float]) -> None:
    expected = fake.served_candles()
    until = expected.index[2 * LIMIT + 10]
    frame = fetch(since=expected.index[0], until=until)
    pd.testing.assert_frame_equal(frame, expected[expected.index < until], check_freq=False)
    assert sleeps == []
