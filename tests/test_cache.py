"""The parquet candle cache: layout, atomic writes, corrupt files, merging."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lstm_backtrader.backtests.data import cache as cache_mod
from lstm_backtrader.backtests.data.cache import (
    ENV_VAR,
    META_KEY,
    cache_path,
    cache_root,
    merge_candles,
    read_cache,
    write_cache,
)
from lstm_backtrader.backtests.data.exchange import fetch_ohlcv
from lstm_backtrader.models.infra.errors import DataError
from tests.conftest import make_candles
from tests.fake_binance import FakeBinance, guard_loopback

KEY = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1d"}


def _path(root: Path) -> Path:
    return cache_path("binance", "BTC/USDT", "1d", root)


def _write(path: Path, frame: pd.DataFrame, covered_from_ms: int = 0) -> Path:
    return write_cache(path, frame, covered_from_ms=covered_from_ms, **KEY)


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# -- layout ---------------------------------------------------------------------------------


def test_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    default = cache_root()
    assert default.name == "ohlcv" and "lstm-backtrader" in str(default)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"


def test_file_names_are_safe(tmp_path: Path) -> None:
    assert _path(tmp_path) == tmp_path / "binance" / "BTC-USDT_1d.parquet"
    assert cache_path("Binance", "BTC/USDT:USDT", "4h", tmp_path).relative_to(tmp_path) == Path(
        "binance/BTC-USDT-USDT_4h.parquet"
    )
    # '1M' (month) must not collide with '1m' (minute) on case-insensitive file systems
    assert (
        cache_path("x", "A/B", "1M", tmp_path).name != cache_path("x", "A/B", "1m", tmp_path).name
    )
    sneaky = cache_path("../../etc", "../../passwd", "1d", tmp_path)
    assert sneaky.resolve().is_relative_to(tmp_path.resolve())


def test_roundtrip_with_metadata(tmp_path: Path) -> None:
    frame = make_candles(50)
    path = _write(_path(tmp_path), frame, covered_from_ms=123)
    entry = read_cache(path, **KEY)
    assert entry is not None
    pd.testing.assert_frame_equal(entry.frame, frame, check_freq=False, check_index_type=False)
    assert entry.frame.index.dtype == "datetime64[us, UTC]"
    assert entry.covered_from_ms == 123
    meta = json.loads(pq.read_schema(path).metadata[META_KEY])
    assert set(meta) == {
        "format",
        "exchange",
        "symbol",
        "timeframe",
        "covered_from_ms",
        "fetched_at",
        "bars",
    }
    assert meta["exchange"] == "binance" and meta["bars"] == 50
    assert _listing(tmp_path) == ["binance/BTC-USDT_1d.parquet"]


def test_missing_file_is_none_without_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert read_cache(_path(tmp_path), **KEY) is None
    assert not caplog.records


# -- crash safety ---------------------------------------------------------------------------


def test_crash_mid_write_keeps_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = make_candles(30)
    path = _write(_path(tmp_path), old)
    before = path.read_bytes()

    def half_then_crash(table: pa.Table, tmp: Path) -> None:
        pq.write_table(table, tmp)
        data = tmp.read_bytes()
        tmp.write_bytes(data[: len(data) // 2])
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(cache_mod, "_write_parquet", half_then_crash)
    with pytest.raises(OSError, match="simulated"):
        _write(path, make_candles(60))
    assert path.read_bytes() == before
    entry = read_cache(path, **KEY)
    assert entry is not None
    pd.testing.assert_frame_equal(entry.frame, old, check_freq=False, check_index_type=False)
    assert _listing(tmp_path) == ["binance/BTC-USDT_1d.parquet"]


def test_crash_mid_write_during_download(
    fake: FakeBinance, ex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.set_now("2024-01-01 05:00")
    first = fetch_ohlcv(ex, cache_dir=tmp_path, limit=1000)
    before = _path(tmp_path).read_bytes()

    def crash(table: pa.Table, tmp: Path) -> None:
        tmp.write_bytes(b"PAR1 half a file")
        raise KeyboardInterrupt  # the user pressed Ctrl-C while the cache was written

    monkeypatch.setattr(cache_mod, "_write_parquet", crash)
    fake.set_now("2025-08-26 05:00")
    with pytest.raises(KeyboardInterrupt):
        fetch_ohlcv(ex, cache_dir=tmp_path, limit=1000)
    assert _path(tmp_path).read_bytes() == before
    assert _listing(tmp_path) == ["binance/BTC-USDT_1d.parquet"]
    monkeypatch.undo()
    guard_loopback(monkeypatch)
    full = fetch_ohlcv(ex, cache_dir=tmp_path, limit=1000)
    pd.testing.assert_frame_equal(full.loc[: first.index[-1]], first)
    pd.testing.assert_frame_equal(full, fake.served_candles(), check_freq=False)


# -- corrupt files --------------------------------------------------------------------------


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00\x01 definitely not parquet \xff" * 40)


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _foreign_schema(path: Path) -> None:
    pq.write_table(pa.table({"price": [1.0, 2.0]}), path)


def _no_metadata(path: Path) -> None:
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({}), path)


def _wrong_key(path: Path) -> None:
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[META_KEY])
    meta["symbol"] = "ETH/USDT"
    pq.write_table(
        table.replace_schema_metadata({**table.schema.metadata, META_KEY: json.dumps(meta)}), path
    )


def _invalid_rows(path: Path) -> None:
    table = pq.read_table(path)
    df = table.to_pandas()
    df.iloc[5, df.columns.get_loc("high")] = df["low"].iloc[5] / 2  # high below low
    bad = pa.Table.from_pandas(df, preserve_index=True)
    pq.write_table(bad.replace_schema_metadata(table.schema.metadata), path)


CORRUPTIONS = {
    "garbage": _garbage,
    "truncated": _truncated,
    "foreign-schema": _foreign_schema,
    "no-metadata": _no_metadata,
    "wrong-key": _wrong_key,
    "failing-validation": _invalid_rows,
}


@pytest.mark.parametrize("damage", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_corrupt_file_is_set_aside_and_downloaded_again(
    damage, fake: FakeBinance, ex, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fetch_ohlcv(ex, cache_dir=tmp_path, limit=1000)
    path = _path(tmp_path)
    damage(path)
    requests_before = len(fake.kline_requests())

    caplog.set_level(logging.WARNING)
    frame = fetch_ohlcv(ex, cache_dir=tmp_path, limit=1000)

    pd.testing.assert_frame_equal(frame, fake.served_candles(), check_freq=False)
    starts = [int(r.params["startTime"]) for r in fake.kline_requests()[requests_before:]]
    assert starts[0] == 0  # downloaded from scratch, not resumed from the broken file
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "is unusable" in r.getMessage() and "downloading again" in r.getMessage() for r in warnings
    )
    assert (path.parent / (path.name + ".corrupt")).exists()
    assert read_cache(path, **KEY) is not None  # the fresh file is good
    assert _listing(tmp_path) == [
        "binance/BTC-USDT_1d.parquet",
        "binance/BTC-USDT_1d.parquet.corrupt",
    ]


# -- merging --------------------------------------------------------------------------------


def test_merge_drops_identical_overlap_and_refuses_conflicts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    full = make_candles(40)
    merged = merge_candles(full.iloc[:25], full.iloc[20:], source="t")
    pd.testing.assert_frame_equal(merged, full, check_freq=False)
    assert "duplicate" not in caplog.text  # an expected overlap is not worth a warning

    changed = full.iloc[20:].copy()
    changed.iloc[2, changed.columns.get_loc("close")] *= 1.001
    with pytest.raises(DataError, match="different values"):
        merge_candles(full.iloc[:25], changed, source="t")


def test_merge_with_nothing_cached() -> None:
    frame = make_candles(10)
    pd.testing.assert_frame_equal(merge_candles(None, frame, source="t"), frame, check_freq=False)
    pd.testing.assert_frame_equal(merge_candles(frame, frame.iloc[:0], source="t"), frame)
