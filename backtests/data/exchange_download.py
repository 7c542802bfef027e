"""The paginated candle download: page after page, with retries and exponential backoff.

:func:`download` pages through an exchange's history with ``since``/``limit`` (ccxt's unified
``fetch_ohlcv``), checks every page, retries network trouble and rate-limit answers (honouring
``Retry-After``) and keeps only closed candles. It never raises: it hands back the candles it got
and, when it stopped early, why (a :class:`GaveUpError` or any other exception), so that the
caller can cache them before re-raising.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ccxt
import pandas as pd

from lstm_backtrader.backtests.data.cache import INDEX_UNIT
from lstm_backtrader.backtests.data.exchange_client import Redactor, check_market, page_limit
from lstm_backtrader.backtests.data.times import fmt_ms, ms_to_stamp
from lstm_backtrader.backtests.data.validate import OHLCV_COLUMNS

logger = logging.getLogger(__name__)

__all__ = ["RETRYABLE_ERRORS", "Download", "EmptyPage", "GaveUpError", "ProgressFn", "download"]

#: ccxt errors worth trying again: NetworkError covers RequestTimeout, ExchangeNotAvailable,
#: RateLimitExceeded and DDoSProtection (HTTP 418/429); BadResponse an unparseable answer.
RETRYABLE_ERRORS: tuple[type[BaseException], ...] = (ccxt.NetworkError, ccxt.BadResponse)

#: Called after each page with the number of new candles so far and the last one's open time.
ProgressFn = Callable[[int, pd.Timestamp], None]

_MAX_BACKOFF = 60.0  # seconds, cap of one exponential-backoff sleep
_MAX_RETRY_AFTER = 300.0  # seconds, cap of an exchange's Retry-After


class EmptyPage(ccxt.ExchangeError):
    """The exchange answered a request inside the range (before its own clock and ``until``)
    with no candles. ccxt's unified ``fetch_ohlcv`` returns the candles at or after ``since``,
    so a hole in the exchange's history never looks like this: it is a fault (load,
    maintenance) or the end of the market's history, never silently "the end"."""


class GaveUpError(Exception):
    """A request failed ``tries`` times, or once with an error not worth retrying.

    Parameters
    ----------
    tries
        How many times the request was made.
    error
        The last ccxt error.
    what
        What was asked, for messages (``'loading the markets'``, ``'at 2021-01-01'``).
    retryable
        Whether ``error`` is one of :data:`RETRYABLE_ERRORS` (then the tries ran out).
    """

    def __init__(self, tries: int, error: BaseException, what: str, retryable: bool) -> None:
        super().__init__(str(error))
        self.tries = tries
        self.error = error
        self.what = what
        self.retryable = retryable


@dataclass
class Download:
    """What :func:`download` got: the closed candles and, when it stopped early, why."""

    frame: pd.DataFrame
    failure: BaseException | None


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
    return frame.astype("float64")  # repeated open times were dropped while paging


def retry_call(
    ex: ccxt.Exchange,
    call: Callable[[], Any],
    *,
    what: str,
    label: str,
    redact: Callable[[object], str],
    max_retries: int,
    retry_backoff: float,
    sleep: Callable[[float], None],
) -> Any:
    """``call()``, retried on :data:`RETRYABLE_ERRORS` with exponential backoff (at least the
    exchange's own Retry-After on a rate limit), each failure logged in one line.

    Raises
    ------
    GaveUpError
        When the tries ran out, or at once on a ccxt error not worth retrying.
    """
    for tries in range(1, max_retries + 1):
        try:
            return call()
        except RETRYABLE_ERRORS as exc:
            if tries >= max_retries:
                raise GaveUpError(tries, exc, what, retryable=True) from None
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
            raise GaveUpError(tries, exc, what, retryable=False) from None
    raise AssertionError("unreachable")  # pragma: no cover


