"""Read candle files: CSV (plain or gzip) and parquet, in the layouts people actually have.

Recognised layouts (column names are matched case-insensitively):

* **plain** — ``timestamp,open,high,low,close,volume`` with ISO dates or epoch seconds /
  milliseconds / microseconds (``date``, ``datetime`` or ``time`` also name the time column);
  a headerless six-column file is read in that order;
* **Binance kline dumps** (data.binance.vision) — ``open_time`` in epoch ms (µs since 2025)
  followed by ``open, high, low, close, volume, close_time, …``, with or without a header;
* **CryptoDataDownload** exports — a banner line, newest row first, ``Unix``/``Date``/``Symbol``
  columns and one volume column per currency (``Volume BTC``, ``Volume USDT``, or the older
  ``volume_btc``); the base currency's volume is used;
* **Yahoo Finance** — ``Date,Open,High,Low,Close,Adj Close,Volume``; ``Close`` is used
  (for crypto it equals ``Adj Close``).

Every layout goes through :func:`~lstm_backtrader.backtests.data.validate.validate_ohlcv`.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from lstm_backtrader.backtests.data.validate import OHLCV_COLUMNS, to_utc_index, validate_ohlcv
from lstm_backtrader.models.infra.errors import DataError

logger = logging.getLogger(__name__)

#: Time columns, most precise first (a file with both ``unix`` and ``date`` uses ``unix``).
TIME_COLUMNS: tuple[str, ...] = ("timestamp", "open_time", "unix", "datetime", "date", "time")
#: Column names of a Binance kline dump (data.binance.vision), which has no header.
BINANCE_KLINE_COLUMNS: tuple[str, ...] = (
    "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
    "count", "taker_buy_volume", "taker_buy_quote_volume", "ignore",
)  # fmt: skip
#: Text timestamp formats tried after ISO 8601 (CryptoDataDownload's hourly ``2019-10-17 09-AM``).
_EXTRA_TIME_FORMATS: tuple[str, ...] = ("%Y-%m-%d %I-%p", "%Y-%m-%d %I-%M %p")
_EPOCH_UNITS: tuple[tuple[float, str], ...] = ((1e17, "ns"), (1e14, "us"), (1e11, "ms"), (0, "s"))
_PARQUET_MAGIC = b"PAR1"


def load_ohlcv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a candle file into a validated candle frame.

    Parameters
    ----------
    path
        A ``.csv``/``.csv.gz``/``.txt`` file or a ``.parquet`` file in one of the layouts above.

    Raises
    ------
    DataError
        One line naming the file: missing, unreadable, an unknown layout (listing the columns
        found and the ones needed), or any validation problem.
    """
    p = Path(path)
    name = str(p)
    if not p.is_file():
        raise DataError(f"{name}: no such file")
    head = _head_bytes(p)
    if head.startswith(_PARQUET_MAGIC) or p.suffix.lower() in {".parquet", ".pq"}:
        raw = _read_parquet(p, name)
    else:
        raw = _read_csv(p, name)
    return validate_ohlcv(_normalise(raw, name), source=name)


def _head_bytes(p: Path, n: int = 4096) -> bytes:
    with open(p, "rb") as fh:
        start = fh.read(n)
    if start[:2] == b"\x1f\x8b":
        try:
            with gzip.open(p, "rb") as fh:
                return fh.read(n)
        except (OSError, EOFError) as exc:
            raise DataError(f"{p}: damaged gzip file ({exc})") from None
    return start


def _read_parquet(p: Path, name: str) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise DataError(
            f"{name}: not a readable parquet file ({type(exc).__name__}: {exc})"
        ) from None
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index(names=frame.index.name or "timestamp")
    return frame


def _split(line: str) -> list[str]:
    return [f.strip().strip('"').strip() for f in line.split(",")]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(p: Path, name: str) -> pd.DataFrame:
    try:
        text = _head_bytes(p).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{name}: not a text CSV file (and not parquet)") from None
    lines = [ln for ln in text.splitlines() if ln.strip()][:3]
    if not lines:
        raise DataError(f"{name}: the file is empty")
    skip = 0
    first = _split(lines[0])
    header_like = {f.lower() for f in first}
    if (
        len(lines) > 1
        and not ({"open", "close"} <= header_like)
        and not all(map(_is_number, first))
    ):
        second = {f.lower() for f in _split(lines[1])}
        if {"open", "close"} <= second:
            skip = 1  # CryptoDataDownload banner line
            first = _split(lines[1])
    headerless = all(_is_number(f) for f in first if f)
    kwargs: dict[str, object] = {"skiprows": skip, "compression": "infer"}
    if headerless:
        if len(first) >= 11:
            names = list(BINANCE_KLINE_COLUMNS[: len(first)])
        elif len(first) == 6:
            names = ["timestamp", *OHLCV_COLUMNS]
        else:
            raise DataError(
                f"{name}: a headerless file with {len(first)} columns is not a known layout; "
                "add a header row timestamp,open,high,low,close,volume"
            )
        kwargs.update(header=None, names=names)
    try:
        return pd.read_csv(p, **kwargs)  # type: ignore[call-overload]
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{name}: cannot parse as CSV ({msg})") from None


