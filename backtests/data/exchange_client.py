"""Building a ccxt exchange safely, and checking what it offers before asking it for candles.

* :func:`build_exchange` makes the ccxt object: rate limit and last-JSON checks always on, and
  only public market data loaded by default (no currency or margin metadata, which are signed
  requests carrying the API key once credentials are set).
* :class:`Redactor` blanks credential values out of text; :func:`scrubbed_logs` keeps them out
  of ccxt's own log records while a download runs (:class:`RedactingFilter`).
* :func:`check_market` and :func:`page_limit` read the loaded markets: whether the symbol and
  timeframe exist, and how many candles one request may ask for.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import ccxt

from lstm_backtrader.models.infra.errors import DataError

logger = logging.getLogger(__name__)

__all__ = [
    "RedactingFilter",
    "Redactor",
    "build_exchange",
    "check_market",
    "page_limit",
    "scrubbed_logs",
]

_DEFAULT_PAGE = 500  # page size when the exchange does not publish its maximum
_SECRET_KEYS = ("apikey", "secret", "password", "uid", "privatekey", "token", "passphrase")
_SHOW = 8  # how many valid symbols/timeframes an error lists


class Redactor:
    """Blanks credential values out of text that may reach a log or an error message.

    Parameters
    ----------
    exchange
        The ccxt exchange; its ``apiKey``, ``secret``, ``password``, ``uid``, ``privateKey``
        and ``token`` are blanked out.
    options
        The ccxt constructor options; every string under a credential-like key is blanked out.
        Values shorter than 4 characters are left alone.
    """

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
        """``text`` with every credential value replaced by ``***``."""
        for value in self._values:
            text = text.replace(value, "***")
        return text

    def __call__(self, text: object) -> str:
        """``text`` on one line, credentials blanked out."""
        return self.scrub(" ".join(str(text).split()))


class RedactingFilter(logging.Filter):
    """Blanks credentials out of ccxt's own log records (its DEBUG lines show request headers,
    which carry the API key on signed requests)."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self._redact.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


@contextmanager
def scrubbed_logs(ex: ccxt.Exchange, redact: Redactor) -> Iterator[None]:
    """While downloading, keep credentials out of ccxt's own log records."""
    ccxt_logger = getattr(ex, "logger", None)
    if not redact or not isinstance(ccxt_logger, logging.Logger):
        yield
        return
    guard = RedactingFilter(redact)
    ccxt_logger.addFilter(guard)
    try:
        yield
    finally:
        ccxt_logger.removeFilter(guard)


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


def page_limit(ex: ccxt.Exchange, limit: int | None) -> int:
    """Candles per request: ``limit`` when given, else the exchange's published maximum.

    Raises
    ------
    DataError
        ``limit`` is below 1.
    """
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


def check_market(ex: ccxt.Exchange, symbol: str, timeframe: str, label: str) -> None:
    """Check, on loaded markets, that ``ex`` offers candles of ``symbol`` at ``timeframe``.

    Raises
    ------
    DataError
        No candles through ccxt, or an unknown symbol or timeframe; the message (prefixed with
        ``label``) lists close and valid ones.
    """
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