def download(
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
    redact: Redactor,
    progress: ProgressFn | None,
    max_retries: int,
    retry_backoff: float,
    sleep: Callable[[float], None],
) -> Download:
    """Page through the exchange from ``start_ms``: the closed candles fetched and, when it
    stopped early, why. Never raises, so the caller can cache what came before re-raising.

    Parameters
    ----------
    ex
        The ccxt exchange, as built by
        :func:`~lstm_backtrader.backtests.data.exchange_client.build_exchange`; its markets are
        loaded here.
    symbol, timeframe
        What to download; checked against the loaded markets first.
    step_ms
        The timeframe's length in milliseconds.
    start_ms
        Open time of the first bar to ask for.
    until_ms
        Stop before this open time (``None``: up to the last closed bar).
    first_new_ms
        Open time of the first bar not cached yet; when it has not closed, nothing is asked.
    page
        Candles per request (``None``: the exchange's maximum).
    label
        ``"<exchange> <symbol> <timeframe>"``, the prefix of log lines.
    redact
        Blanks credentials out of log lines.
    progress, max_retries, retry_backoff, sleep
        As for :func:`~lstm_backtrader.backtests.data.exchange.fetch_ohlcv`.

    Returns
    -------
    Download
        The closed candles (a candle frame, possibly empty) and the exception that stopped the
        download early (a :class:`GaveUpError` for a failed request), or ``None``.
    """

    def attempt(what: str, call: Callable[[], Any]) -> Any:
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

    rows: list[list[float]] = []
    try:
        attempt("loading the markets", ex.load_markets)
        check_market(ex, symbol, timeframe, label)
        per_page = page_limit(ex, page)
        now_ms = int(ex.milliseconds())  # local clock, unless the exchange tells its own
        if ex.has.get("fetchTime"):
            try:
                now_ms = int(attempt("reading the exchange clock", ex.fetch_time))
            except GaveUpError as exc:
                if exc.retryable:
                    raise
                logger.info("%s: no exchange clock (%s); using the local one", label, exc)
        cursor = start_ms
        seen: dict[int, list[float]] = {}  # open time -> the row kept
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

            page_rows = attempt(f"at {fmt_ms(frm)}", call)
            empty_tries = 1
            while not page_rows:  # inside the range: a fault, retried like one
                if empty_tries >= max_retries:
                    raise GaveUpError(
                        empty_tries,
                        EmptyPage(
                            f"the exchange returned no candles at {fmt_ms(frm)} although its "
                            f"clock is at {fmt_ms(now_ms)} (if the market's history really "
                            "ends there, pass an until date)"
                        ),
                        f"at {fmt_ms(frm)}",
                        retryable=True,
                    )
                delay = min(_MAX_BACKOFF, retry_backoff * 2 ** (empty_tries - 1))
                logger.warning(
                    "%s: empty page at %s inside the range (try %d of %d, retrying in %.3g s)",
                    label,
                    fmt_ms(frm),
                    empty_tries,
                    max_retries,
                    delay,
                )
                sleep(delay)
                empty_tries += 1
                page_rows = attempt(f"at {fmt_ms(frm)}", call)
            for row in page_rows:
                ts = int(row[0])
                if ts + step_ms > now_ms:
                    continue  # still forming: never kept
                if ts in seen:  # repeated by an overlapping page
                    if seen[ts] != row:
                        logger.warning(
                            "%s: the candle at %s was served twice with different values (a "
                            "revision?); kept the first",
                            label,
                            fmt_ms(ts),
                        )
                    continue
                seen[ts] = row
                rows.append(row)
            if rows and progress is not None:
                progress(len(rows), ms_to_stamp(int(rows[-1][0])))
            cursor = int(page_rows[-1][0]) + step_ms  # > frm: _clean_page kept rows >= frm
    except BaseException as exc:  # noqa: BLE001 - handed back, cached, then re-raised
        if isinstance(exc, KeyboardInterrupt):
            logger.warning("%s: interrupted after %d new candle(s)", label, len(rows))
        return Download(_rows_to_frame(rows), exc)
    return Download(_rows_to_frame(rows), None)
