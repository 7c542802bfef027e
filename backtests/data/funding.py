"""Funding-rate history of a perpetual swap through ccxt, paged, retried and cached.

:func:`fetch_funding_rates` pages through ccxt's unified ``fetch_funding_rate_history``
(``since``/``limit``), retries network trouble, rate limits, malformed answers and empty pages
inside the range like the candle download (:mod:`~lstm_backtrader.backtests.data.
exchange_download`), validates the events (sorted, unique times, finite rates) and keeps them
in a parquet cache beside the candles' (``<root>/<exchange>/<SYMBOL>_funding.parquet``), so a
second call only asks for events newer than the cache. Credentials never reach the cache or a
message (:class:`~lstm_backtrader.backtests.data.exchange_client.Redactor`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import ccxt
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lstm_backtrader.backtests.data.cache import INDEX_UNIT, cache_root, safe_name
from lstm_backtrader.backtests.data.exchange_client import Redactor, build_exchange
from lstm_backtrader.backtests.data.exchange_download import GaveUpError, retry_call
from lstm_backtrader.backtests.data.times import TimeLike, fmt_ms, to_ms
from lstm_backtrader.models.infra.errors import DataError
from lstm_backtrader.models.infra.fileio import atomic_write

logger = logging.getLogger(__name__)

__all__ = [
    "fetch_funding_rates",
    "funding_cache_path",
    "funding_market_options",
    "validate_funding",
]

META_KEY = b"lstm_backtrader"
KIND = "funding"
#: No funding event for this long before the exchange's clock means the history is complete;
#: an empty page earlier than that is a fault (retried), never "the end".
QUIET_MS = 16 * 3_600_000
#: |rate| above this per event is a parsing or unit error, refused.
MAX_RATE = 1.0


def funding_cache_path(
    exchange_id: str, symbol: str, cache_dir: str | os.PathLike[str] | None
) -> Path:
    """Where the funding events of ``exchange_id`` / ``symbol`` are cached."""
    name = f"{safe_name(symbol)}_{KIND}.parquet"
    return cache_root(cache_dir) / safe_name(exchange_id.lower()) / name


def validate_funding(frame: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Refuse unsorted or duplicate event times and non-finite or absurd rates (one line)."""
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise DataError(f"{source}: funding events need UTC times")
    if index.has_duplicates:
        raise DataError(f"{source}: duplicate funding time {index[index.duplicated()][0]}")
    if not index.is_monotonic_increasing:
        raise DataError(f"{source}: funding times are not sorted")
    rates = frame["funding_rate"].to_numpy(dtype="float64")
    bad = ~np.isfinite(rates) | (np.abs(rates) > MAX_RATE)
    if bad.any():
        raise DataError(f"{source}: funding rate {rates[bad][0]!r} at {index[bad][0]} is invalid")
    return frame


def _frame(rows: list[tuple[int, float]]) -> pd.DataFrame:
    times = pd.to_datetime([r[0] for r in rows], unit="ms", utc=True)
    index = pd.DatetimeIndex(times).as_unit(INDEX_UNIT).rename("timestamp")
    return pd.DataFrame({"funding_rate": [r[1] for r in rows]}, index=index, dtype="float64")


def _read_cache(path: Path, exchange: str, symbol: str) -> tuple[pd.DataFrame, int] | None:
    if not path.exists():
        return None
    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {})[META_KEY])
        if (meta.get("kind"), meta.get("exchange"), meta.get("symbol")) != (KIND, exchange, symbol):
            raise ValueError(f"holds {meta.get('kind')} {meta.get('symbol')!r}")
        frame = table.to_pandas()
        if "timestamp" in frame.columns:
            frame = frame.set_index("timestamp")
        frame.index = pd.DatetimeIndex(frame.index).as_unit(INDEX_UNIT).rename("timestamp")
        return validate_funding(frame, source=str(path)), int(meta["covered_from_ms"])
    except Exception as exc:  # noqa: BLE001 - any unusable file means "download again"
        logger.warning("cache file %s is unusable (%s); downloading again", path, exc)
        path.unlink(missing_ok=True)
        return None


