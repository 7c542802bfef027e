"""A loopback fake of Binance spot's public REST API, for tests that drive ccxt's real code.

:class:`FakeBinance` is a small threaded HTTP server on ``127.0.0.1`` (a random free port) that
answers the four endpoints ccxt's ``binance.fetch_ohlcv`` path needs:

* ``GET /api/v3/ping`` → ``{}``
* ``GET /api/v3/time`` → ``{"serverTime": <the fake's clock>}``
* ``GET /api/v3/exchangeInfo`` → a BTCUSDT and an ETHUSDT spot market
* ``GET /api/v3/klines`` → Binance's array-of-arrays, with prices and volumes as strings,
  honouring ``symbol``, ``interval``, ``startTime``, ``endTime`` (both inclusive, on the open
  time) and ``limit`` (default 500, at most 1000), with Binance's JSON error bodies otherwise.

The BTCUSDT daily series is the real ``../shared/data/btc_usdt_1d_binance.csv`` when present
(a generated series otherwise); ETHUSDT is generated. The fake has a clock (:attr:`now_ms`):
candles opening after it are not served and the one containing it is *still forming* (served
with partial values, as Binance does). By default the clock sits 10 h into a synthetic candle
appended after the source data, so the feed ends with a still-forming candle.

Faults are injected per endpoint with :meth:`FakeBinance.add_fault`: ``"429"`` and ``"418"``
(Binance's rate-limit JSON body), ``"500"``/``"502"``/``"503"``/``"504"``, ``"timeout"``
(sleeps longer than the client's timeout), ``"truncated"`` (fewer rows than asked, the rest on
the next request), ``"malformed"`` (a 200 with a cut JSON body), ``"reset"`` (the connection is
closed without an answer), ``"empty"`` (a 200 with no candles, ``[]``, as exchanges answer
under load or during maintenance); ``times=None`` makes a fault that never ends. Every request is
recorded in :attr:`FakeBinance.requests`.

:func:`make_exchange` builds a real ``ccxt.binance`` pointed at the fake, and
:func:`guard_loopback` makes any attempt to reach a host other than the loopback fail loudly.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd

DAY_MS = 86_400_000
_INTERVAL_MS = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
    "1M": 30 * DAY_MS,
}
FAULT_KINDS = (
    "429",
    "418",
    "500",
    "502",
    "503",
    "504",
    "timeout",
    "truncated",
    "malformed",
    "reset",
    "empty",
)
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _shared_btc_csv() -> Path:
    from tests.conftest import BTC_1D

    return Path(BTC_1D)


def load_source_candles(path: Path | None = None) -> pd.DataFrame:
    """The real daily BTC/USDT candles as a candle frame, or a generated series when absent."""
    path = _shared_btc_csv() if path is None else path
    if path.exists():
        df = pd.read_csv(path)
        df.index = pd.DatetimeIndex(pd.to_datetime(df.pop("timestamp"), utc=True), name="timestamp")
        return df.astype("float64")
    return generate_candles(2931, start="2017-08-17", seed=1, price=4000.0)


def generate_candles(
    n: int, *, start: str = "2020-01-01", freq: str = "1D", seed: int = 0, price: float = 100.0
) -> pd.DataFrame:
    """A valid generated candle frame (prices rounded to cents, volumes to 6 decimals)."""
    rng = np.random.default_rng(seed)
    close = np.round(price * np.exp(np.cumsum(rng.normal(0.0005, 0.02, n))), 2)
    open_ = np.concatenate([[price], close[:-1]])
    spread = np.abs(rng.normal(0, 0.01, n)) * close
    high = np.round(np.maximum(open_, close) + spread, 2)
    low = np.round(np.maximum(np.minimum(open_, close) - spread, 0.01), 2)
    volume = np.round(rng.lognormal(7, 0.5, n), 6)
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


def _market(symbol: str, base: str, quote: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01000000",
                "maxPrice": "1000000.00000000",
                "tickSize": "0.01000000",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00001000",
                "maxQty": "9000.00000000",
                "stepSize": "0.00001000",
            },
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True},
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def funding_events(start: pd.Timestamp, n: int, *, seed: int = 0) -> pd.DataFrame:
    """``n`` funding events every 8 h from ``start`` (floored to 8 h), each a few ms late as
    Binance stamps them, with rates around 0.01%."""
    rng = np.random.default_rng(seed)
    first = start.floor("8h")
    times = first + pd.to_timedelta(np.arange(n) * 8, unit="h")
    times = times + pd.to_timedelta(rng.integers(0, 9, n), unit="ms")
    rates = np.round(rng.normal(1e-4, 1e-4, n), 8)
    return pd.DataFrame({"funding_rate": rates}, index=pd.DatetimeIndex(times, name="timestamp"))


def _perpetual() -> dict[str, Any]:
    """The BTCUSDT USDⓈ-M perpetual as ``/fapi/v1/exchangeInfo`` lists it."""
    return {
        "symbol": "BTCUSDT", "pair": "BTCUSDT", "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": "TRADING",
        "baseAsset": "BTC", "quoteAsset": "USDT", "marginAsset": "USDT",
        "pricePrecision": 2, "quantityPrecision": 3, "baseAssetPrecision": 8,
        "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
        "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "556.80", "maxPrice": "4529764",
             "tickSize": "0.10"},
            {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
        ],
        "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC"],
    }  # fmt: skip


@dataclass
class Fault:
    """One injected fault: ``kind`` on ``path`` after ``after`` clean hits, ``times`` times."""

    kind: str
    path: str = "/api/v3/klines"
    after: int = 0
    times: int | None = 1  # None: never ends
    seen: int = 0
    fired: int = 0

    def take(self) -> bool:
        """Count one matching request; True when this fault fires on it."""
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        self.fired += 1
        return True


@dataclass
class Request:
    """A request the fake received."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None


