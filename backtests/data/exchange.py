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

This module plans the download against the cache, merges and caches the result and words the
errors; the work itself is split by job:

* :mod:`~lstm_backtrader.backtests.data.exchange_client` builds the ccxt object safely
  (:func:`build_exchange`), redacts credentials and checks symbol and timeframe;
* :mod:`~lstm_backtrader.backtests.data.exchange_download` pages through the history with
  retries and backoff;
* :mod:`~lstm_backtrader.backtests.data.times` converts times to and from epoch ms.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import ccxt
import pandas as pd

from lstm_backtrader.backtests.data.cache import (
    ENV_VAR,
    cache_path,
    merge_candles,
    read_cache,
    write_cache,
)
from lstm_backtrader.backtests.data.exchange_client import Redactor, build_exchange, scrubbed_logs
from lstm_backtrader.backtests.data.exchange_download import (
    RETRYABLE_ERRORS,
    GaveUpError,
    ProgressFn,
    download,
)
from lstm_backtrader.backtests.data.times import (
    TimeLike,
    fmt_ms,
    ms_to_stamp,
    stamp_to_ms,
    to_ms,
)
from lstm_backtrader.backtests.data.validate import timeframe_delta
from lstm_backtrader.models.infra.errors import DataError

logger = logging.getLogger(__name__)

__all__ = ["fetch_ohlcv", "build_exchange", "RETRYABLE_ERRORS"]


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
    since_ms = to_ms(since, name="since")
    until_ms = to_ms(until, name="until")
    if since_ms is not None and until_ms is not None and until_ms <= since_ms:
        raise DataError(f"until ({fmt_ms(until_ms)}) must be after since ({fmt_ms(since_ms)})")
    step_ms = int(timeframe_delta(timeframe).total_seconds() * 1000)

    ex = build_exchange(exchange, exchange_options)
    redact = Redactor(ex, exchange_options)
    label = f"{ex.id} {symbol} {timeframe}"
    path = cache_path(ex.id, symbol, timeframe, cache_dir)
    entry = read_cache(path, exchange=ex.id, symbol=symbol, timeframe=timeframe)
    cached = entry.frame if entry is not None else None
    covered_from = entry.covered_from_ms if entry is not None else None

    want_from = since_ms if since_ms is not None else 0
    if cached is not None and covered_from is not None and want_from >= covered_from:
        # The cache holds everything from covered_from on: resume at its last bar, fetched
        # again to check that the exchange still agrees with what was cached.
        start_ms = stamp_to_ms(cached.index[-1])
        new_covered = covered_from
    else:
        start_ms = want_from
        new_covered = want_from if covered_from is None else min(want_from, covered_from)
    last_cached_ms = stamp_to_ms(cached.index[-1]) if cached is not None else None
    need_download = not (
        until_ms is not None
        and last_cached_ms is not None
        and start_ms == last_cached_ms
        and last_cached_ms + step_ms >= until_ms
    )

    if need_download:
        with scrubbed_logs(ex, redact):
            dl = download(
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
            if isinstance(failure, GaveUpError):
                raise _failure_error(failure, label, fetched, merged, redact) from None
            raise failure
        cached = merged

    if cached is None or cached.empty:
        raise DataError(
            f"{label}: the exchange returned no closed candles{_range(since_ms, until_ms)}"
        )
    result = cached
    if since_ms is not None:
        result = result[result.index >= ms_to_stamp(since_ms)]
    if until_ms is not None:
        result = result[result.index < ms_to_stamp(until_ms)]
    if result.empty:
        raise DataError(
            f"{label}: no closed candles{_range(since_ms, until_ms)}; available "
            f"{fmt_ms(stamp_to_ms(cached.index[0]))} to "
            f"{fmt_ms(stamp_to_ms(cached.index[-1]))}"
        )
    return result.copy()


def _range(since_ms: int | None, until_ms: int | None) -> str:
    parts = []
    if since_ms is not None:
        parts.append(f"from {fmt_ms(since_ms)}")
    if until_ms is not None:
        parts.append(f"before {fmt_ms(until_ms)}")
    return (" " + " ".join(parts)) if parts else ""


def _failure_error(
    failure: GaveUpError,
    label: str,
    fetched: pd.DataFrame,
    cached: pd.DataFrame | None,
    redact: Redactor,
) -> DataError:
    reason = redact(f"{type(failure.error).__name__}: {failure.error}")
    n = len(fetched)
    if n:
        last = fmt_ms(stamp_to_ms(fetched.index[-1]))
        note = f"{n:,} candles fetched and cached so far, up to {last}; run again to resume"
    elif cached is not None and not cached.empty:
        last = fmt_ms(stamp_to_ms(cached.index[-1]))
        note = f"nothing new fetched; the cache holds {len(cached):,} candles up to {last}"
    else:
        note = "nothing fetched"
    if failure.retryable:
        tries = f"{failure.tries} {'try' if failure.tries == 1 else 'tries'}"
        return DataError(f"{label}: gave up after {tries} {failure.what} ({note}): {reason}")
    return DataError(f"{label}: the exchange refused the request {failure.what} ({note}): {reason}")