def _write_cache(path: Path, frame: pd.DataFrame, exchange: str, symbol: str, covered: int) -> None:
    data = frame.copy()
    data.index = data.index.as_unit("ms")
    table = pa.Table.from_pandas(data, preserve_index=True)
    meta = {"kind": KIND, "exchange": exchange, "symbol": symbol, "covered_from_ms": covered}
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def funding_market_options(
    exchange: str | ccxt.Exchange, symbol: str, options: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """For Binance by id: load only the futures markets the symbol lives on (``linear`` for
    USDⓈ-M ``BTC/USDT:USDT``, ``inverse`` for COIN-M ``BTC/USD:BTC``), not every market type."""
    if not isinstance(exchange, str) or exchange.strip().lower() != "binance":
        return options
    config = dict(options or {})
    market_options = dict(config.get("options") or {})
    if "fetchMarkets" not in market_options:
        base, settle = symbol.partition("/")[0], symbol.rpartition(":")[2]
        kind = "inverse" if ":" in symbol and settle == base else "linear"
        market_options["fetchMarkets"] = {"types": [kind]}
    config["options"] = market_options
    return config


def fetch_funding_rates(
    exchange: str | ccxt.Exchange = "binance",
    symbol: str = "BTC/USDT:USDT",
    since: TimeLike = None,
    until: TimeLike = None,
    cache_dir: str | os.PathLike[str] | None = None,
    exchange_options: Mapping[str, Any] | None = None,
    *,
    max_retries: int = 5,
    retry_backoff: float = 1.0,
    limit: int = 1000,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """Funding events of the perpetual ``symbol``: a frame with a float64 ``funding_rate``
    column indexed by the event time (UTC), ``since`` inclusive, ``until`` exclusive.

    Raises
    ------
    DataError
        Unknown exchange or symbol, a download that kept failing (what was fetched is cached
        first), invalid events, or no events in the range.
    """
    since_ms = to_ms(since, name="since") or 0
    until_ms = to_ms(until, name="until")
    ex = build_exchange(exchange, funding_market_options(exchange, symbol, exchange_options))
    redact = Redactor(ex, exchange_options)
    label = f"{ex.id} {symbol} funding"
    if not ex.has.get("fetchFundingRateHistory"):
        raise DataError(f"{label}: {ex.id} has no funding-rate history through ccxt")
    path = funding_cache_path(ex.id, symbol, cache_dir)
    cached = _read_cache(path, ex.id, symbol)
    rows: list[tuple[int, float]] = []
    covered = since_ms
    if cached is not None and since_ms >= cached[1] and len(cached[0]):
        covered = cached[1]
        rows = [(int(t.value // 1_000_000), float(r)) for t, r in cached[0]["funding_rate"].items()]

    def attempt(what: str, call: Callable[[], Any]) -> Any:
        try:
            return retry_call(
                ex,
                call,
                what=what,
                label=label,
                redact=redact,
                max_retries=max_retries,
                retry_backoff=retry_backoff,
                sleep=sleep,
            )
        except GaveUpError as exc:
            if exc.retryable:
                raise DataError(
                    f"{label}: gave up after {exc.tries} tries {what}: {redact(exc.error)}"
                ) from None
            raise DataError(f"{label}: the exchange refused {what}: {redact(exc.error)}") from None

    try:
        attempt("loading the markets", ex.load_markets)
        if symbol not in (ex.symbols or []):
            raise DataError(f"{label}: symbol {symbol!r} is not listed (use BASE/QUOTE:SETTLE)")
        now_ms = (
            int(attempt("reading the clock", ex.fetch_time))
            if ex.has.get("fetchTime")
            else int(ex.milliseconds())
        )
        cursor = rows[-1][0] + 1 if rows else since_ms
        while until_ms is None or cursor < until_ms:
            frm = cursor

            def call(frm: int = frm) -> list[tuple[int, float]]:
                raw = ex.fetch_funding_rate_history(symbol, since=frm, limit=limit)
                if ex.enableLastJsonResponse and ex.last_json_response is None:
                    raise ccxt.BadResponse("the answer was not valid JSON (cut or malformed)")
                if not isinstance(raw, list) or any(
                    not isinstance(e, dict) or e.get("timestamp") is None
                    or e.get("fundingRate") is None for e in raw
                ):  # fmt: skip
                    raise ccxt.BadResponse("malformed funding-rate page")
                page = sorted((int(e["timestamp"]), float(e["fundingRate"])) for e in raw)
                if not page and frm + QUIET_MS <= now_ms:
                    raise ccxt.BadResponse(f"empty page at {fmt_ms(frm)} inside the range")
                return [p for p in page if p[0] >= frm]

            page = attempt(f"at {fmt_ms(frm)}", call)
            if not page:
                break
            rows.extend(page)
            cursor = page[-1][0] + 1
    finally:
        if rows:
            try:
                frame = validate_funding(_frame(rows), source=label)
                _write_cache(path, frame, ex.id, symbol, covered)
            except (DataError, OSError) as exc:
                logger.warning("%s: not cached (%s)", label, exc)
    frame = validate_funding(_frame(rows), source=label) if rows else _frame([])
    frame = frame[frame.index >= pd.Timestamp(since_ms, unit="ms", tz="UTC")]
    if until_ms is not None:
        frame = frame[frame.index < pd.Timestamp(until_ms, unit="ms", tz="UTC")]
    if frame.empty:
        raise DataError(f"{label}: no funding events in the range")
    return frame
