"""Download candles from an exchange through ccxt, with retries and an on-disk cache.

:func:`fetch_ohlcv` is the one entry point::

    frame = fetch_ohlcv("binance", "BTC/USDT", "1d", since="2019-01-01")

It pages through the exchange's history with ``since``/``limit`` (ccxt's unified
``fetch_ohlcv``), lets ccxt throttle requests to the exchange's rate limit
(``enableRateLimit``), retries network trouble and rate-limit answers with exponential backoff,
drops the still-forming last candle, and keeps everything in the parquet cache of
:mod:`lstm_backtrader.backtests.data.cache`, so that a second call only downloads candles newer
than the cache. When it gives up, what it already fetched is written to the cache first and the
:class:`~lstm_backtrader.models.infra.errors.DataError` says how far it got; running again resumes
from there.

Credentials (``apiKey``, ``secret``, ...) in ``exchange_options`` are passed to ccxt only: they
are never written to the cache and are blanked out of every log line and error message.
"""

from __future__ import annotations

import difflib
import logging
import numbers
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import ccxt
import pandas as pd

from lstm_backtrader.backtests.data.cache import (
    ENV_VAR,
    INDEX_UNIT,
    cache_path,
    merge_candles,
    read_cache,
    write_cache,
)
from lstm_backtrader.backtests.data.validate import OHLCV_COLUMNS, timeframe_delta
from lstm_backtrader.models.infra.errors import DataError

logger = logging.getLogger(__name__)

__all__ = ["fetch_ohlcv", "build_exchange", "RETRYABLE_ERRORS"]

#: ccxt errors worth trying again: NetworkError covers RequestTimeout, ExchangeNotAvailable,
#: RateLimitExceeded and DDoSProtection (HTTP 418/429); BadResponse an unparseable answer.
RETRYABLE_ERRORS: tuple[type[BaseException], ...] = (ccxt.NetworkError, ccxt.BadResponse)

ProgressFn = Callable[[int, pd.Timestamp], None]
TimeLike = str | date | datetime | pd.Timestamp | int | float | None

_MAX_BACKOFF = 60.0  # seconds, cap of one exponential-backoff sleep
_MAX_RETRY_AFTER = 300.0  # seconds, cap of an exchange's Retry-After
_DEFAULT_PAGE = 500  # page size when the exchange does not publish its maximum
_SECRET_KEYS = ("apikey", "secret", "password", "uid", "privatekey", "token", "passphrase")
_SHOW = 8  # how many valid symbols/timeframes an error lists


class _GaveUpError(Exception):
    """Internal: a request failed ``tries`` times, or once with an error not worth retrying."""

    def __init__(self, tries: int, error: BaseException, what: str, retryable: bool) -> None:
        super().__init__(str(error))
        self.tries = tries
        self.error = error
        self.what = what
        self.retryable = retryable


class _Redactor:
    """Blanks credential values out of text that may reach a log or an error message."""

    def __init__(self, exchange: Any, options: Mapping[str, Any] | None) -> None:
        values: set[str] = set()
        for key, value in (options or {}).items():
            if any(s in key.lower() for s in _SECRET_KEYS) and isinstance(value, str):
                values.add(value)
        for attr in ("apiKey", "secret", "password", "uid", "privateKey", "token"):
            value = getattr(exchange, attr, None)
            if isinstance(value, str):
                values.add(value)
        self._values = sorted((v for v in values if len(v) >= 4), key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._values)

    def scrub(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, "***")
        return text

    def __call__(self, text: object) -> str:
        """``text`` on one line, credentials blanked out."""
        return self.scrub(" ".join(str(text).split()))


class _RedactingFilter(logging.Filter):
    """Blanks credentials out of ccxt's own log records (its DEBUG lines show request headers,
    which carry the API key on signed requests)."""

    def __init__(self, redact: _Redactor) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self._redact.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def _to_ms(value: TimeLike, *, name: str) -> int | None:
    """Epoch milliseconds (UTC) of a date string, datetime, Timestamp or epoch-ms number."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise DataError(f"{name}={value!r} is not a time: use a date like 2021-01-31 or epoch ms")
    if isinstance(value, numbers.Real) and not isinstance(value, pd.Timestamp):
        return int(value)
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise DataError(
            f"{name}={value!r} is not a time: use a date like 2021-01-31, a timestamp or epoch ms"
        ) from None
    if stamp is pd.NaT:
        raise DataError(f"{name} is empty (NaT): use a date like 2021-01-31")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return _ms(stamp)


@contextmanager
def _scrubbed_logs(ex: ccxt.Exchange, redact: _Redactor) -> Iterator[None]:
    """While downloading, keep credentials out of ccxt's own log records."""
    ccxt_logger = getattr(ex, "logger", None)
    if not redact or not isinstance(ccxt_logger, logging.Logger):
        yield
        return
    guard = _RedactingFilter(redact)
    ccxt_logger.addFilter(guard)
    try:
        yield
    finally:
        ccxt_logger.removeFilter(guard)