class FakeBinance:
    """The fake exchange; use as a context manager or call :meth:`start` / :meth:`stop`.

    Parameters
    ----------
    series
        ``{(binance_symbol, interval): candle frame}``; defaults to BTCUSDT 1d (real data) and
        ETHUSDT 1d (generated).
    now_ms
        The fake's clock (epoch ms). Default: 10 h into the candle after the last source bar.
    forming
        Append a synthetic candle after each series so that the default clock falls inside it
        (the feed then ends with a still-forming candle).
    timeout_sleep
        How long a ``"timeout"`` fault sleeps before answering (seconds).
    """

    def __init__(
        self,
        series: dict[tuple[str, str], pd.DataFrame] | None = None,
        *,
        now_ms: int | None = None,
        forming: bool = True,
        timeout_sleep: float = 2.0,
    ) -> None:
        if series is None:
            series = {
                ("BTCUSDT", "1d"): load_source_candles(),
                ("ETHUSDT", "1d"): generate_candles(400, start="2024-01-01", seed=7, price=2000.0),
            }
        self.source = {key: frame.copy() for key, frame in series.items()}
        self._rows: dict[tuple[str, str], np.ndarray] = {}
        last_open = 0
        for (symbol, interval), frame in self.source.items():
            step = _INTERVAL_MS[interval]
            opens = frame.index.as_unit("ms").asi8.astype("int64")
            values = frame[["open", "high", "low", "close", "volume"]].to_numpy("float64")
            rows = np.column_stack([opens.astype("float64"), values])
            if forming:
                prev = values[-1]
                extra = [opens[-1] + step, prev[3], prev[3] * 1.02, prev[3] * 0.97, prev[3] * 1.01]
                rows = np.vstack([rows, [*extra, prev[4]]])
            self._rows[(symbol, interval)] = rows
            last_open = max(last_open, int(opens[-1]) + (step if forming else 0))
        self.now_ms = now_ms if now_ms is not None else last_open + DAY_MS * 10 // 24
        if not forming and now_ms is None:
            self.now_ms = last_open + DAY_MS  # exactly at the close of the last bar
        self.funding = funding_events(
            pd.Timestamp(self.now_ms - 120 * DAY_MS, unit="ms", tz="UTC"), 360, seed=3
        )
        self.timeout_sleep = timeout_sleep
        self.retry_after: int | None = 1  # seconds, sent with 418/429 as Binance does
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "FakeBinance is not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/api/v3``: the URL to put in ``exchange.urls['api']``."""
        return f"http://127.0.0.1:{self.port}/api/v3"

    def start(self) -> FakeBinance:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls ---------------------------------------------------------------------
    def add_fault(
        self, kind: str, *, path: str = "/api/v3/klines", after: int = 0, times: int | None = 1
    ) -> Fault:
        """Inject ``kind`` on requests to ``path``: skip ``after`` of them, then fire ``times``
        times (``None``: forever). Faults are checked in the order they were added."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        fault = Fault(kind, path=path, after=after, times=times)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def set_now(self, when: pd.Timestamp | str | int) -> None:
        """Move the fake's clock (a timestamp, a date string or epoch ms)."""
        if isinstance(when, int):
            self.now_ms = when
        else:
            stamp = pd.Timestamp(when)
            stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
            self.now_ms = int(stamp.value // 1_000_000)

    def funding_requests(self) -> list[Request]:
        """The recorded ``/fapi/v1/fundingRate`` requests (faulted ones included)."""
        with self._lock:
            return [r for r in self.requests if r.path == "/fapi/v1/fundingRate"]

    def _funding(self, params: dict[str, str]) -> tuple[int, Any]:
        if params.get("symbol", "BTCUSDT") != "BTCUSDT":
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        try:
            limit = int(params.get("limit", "100"))
            start = int(params["startTime"]) if "startTime" in params else None
            end = int(params["endTime"]) if "endTime" in params else None
        except ValueError:
            return 400, {"code": -1100, "msg": "Illegal characters found in a parameter."}
        if not 1 <= limit <= 1000:
            return 400, {"code": -1130, "msg": "Invalid data sent for a parameter."}
        times = self.funding.index.as_unit("ms").asi8
        mask = times <= self.now_ms
        if start is not None:
            mask &= times >= start
        if end is not None:
            mask &= times <= end
        picked = self.funding[mask]
        picked = picked.iloc[:limit] if start is not None else picked.iloc[-limit:]
        return 200, [
            {"symbol": "BTCUSDT", "fundingTime": int(t), "fundingRate": f"{r:.8f}",
             "markPrice": "50000.00000000"}
            for t, r in zip(picked.index.as_unit("ms").asi8, picked["funding_rate"], strict=True)
        ]  # fmt: skip

    def kline_requests(self) -> list[Request]:
        """The recorded ``/api/v3/klines`` requests (faulted ones included)."""
        with self._lock:
            return [r for r in self.requests if r.path == "/api/v3/klines"]

    def served_candles(self, symbol: str = "BTCUSDT", interval: str = "1d") -> pd.DataFrame:
        """The closed candles the fake serves at its current clock (the expected download)."""
        frame = self.source[(symbol, interval)]
        step = pd.Timedelta(milliseconds=_INTERVAL_MS[interval])
        now = pd.Timestamp(self.now_ms, unit="ms", tz="UTC")
        return frame[frame.index + step <= now]

    # -- request handling ------------------------------------------------------------------
    def _pick_fault(self, path: str) -> str | None:
        with self._lock:
            for fault in self.faults:
                if fault.path == path and fault.take():
                    return fault.kind
        return None

    def _klines(self, params: dict[str, str], truncated: bool) -> tuple[int, Any]:
        symbol = params.get("symbol")
        if not symbol:
            return 400, {
                "code": -1102,
                "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            }
        if symbol not in {s for s, _ in self._rows}:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        interval = params.get("interval", "")
        if interval not in _INTERVAL_MS:
            return 400, {"code": -1120, "msg": "Invalid interval."}
        try:
            limit = int(params.get("limit", "500"))
            start = int(params["startTime"]) if "startTime" in params else None
            end = int(params["endTime"]) if "endTime" in params else None
        except ValueError:
            return 400, {"code": -1100, "msg": "Illegal characters found in a parameter."}
        if not 1 <= limit <= 1000:
            return 400, {"code": -1130, "msg": "Invalid data sent for a parameter."}
        rows = self._rows.get((symbol, interval))
        if rows is None:
            return 200, []
        step = _INTERVAL_MS[interval]
        now = self.now_ms
        opens = rows[:, 0].astype("int64")
        mask = opens <= now
        if start is not None:
            mask &= opens >= start
        if end is not None:
            mask &= opens <= end
        picked = rows[mask]
        picked = picked[:limit] if start is not None else picked[-limit:]
        if truncated and len(picked) > 1:
            picked = picked[: max(1, len(picked) // 3)]
        return 200, [_kline(row, step, now) for row in picked]


def _fmt(value: float) -> str:
    return f"{value:.8f}"


def _kline(row: np.ndarray, step: int, now: int) -> list[Any]:
    open_ms = int(row[0])
    o, h, lo, c, v = (float(x) for x in row[1:6])
    if open_ms + step > now:  # still forming: partial values, as the exchange shows them
        frac = max(0.0, min(1.0, (now - open_ms) / step))
        c = round(o + (c - o) * frac, 2)
        h, lo, v = max(o, c), min(o, c), round(v * frac, 6)
    quote = v * (o + c) / 2
    return [
        open_ms,
        _fmt(o),
        _fmt(h),
        _fmt(lo),
        _fmt(c),
        _fmt(v),
        open_ms + step - 1,
        _fmt(quote),
        int(v * 10) + 1,
        _fmt(v / 2),
        _fmt(quote / 2),
        "0",
    ]


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeBinance
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass  # keep test output clean

    def _send(self, status: int, payload: Any, *, raw: bytes | None = None) -> None:
        body = raw if raw is not None else json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        if status in (418, 429) and self.server_fake.retry_after is not None:
            self.send_header("Retry-After", str(self.server_fake.retry_after))
        self.end_headers()
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout fault)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        fake = self.server_fake
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        fault = fake._pick_fault(url.path)
        with fake._lock:
            fake.requests.append(
                Request("GET", url.path, params, dict(self.headers.items()), fault)
            )
        if fault == "timeout":
            fake._stopping.wait(fake.timeout_sleep)
            self.close_connection = True
            return
        if fault == "reset":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault in ("429", "418"):
            msg = (
                "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. "
                "Please use the websocket for live updates to avoid polling the API."
            )
            self._send(int(fault), {"code": -1003, "msg": msg})
            return
        if fault in ("500", "502", "503", "504"):
            self._send(int(fault), None, raw=b"<html><body>Service Unavailable</body></html>")
            return
        if url.path == "/api/v3/ping":
            status, payload = 200, {}
        elif url.path == "/api/v3/time":
            status, payload = 200, {"serverTime": fake.now_ms}
        elif url.path == "/api/v3/exchangeInfo":
            status, payload = (
                200,
                {
                    "timezone": "UTC",
                    "serverTime": fake.now_ms,
                    "rateLimits": [
                        {
                            "rateLimitType": "REQUEST_WEIGHT",
                            "interval": "MINUTE",
                            "intervalNum": 1,
                            "limit": 6000,
                        }
                    ],
                    "exchangeFilters": [],
                    "symbols": [
                        _market("BTCUSDT", "BTC", "USDT"),
                        _market("ETHUSDT", "ETH", "USDT"),
                    ],
                },
            )
        elif url.path.endswith(("/margin/allPairs", "/margin/isolated/allPairs")):
            status, payload = 200, []  # signed margin lists (asked when credentials are set)
        elif url.path == "/fapi/v1/exchangeInfo":
            status, payload = 200, {
                "timezone": "UTC", "serverTime": fake.now_ms, "rateLimits": [],
                "exchangeFilters": [], "assets": [], "symbols": [_perpetual()],
            }  # fmt: skip
        elif url.path == "/fapi/v1/time":
            status, payload = 200, {"serverTime": fake.now_ms}
        elif url.path == "/fapi/v1/fundingRate":
            status, payload = fake._funding(params)
            if fault == "empty" and status == 200:
                payload = []
        elif url.path == "/api/v3/klines":
            status, payload = fake._klines(params, truncated=fault == "truncated")
            if fault == "empty" and status == 200:
                payload = []
        else:
            status, payload = 404, {"code": -1, "msg": f"fake binance has no {url.path}"}
        if fault == "malformed" and status == 200:
            text = json.dumps(payload)
            self._send(200, None, raw=text[: max(1, len(text) // 2)].encode())
            return
        self._send(status, payload)


def make_exchange(
    fake: FakeBinance, *, timeout_ms: int = 400, futures: bool = False, **config: Any
) -> Any:
    """A real ``ccxt.binance`` whose every API URL points at ``fake`` (spot markets only, or
    with ``futures=True`` the USDⓈ-M futures markets only: what funding rates need)."""
    import ccxt

    types = ["linear"] if futures else ["spot"]
    options = {"fetchMarkets": {"types": types}, "fetchCurrencies": False}
    options.update(config.pop("options", {}))
    exchange = ccxt.binance(
        {
            "enableRateLimit": True,
            "rateLimit": 1,
            "timeout": timeout_ms,
            "options": options,
            **config,
        }
    )
    api_urls = exchange.urls["api"]
    for name in list(api_urls):
        if name.startswith("fapi"):  # https://fapi.binance.com/fapi/v1 -> loopback /fapi/v1
            path = urlsplit(api_urls[name]).path
            api_urls[name] = f"http://127.0.0.1:{fake.port}{path}"
        else:
            api_urls[name] = fake.base_url
    return exchange


def guard_loopback(monkeypatch: Any, allowed: Iterable[str] = _LOOPBACK) -> None:
    """Make every socket connection or name lookup to a non-loopback host fail loudly."""
    allowed = set(allowed)
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def _check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if host not in allowed:
                raise AssertionError(f"test tried to open a socket to {address!r}: loopback only")

    def connect(self: socket.socket, address: Any) -> None:
        _check(self, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(self, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name not in allowed:
            raise AssertionError(f"test tried to resolve {name!r}: loopback only")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def wait_until(predicate: Any, timeout: float = 2.0) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())
