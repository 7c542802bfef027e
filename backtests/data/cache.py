"""On-disk parquet cache of downloaded candles, one file per exchange / symbol / timeframe.

Layout (under :func:`cache_root`)::

    <root>/<exchange id>/<SYMBOL>_<timeframe>.parquet      e.g. binance/BTC-USDT_1d.parquet

The root is, in order of precedence, the ``cache_dir`` argument, the ``LSTM_BT_CACHE_DIR``
environment variable, or ``platformdirs.user_cache_dir("lstm-backtrader")/ohlcv``.

Each file holds one candle frame (see :mod:`lstm_backtrader.backtests.data.validate`) plus a JSON
entry ``lstm_backtrader`` in the parquet schema metadata: format version, exchange, symbol,
timeframe, ``fetched_at``, and ``covered_from`` (the earliest time the download asked for,
epoch ms, so a later request for an earlier start knows it must go further back). Credentials
are never part of the metadata, the file name or any message.

Writes are atomic (:func:`lstm_backtrader.models.infra.fileio.atomic_write`). A file that cannot be
read back as a valid candle frame of the expected key (truncated parquet, foreign schema, failing
validation) is logged with a warning, moved aside to ``<name>.corrupt`` and treated as absent, so
the caller downloads again; it is never used silently and never crashes a run.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lstm_backtrader.backtests.data.validate import OHLCV_COLUMNS, validate_ohlcv
from lstm_backtrader.models.infra.errors import DataError
from lstm_backtrader.models.infra.fileio import atomic_write

logger = logging.getLogger(__name__)

ENV_VAR = "LSTM_BT_CACHE_DIR"
APP_NAME = "lstm-backtrader"
META_KEY = b"lstm_backtrader"
FORMAT_VERSION = 1
CORRUPT_SUFFIX = ".corrupt"
INDEX_UNIT = "us"  # resolution of the index handed back (as the project's file loader uses)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class CacheEntry:
    """A cache file read back: its candle frame and metadata."""

    path: Path
    frame: pd.DataFrame
    covered_from_ms: int
    fetched_at: str


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache root: ``cache_dir``, else ``$LSTM_BT_CACHE_DIR``, else the user cache dir."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME)) / "ohlcv"


def safe_name(text: str) -> str:
    """A file-system-safe rendering of an exchange id, symbol or timeframe.

    ``'BTC/USDT'`` → ``'BTC-USDT'``, ``'BTC/USDT:USDT'`` → ``'BTC-USDT-USDT'``.
    """
    cleaned = _UNSAFE.sub("-", text.strip()).strip("-.")
    if not cleaned:
        raise DataError(f"cannot build a cache file name from {text!r}: use letters and digits")
    return cleaned


def cache_path(
    exchange_id: str,
    symbol: str,
    timeframe: str,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Where the candles of ``exchange_id`` / ``symbol`` / ``timeframe`` are cached."""
    # Timeframes are case-sensitive ('1m' minute vs '1M' month) and some file systems are not.
    tf = timeframe if timeframe == timeframe.lower() else f"{timeframe}-upper"
    name = f"{safe_name(symbol)}_{safe_name(tf)}.parquet"
    return cache_root(cache_dir) / safe_name(exchange_id.lower()) / name


def _write_parquet(table: pa.Table, tmp: Path) -> None:
    """Write ``table`` to ``tmp`` (a separate function so tests can make it fail midway)."""
    pq.write_table(table, tmp)


def write_cache(
    path: Path,
    frame: pd.DataFrame,
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    covered_from_ms: int,
) -> Path:
    """Atomically replace ``path`` with ``frame`` (a candle frame) and its metadata.

    Only public facts are stored: exchange id, symbol, timeframe, times. Never credentials.
    """
    data = frame[list(OHLCV_COLUMNS)].astype("float64")
    data.index = pd.DatetimeIndex(data.index).as_unit("ms").rename("timestamp")
    table = pa.Table.from_pandas(data, preserve_index=True)
    meta = {
        "format": FORMAT_VERSION,
        "exchange": exchange,
        "symbol": symbol,
        "timeframe": timeframe,
        "covered_from_ms": int(covered_from_ms),
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "bars": len(data),
    }
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), META_KEY: json.dumps(meta).encode()}
    )
    return atomic_write(path, lambda tmp: _write_parquet(table, tmp))