def _retry_after(ex: ccxt.Exchange) -> float:
    """Seconds the last answer's ``Retry-After`` header asks to wait (0 when absent), capped.

    Binance sends it with 429/418; ignoring it escalates a rate limit into an IP ban.
    """
    headers = getattr(ex, "last_response_headers", None) or {}
    try:
        value = headers.get("Retry-After") or headers.get("retry-after")
        return min(_MAX_RETRY_AFTER, max(0.0, float(value))) if value is not None else 0.0
    except (AttributeError, TypeError, ValueError):
        return 0.0


def _ms(stamp: pd.Timestamp) -> int:
    """Epoch milliseconds of a timestamp (whatever its unit: ``.value`` is always in ns)."""
    return int(pd.Timestamp(stamp).as_unit("ns").value // 1_000_000)


def _stamp(ms: int) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms", tz="UTC")


def _fmt(ms: int) -> str:
    stamp = _stamp(ms)
    if stamp.hour == stamp.minute == stamp.second == 0:
        return stamp.strftime("%Y-%m-%d")
    return stamp.strftime("%Y-%m-%d %H:%M")


def build_exchange(
    exchange: str | ccxt.Exchange, exchange_options: Mapping[str, Any] | None = None
) -> ccxt.Exchange:
    """A ccxt exchange object from an id (``'binance'``) or the object itself.

    ``enableRateLimit`` (ccxt's throttle) and ``enableLastJsonResponse`` (to tell a malformed
    answer from an empty page) are always switched on. ``exchange_options`` (ccxt's constructor
    config, credentials included) only applies when building from an id; then currency and
    margin metadata are not fetched (``options.fetchCurrencies/fetchMargins = False``, unless
    given): candles need neither, and with credentials set they are signed requests whose
    headers carry the API key.
    """
    if isinstance(exchange, ccxt.Exchange):
        if exchange_options:
            raise DataError(
                "exchange_options only apply when the exchange is given by id; "
                "configure the ccxt object you passed instead"
            )
        exchange.enableRateLimit = True
        exchange.enableLastJsonResponse = True
        return exchange
    exchange_id = str(exchange).strip().lower()
    if exchange_id not in ccxt.exchanges:
        close = difflib.get_close_matches(exchange_id, ccxt.exchanges, n=5, cutoff=0.6)
        hint = ", ".join(close or ccxt.exchanges[:_SHOW])
        raise DataError(f"exchange {exchange!r} is not known to ccxt; did you mean: {hint}?")
    config: dict[str, Any] = dict(exchange_options or {})
    options = dict(config.get("options") or {})
    options.setdefault("fetchCurrencies", False)
    options.setdefault("fetchMargins", False)
    config["options"] = options
    config["enableRateLimit"] = True
    config["enableLastJsonResponse"] = True
    return getattr(ccxt, exchange_id)(config)


def _page_limit(ex: ccxt.Exchange, limit: int | None) -> int:
    if limit is not None:
        if int(limit) < 1:
            raise DataError(f"limit={limit!r}: a page must hold at least 1 candle")
        return int(limit)
    features = getattr(ex, "features", None) or {}
    for market_type in ("spot", "swap", "future"):
        section = features.get(market_type) or {}
        found = (section.get("fetchOHLCV") or {}).get("limit")
        if isinstance(found, int) and found > 0:
            return found
        for sub in section.values():  # swap/future are split into linear/inverse
            if isinstance(sub, dict):
                found = (sub.get("fetchOHLCV") or {}).get("limit")
                if isinstance(found, int) and found > 0:
                    return found
    return _DEFAULT_PAGE


def _check_market(ex: ccxt.Exchange, symbol: str, timeframe: str, label: str) -> None:
    if not ex.has.get("fetchOHLCV"):
        raise DataError(f"{label}: {ex.id} does not offer candles (fetchOHLCV) through ccxt")
    symbols = list(ex.symbols or [])
    if symbol not in symbols:
        close = difflib.get_close_matches(symbol, symbols, n=_SHOW, cutoff=0.5)
        popular = [s for s in ("BTC/USDT", "ETH/USDT", "BTC/USD", "ETH/BTC") if s in symbols]
        shown = list(dict.fromkeys([*close, *popular, *symbols[:_SHOW]]))[:_SHOW]
        raise DataError(
            f"{label}: symbol {symbol!r} is not listed on {ex.id} ({len(symbols)} markets); "
            f"valid ones include {', '.join(shown)}; use the BASE/QUOTE form"
        )
    timeframes = list((ex.timeframes or {}).keys())
    if timeframes and timeframe not in timeframes:
        raise DataError(
            f"{label}: timeframe {timeframe!r} is not offered by {ex.id}; "
            f"valid ones: {', '.join(timeframes[: _SHOW + 8])}"
        )


def _clean_page(rows: Any, *, cursor: int) -> list[list[float]]:
    """Check one page of ccxt candles; raise ``ccxt.BadResponse`` when it is garbage.

    ccxt turns a cut or malformed JSON body into rows of ``None`` rather than an error, so the
    page is checked here and treated like any other unusable answer (retried).
    """
    if not isinstance(rows, list):
        raise ccxt.BadResponse(f"expected a list of candles, got {type(rows).__name__}")
    clean: list[list[float]] = []
    for row in rows:
        if not isinstance(row, list | tuple) or len(row) < 6:
            raise ccxt.BadResponse(f"malformed candle row {str(row)[:80]}")
        if any(v is None for v in row[:6]) or not isinstance(row[0], int | float):
            raise ccxt.BadResponse(f"incomplete candle row {str(row)[:80]}")
        if row[0] >= cursor:
            clean.append([int(row[0]), *(float(v) for v in row[1:6])])
    clean.sort(key=lambda r: r[0])
    return clean


def _rows_to_frame(rows: list[list[float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["timestamp", *OHLCV_COLUMNS])
    index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp"), unit="ms", utc=True))
    frame.index = index.as_unit(INDEX_UNIT).rename("timestamp")
    frame = frame.astype("float64")
    # A page boundary may repeat a bar; keep one copy of exact repeats (conflicts stay visible).
    return frame[~(frame.index.duplicated() & frame.reset_index().duplicated().to_numpy())]


def fetch_ohlcv(
    exchange: str | ccxt.Exchange = "binance",
    symbol: str = "BTC/USDT",
    timeframe: str = "1d",
    since: TimeLike = None,
    until: TimeLike = None,
    cache_dir: str | os.PathLike[str] | None = None,
    exchange_options: Mapping[str, Any] | None = None,
    *,
    progress: ProgressFn | None = None,
    max_retries: int = 5,
    retry_backoff: float = 1.0,
    limit: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """Closed candles of ``symbol`` on ``exchange``, from the cache and the exchange.

    Parameters
    ----------
    exchange
        A ccxt exchange id (``'binance'``) or a ready ``ccxt.Exchange`` object (its
        ``enableRateLimit`` is switched on).
    symbol, timeframe
        A ccxt unified symbol (``'BTC/USDT'``) and a timeframe the exchange offers (``'1d'``).
    since, until
        Range of bar open times, ``since`` inclusive, ``until`` exclusive: ``None``, a date
        string, a datetime/Timestamp (naive means UTC) or epoch milliseconds. ``since=None``
        starts at the exchange's first candle; ``until=None`` runs up to the last closed one.
    cache_dir
        Cache root (default ``$LSTM_BT_CACHE_DIR`` or the user cache dir, see
        :mod:`lstm_backtrader.backtests.data.cache`).
    exchange_options
        ccxt constructor config when ``exchange`` is an id (credentials are never stored or
        shown).
    progress
        Called after each page with the number of new candles so far and the open time of the
        last one.
    max_retries
        How many times one request is tried before giving up (at least 1).
    retry_backoff
        First retry sleep in seconds, doubled at each further try (capped at 60 s); a rate-limit
        answer's ``Retry-After`` header is honoured when longer (capped at 300 s).
    limit
        Candles per request; default the exchange's maximum (1000 on Binance spot).
    sleep
        The function used to wait between tries (tests pass a fake).

    Returns
    -------
    pandas.DataFrame
        A validated candle frame (UTC ``timestamp`` index, float64 ``open high low close
        volume``) without the still-forming last candle.

    Raises
    ------
    DataError
        Unknown exchange, symbol or timeframe; a download that kept failing (what was fetched
        is cached first, and the message says how far it got); data the exchange changed since
        it was cached; or no candles in the range.
    """
    if max_retries < 1:
        raise DataError(f"max_retries={max_retries}: must be at least 1")
    since_ms = _to_ms(since, name="since")
    until_ms = _to_ms(until, name="until")
    if since_ms is not None and until_ms is not None and until_ms <= since_ms:
        raise DataError(f"until ({_fmt(until_ms)}) must be after since ({_fmt(since_ms)})")
    step_ms = int(timeframe_delta(timeframe).total_seconds() * 1000)

    ex = build_exchange(exchange, exchange_options)
    redact = _Redactor(ex, exchange_options)
    label = f"{ex.id} {symbol} {timeframe}"
    path = cache_path(ex.id, symbol, timeframe, cache_dir)
    entry = read_cache(path, exchange=ex.id, symbol=symbol, timeframe=timeframe)
    cached = entry.frame if entry is not None else None
    covered_from = entry.covered_from_ms if entry is not None else None

    want_from = since_ms if since_ms is not None else 0
    if cached is not None and covered_from is not None and want_from >= covered_from:
        # The cache holds everything from covered_from on: resume at its last bar, fetched
        # again to check that the exchange still agrees with what was cached.
        start_ms = _ms(cached.index[-1])
        new_covered = covered_from
    else:
        start_ms = want_from
        new_covered = want_from if covered_from is None else min(want_from, covered_from)
    last_cached_ms = _ms(cached.index[-1]) if cached is not None else None
    need_download = not (
        until_ms is not None
        and last_cached_ms is not None
        and start_ms == last_cached_ms
        and last_cached_ms + step_ms >= until_ms
    )

    if need_download:
        with _scrubbed_logs(ex, redact):
            dl = _download(
                ex,
                symbol,
                timeframe,
                step_ms=step_ms,
                start_ms=start_ms,
                until_ms=until_ms,
                first_new_ms=start_ms + step_ms if start_ms == last_cached_ms else start_ms,
                page=limit,
                label=label,
                redact=redact,
                progress=progress,
                max_retries=max_retries,
                retry_backoff=retry_backoff,
                sleep=sleep,
            )
        fetched, failure = dl.frame, dl.failure
        merged = cached
        if not fetched.empty:
            try:
                merged = merge_candles(cached, fetched, source=f"{label} ({path.name} + download)")
            except DataError as exc:
                raise DataError(
                    f"{redact(exc)}; the exchange changed candles already cached: delete "
                    f"{path} to download them afresh"
                ) from None
            if failure is not None and covered_from is not None and start_ms < covered_from:
                new_covered = covered_from  # an unfinished back-fill covers nothing new
            # Written even when giving up, so what was fetched is kept and a rerun resumes.
            try:
                write_cache(
                    path,
                    merged,
                    exchange=ex.id,
                    symbol=symbol,
                    timeframe=timeframe,
                    covered_from_ms=new_covered,
                )
            except OSError as exc:
                raise DataError(
                    f"{label}: cannot write the cache file {path} ({exc.strerror or exc}); "
                    f"pass cache_dir or set {ENV_VAR} to a writable folder"
                ) from exc
            logger.info("%s: cached %d candles in %s", label, len(merged), path)
        if failure is not None:
            if isinstance(failure, _GaveUpError):
                raise _failure_error(failure, label, fetched, merged, redact) from None
            raise failure
        cached = merged

    if cached is None or cached.empty:
        raise DataError(
            f"{label}: the exchange returned no closed candles{_range(since_ms, until_ms)}"
        )
    result = cached
    if since_ms is not None:
        result = result[result.index >= _stamp(since_ms)]
    if until_ms is not None:
        result = result[result.index < _stamp(until_ms)]
    if result.empty:
        raise DataError(
            f"{label}: no closed candles{_range(since_ms, until_ms)}; available "
            f"{_fmt(_ms(cached.index[0]))} to "
            f"{_fmt(_ms(cached.index[-1]))}"
        )
    return result.copy()


def _range(since_ms: int | None, until_ms: int | None) -> str:
    parts = []
    if since_ms is not None:
        parts.append(f"from {_fmt(since_ms)}")
    if until_ms is not None:
        parts.append(f"before {_fmt(until_ms)}")
    return (" " + " ".join(parts)) if parts else ""


def _failure_error(
    failure: _GaveUpError,
    label: str,
    fetched: pd.DataFrame,
    cached: pd.DataFrame | None,
    redact: _Redactor,
) -> DataError:
    reason = redact(f"{type(failure.error).__name__}: {failure.error}")
    n = len(fetched)
    if n:
        last = _fmt(_ms(fetched.index[-1]))
        note = f"{n:,} candles fetched and cached so far, up to {last}; run again to resume"
    elif cached is not None and not cached.empty:
        last = _fmt(_ms(cached.index[-1]))
        note = f"nothing new fetched; the cache holds {len(cached):,} candles up to {last}"
    else:
        note = "nothing fetched"
    if failure.retryable:
        tries = f"{failure.tries} {'try' if failure.tries == 1 else 'tries'}"
        return DataError(f"{label}: gave up after {tries} {failure.what} ({note}): {reason}")
    return DataError(f"{label}: the exchange refused the request {failure.what} ({note}): {reason}")


@dataclass
class _Download:
    frame: pd.DataFrame
    failure: BaseException | None


def _download(
    ex: ccxt.Exchange,
    symbol: str,
    timeframe: str,
    *,
    step_ms: int,
    start_ms: int,
    until_ms: int | None,
    first_new_ms: int,
    page: int | None,
    label: str,
    redact: _Redactor,
    progress: ProgressFn | None,
    max_retries: int,
    retry_backoff: float,
    sleep: Callable[[float], None],
) -> _Download:
    """Page through the exchange from ``start_ms``: the closed candles fetched and, when it
    stopped early, why. Never raises, so the caller can cache what came before re-raising."""

    def attempt(what: str, call: Callable[[], Any]) -> Any:
        for tries in range(1, max_retries + 1):
            try:
                return call()
            except RETRYABLE_ERRORS as exc:
                if tries >= max_retries:
                    raise _GaveUpError(tries, exc, what, retryable=True) from None
                delay = min(_MAX_BACKOFF, retry_backoff * 2 ** (tries - 1))
                if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
                    delay = max(delay, _retry_after(ex))  # the exchange's own "wait this long"
                logger.warning(
                    "%s: request %s failed (try %d of %d, retrying in %.3g s): %s",
                    label,
                    what,
                    tries,
                    max_retries,
                    delay,
                    redact(f"{type(exc).__name__}: {exc}"),
                )
                sleep(delay)
            except ccxt.BaseError as exc:
                raise _GaveUpError(tries, exc, what, retryable=False) from None
        raise AssertionError("unreachable")  # pragma: no cover

    rows: list[list[float]] = []
    try:
        attempt("loading the markets", ex.load_markets)
        _check_market(ex, symbol, timeframe, label)
        per_page = _page_limit(ex, page)
        now_ms = int(ex.milliseconds())  # local clock, unless the exchange tells its own
        if ex.has.get("fetchTime"):
            try:
                now_ms = int(attempt("reading the exchange clock", ex.fetch_time))
            except _GaveUpError as exc:
                if exc.retryable:
                    raise
                logger.info("%s: no exchange clock (%s); using the local one", label, exc)
        cursor = start_ms
        seen: set[int] = set()
        if first_new_ms + step_ms > now_ms:
            cursor = now_ms  # no candle newer than the cache has closed yet: nothing to ask
        # A bar opening at `cursor` is closed once cursor + step <= now.
        while cursor + step_ms <= now_ms and (until_ms is None or cursor < until_ms):
            frm = cursor

            def call(frm: int = frm) -> list[list[float]]:
                raw = ex.fetch_ohlcv(symbol, timeframe, since=frm, limit=per_page)
                if ex.enableLastJsonResponse and ex.last_json_response is None:
                    # ccxt hands back a cut or malformed body as rows of None, which its
                    # `since` filter then drops: the page would look like the end of history.
                    raise ccxt.BadResponse("the answer was not valid JSON (cut or malformed)")
                return _clean_page(raw, cursor=frm)

            page_rows = attempt(f"at {_fmt(frm)}", call)
            if not page_rows:
                break  # nothing more on the exchange
            for row in page_rows:
                ts = int(row[0])
                if ts + step_ms > now_ms or ts in seen:
                    continue  # still forming, or repeated by an overlapping page
                seen.add(ts)
                rows.append(row)
            if rows and progress is not None:
                progress(len(rows), _stamp(int(rows[-1][0])))
            cursor = int(page_rows[-1][0]) + step_ms  # > frm: _clean_page kept rows >= frm
    except BaseException as exc:  # noqa: BLE001 - handed back, cached, then re-raised
        if isinstance(exc, KeyboardInterrupt):
            logger.warning("%s: interrupted after %d new candle(s)", label, len(rows))
        return _Download(_rows_to_frame(rows), exc)
    return _Download(_rows_to_frame(rows), None)