def _normalise(raw: pd.DataFrame, name: str) -> pd.DataFrame:
    """Map a raw frame of any known layout onto ``timestamp`` + OHLCV columns."""
    lower = {str(c).strip().lower(): c for c in raw.columns}
    time_key = next((k for k in TIME_COLUMNS if k in lower), None)
    picked: dict[str, object] = {}
    for col in ("open", "high", "low", "close"):
        if col in lower:
            picked[col] = lower[col]
    volume_col = _volume_column(raw, lower)
    if volume_col is not None:
        picked["volume"] = volume_col
    missing = [c for c in OHLCV_COLUMNS if c not in picked]
    if raw.empty and time_key is not None and not missing:
        raise DataError(f"{name}: no candles")
    if time_key is None or missing:
        need = ["a time column (timestamp, date, open_time or unix)"] if time_key is None else []
        need += missing
        found = ", ".join(str(c) for c in raw.columns) or "none"
        raise DataError(
            f"{name}: unrecognised candle layout; found columns [{found}]; "
            f"missing {', '.join(need)}"
        )
    out = pd.DataFrame({col: raw[src].to_numpy() for col, src in picked.items()})
    out.insert(0, "timestamp", _parse_times(raw[lower[time_key]], name, str(lower[time_key])))
    return out


def _volume_column(raw: pd.DataFrame, lower: dict[str, object]) -> object | None:
    if "volume" in lower and not any(re.fullmatch(r"volume[ _]\w+", k) for k in lower):
        return lower["volume"]
    per_ccy = [k for k in lower if re.fullmatch(r"volume[ _]\w+", k)]
    if not per_ccy:
        return lower.get("volume")
    if "symbol" in lower and len(raw):
        symbol = re.sub(r"[^a-z]", "", str(raw[lower["symbol"]].iloc[0]).lower())
        for key in per_ccy:
            if symbol.startswith(key[7:]):
                return lower[key]
    return lower[per_ccy[0]]  # CryptoDataDownload lists the base currency's volume first


def _parse_times(col: pd.Series, name: str, field: str) -> pd.DatetimeIndex:
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return to_utc_index(col, source=name, field=field)
    numeric = pd.to_numeric(col, errors="coerce")
    if numeric.notna().all():
        return _epoch_to_index(numeric.to_numpy(dtype="float64"), name, field)
    text = col.astype("string").str.strip()
    for fmt in ("ISO8601", *_EXTRA_TIME_FORMATS):
        parsed = pd.to_datetime(text, format=fmt, utc=True, errors="coerce")
        if parsed.notna().all():
            return to_utc_index(parsed, source=name, field=field)
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    raise DataError(
        f"{name}: column {field!r} has {len(bad)} value(s) that are not dates or epoch numbers, "
        f"first {text.iloc[bad[0]]!r} at data row {bad[0] + 1}; fix or remove those rows"
    )


def _epoch_to_index(values: np.ndarray, name: str, field: str) -> pd.DatetimeIndex:
    """Epoch numbers to UTC times, choosing s/ms/µs/ns per value by magnitude.

    Some exports (CryptoDataDownload) mix seconds and milliseconds in one column; the
    magnitudes of the units do not overlap for any date between 1973 and 2286.
    """
    if (values <= 0).any() or not np.isfinite(values).all():
        bad = np.flatnonzero((values <= 0) | ~np.isfinite(values))
        raise DataError(
            f"{name}: column {field!r} has a non-positive epoch value at data row {bad[0] + 1}"
        )
    nanos = np.empty(len(values), dtype="int64")
    factors = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
    assigned = np.zeros(len(values), dtype=bool)
    for threshold, unit in _EPOCH_UNITS:
        mask = ~assigned & (values >= threshold)
        nanos[mask] = np.round(values[mask] * factors[unit]).astype("int64")
        assigned |= mask
    if len({int(np.log10(v) // 3) for v in (values.min(), values.max())}) > 1:  # s and ms
        logger.info("%s: column %r mixes epoch units (seconds and milliseconds)", name, field)
    idx = pd.DatetimeIndex(nanos.astype("datetime64[ns]")).as_unit("us")
    return to_utc_index(idx, source=name, field=field)