def _discard(path: Path, reason: str) -> None:
    aside = path.with_name(path.name + CORRUPT_SUFFIX)
    try:
        os.replace(path, aside)
        where = f"moved aside to {aside.name}"
    except OSError:
        try:
            path.unlink(missing_ok=True)
            where = "deleted"
        except OSError:
            where = "left in place (to be overwritten)"
    logger.warning("cache file %s is unusable (%s); %s, downloading again", path, reason, where)


def _read_checked(path: Path, *, exchange: str, symbol: str, timeframe: str) -> CacheEntry:
    """Read and check one cache file; raise ``ValueError`` with the reason when unusable."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(f"not a readable parquet file: {exc}") from None
    raw_meta = (table.schema.metadata or {}).get(META_KEY)
    if raw_meta is None:
        raise ValueError("no lstm_backtrader metadata")
    try:
        meta: dict[str, Any] = json.loads(raw_meta)
    except ValueError:
        raise ValueError("metadata is not JSON") from None
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"cache format {meta.get('format')!r}, expected {FORMAT_VERSION}")
    expected = {"exchange": exchange, "symbol": symbol, "timeframe": timeframe}
    for key, value in expected.items():
        if meta.get(key) != value:
            raise ValueError(f"holds {key} {meta.get(key)!r}, expected {value!r}")
    names = set(table.column_names)
    missing = [c for c in (*OHLCV_COLUMNS, "timestamp") if c not in names]
    if missing:
        raise ValueError(f"missing column(s) {', '.join(missing)}")
    for col in OHLCV_COLUMNS:
        if not pa.types.is_floating(table.schema.field(col).type):
            raise ValueError(f"column {col} is {table.schema.field(col).type}, not float")
    if not pa.types.is_timestamp(table.schema.field("timestamp").type):
        raise ValueError("column timestamp does not hold timestamps")
    frame = table.to_pandas()
    if "timestamp" in frame.columns:
        frame = frame.set_index("timestamp")
    try:
        frame = validate_ohlcv(frame, source=str(path))
    except DataError as exc:
        raise ValueError(str(exc)) from None
    frame.index = frame.index.as_unit(INDEX_UNIT)
    try:
        covered = int(meta["covered_from_ms"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("metadata has no covered_from_ms") from None
    return CacheEntry(path, frame, covered, str(meta.get("fetched_at", "")))


def read_cache(path: Path, *, exchange: str, symbol: str, timeframe: str) -> CacheEntry | None:
    """The cached candles at ``path``, or ``None`` when absent or unusable.

    An unusable file is logged with a warning and moved aside (``<name>.corrupt``), so the
    caller downloads again; it is never used.
    """
    if not path.exists():
        return None
    try:
        return _read_checked(path, exchange=exchange, symbol=symbol, timeframe=timeframe)
    except ValueError as exc:
        _discard(path, str(exc))
    except Exception as exc:  # noqa: BLE001 - any reader failure means "re-download"
        _discard(path, f"{type(exc).__name__}: {exc}")
    return None


def merge_candles(old: pd.DataFrame | None, new: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Cached and newly fetched candles as one candle frame.

    Identical rows that appear in both are kept once; a timestamp with different values in the
    two is refused by :func:`~lstm_backtrader.backtests.data.validate.validate_ohlcv` (a
    ``DataError``).
    """
    if old is None or old.empty:
        return validate_ohlcv(new, source=source)
    if new.empty:
        return old
    both = pd.concat([old[list(OHLCV_COLUMNS)], new[list(OHLCV_COLUMNS)]])
    # Exact overlaps are expected (the last cached bar is fetched again): drop them quietly,
    # leaving validate_ohlcv to refuse conflicting ones.
    both = both[~(both.index.duplicated(keep="first") & both.reset_index().duplicated().to_numpy())]
    return validate_ohlcv(both, source=source)
