"""load_ohlcv: every supported file layout, and a clear error for every bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from lstm_backtrader.backtests.data.files import load_ohlcv
from lstm_backtrader.models.infra.errors import DataError

# Three real BTC/USDT daily candles (Binance, 2021-01-01..03) written in each layout below.
EXPECTED = pd.DataFrame(
    {
        "open": [28923.63, 29331.70, 32176.57],
        "high": [29600.00, 33300.00, 34778.11],
        "low": [28624.57, 28946.53, 31962.99],
        "close": [29331.69, 32178.33, 33000.05],
        "volume": [54182.925011, 129993.873362, 120957.566750],
    },
    index=pd.DatetimeIndex(
        ["2021-01-01", "2021-01-02", "2021-01-03"], tz="UTC", name="timestamp"
    ).as_unit("us"),
)

PLAIN_ISO = """timestamp,open,high,low,close,volume
2021-01-01,28923.63,29600.00,28624.57,29331.69,54182.925011
2021-01-02,29331.70,33300.00,28946.53,32178.33,129993.873362
2021-01-03,32176.57,34778.11,31962.99,33000.05,120957.566750
"""
PLAIN_EPOCH_MS = PLAIN_ISO.replace("2021-01-01", "1609459200000").replace(
    "2021-01-02", "1609545600000").replace("2021-01-03", "1609632000000")  # fmt: skip
PLAIN_EPOCH_S = PLAIN_ISO.replace("2021-01-01", "1609459200").replace(
    "2021-01-02", "1609545600").replace("2021-01-03", "1609632000")  # fmt: skip
BINANCE_DUMP = """1609459200000,28923.63000000,29600.00000000,28624.57000000,29331.69000000,54182.92501100,1609545599999,1582526723.22011532,1314910,27455.45103500,801789549.77002049,0
1609545600000,29331.70000000,33300.00000000,28946.53000000,32178.33000000,129993.87336200,1609631999999,4073683530.29453232,2245922,68095.18495300,2133921049.34155155,0
1609632000000,32176.57000000,34778.11000000,31962.99000000,33000.05000000,120957.56675000,1609718399999,4039684853.26218367,2369698,59280.08802600,1984207556.88005436,0
"""
BINANCE_DUMP_US = BINANCE_DUMP.replace("1609459200000,", "1609459200000000,").replace(
    "1609545600000,", "1609545600000000,").replace("1609632000000,", "1609632000000000,")  # fmt: skip
BINANCE_WITH_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore\n" + BINANCE_DUMP
)
CDD = """https://www.CryptoDataDownload.com
unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT,tradecount
1609632000000,2021-01-03 00:00:00,BTC/USDT,32176.57,34778.11,31962.99,33000.05,120957.56675,4039684853.26,2369698
1609545600000,2021-01-02 00:00:00,BTC/USDT,29331.70,33300.00,28946.53,32178.33,129993.873362,4073683530.29,2245922
1609459200,2021-01-01 00:00:00,BTC/USDT,28923.63,29600.00,28624.57,29331.69,54182.925011,1582526723.22,1314910
"""
CDD_OLD = """Created on 01-04-2021,https://www.CryptoDataDownload.com
date,symbol,open,high,low,close,volume_btc,volume
2021-01-03,BTCUSDT,32176.57,34778.11,31962.99,33000.05,120957.56675,4039684853.26
2021-01-02,BTCUSDT,29331.70,33300.00,28946.53,32178.33,129993.873362,4073683530.29
2021-01-01,BTCUSDT,28923.63,29600.00,28624.57,29331.69,54182.925011,1582526723.22
"""
YAHOO = """Date,Open,High,Low,Close,Adj Close,Volume
2021-01-01,28923.63,29600.00,28624.57,29331.69,29331.69,54182.925011
2021-01-02,29331.70,33300.00,28946.53,32178.33,32178.33,129993.873362
2021-01-03,32176.57,34778.11,31962.99,33000.05,33000.05,120957.566750
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("plain.csv", PLAIN_ISO),
        ("plain_ms.csv", PLAIN_EPOCH_MS),
        ("plain_s.csv", PLAIN_EPOCH_S),
        ("plain.csv.gz", PLAIN_ISO),
        ("BTCUSDT-1d-2021-01.csv", BINANCE_DUMP),
        ("BTCUSDT-1d-2025-01.csv", BINANCE_DUMP_US),
        ("binance_header.csv", BINANCE_WITH_HEADER),
        ("Binance_BTCUSDT_d.csv", CDD),
        ("Coinbase_BTCUSD_d.csv", CDD_OLD),
        ("BTC-USD.csv", YAHOO),
        ("yahoo.csv.gz", YAHOO),
    ],
)
def test_layouts(tmp_path: Path, name: str, text: str) -> None:
    frame = load_ohlcv(_write(tmp_path, name, text))
    pd.testing.assert_frame_equal(frame, EXPECTED)


def test_cdd_hourly_dates(tmp_path: Path) -> None:
    text = """Timestamps are UTC timezone,https://www.CryptoDataDownload.com
date,symbol,open,high,low,close,volume_btc,volume
2019-10-17 01-PM,BTCUSD,8051,8056.83,8021.23,8035.88,61.25,492394.56
2019-10-17 12-PM,BTCUSD,7975.89,8070,7975.89,8051,370.45,2971610.86
2019-10-17 11-AM,BTCUSD,7990,8000,7970,7975.89,10.5,83000.1
"""
    frame = load_ohlcv(_write(tmp_path, "h.csv", text))
    assert list(frame.index.strftime("%H:%M")) == ["11:00", "12:00", "13:00"]
    assert frame["volume"].tolist() == [10.5, 370.45, 61.25]


def test_parquet_with_index_and_with_column(tmp_path: Path) -> None:
    EXPECTED.to_parquet(tmp_path / "a.parquet")
    pd.testing.assert_frame_equal(load_ohlcv(tmp_path / "a.parquet"), EXPECTED)
    EXPECTED.reset_index().to_parquet(tmp_path / "b.parquet")
    pd.testing.assert_frame_equal(load_ohlcv(tmp_path / "b.parquet"), EXPECTED)


def test_unknown_layout_lists_found_and_needed(tmp_path: Path) -> None:
    path = _write(tmp_path, "odd.csv", "when,o,h,l,c,v\n2021-01-01,1,2,0.5,1.5,10\n")
    with pytest.raises(DataError) as info:
        load_ohlcv(path)
    msg = str(info.value)
    assert msg.startswith(
        f"{path}: unrecognised candle layout; found columns [when, o, h, l, c, v]"
    )
    assert (
        "missing a time column (timestamp, date, open_time or unix), open, high, low, close, volume"
        in msg
    )


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (PLAIN_ISO.replace("2021-01-02,", "yesterday,"),
         r"column 'timestamp' has 1 value\(s\) that are not dates .* 'yesterday' at data row 2"),
        (PLAIN_ISO.replace("32178.33", ""), r"missing or non-numeric close, first at 2021-01-02"),
        (PLAIN_ISO.replace("32178.33", "n/a"), r"missing or non-numeric close"),
        (PLAIN_ISO.replace("33300.00", "30000.00"), r"high/low do not contain open and close, first at 2021-01-02"),
        (PLAIN_ISO.replace("28624.57", "-1"), r"zero or negative price, first at 2021-01-01"),
        (PLAIN_ISO + "2021-01-03,1,2,0.5,1.5,10\n", r"appear more than once with different values, first at 2021-01-03"),
        ("timestamp,open,high,low,close,volume\n", r"no candles"),
        ("1,2,3\n4,5,6\n", r"headerless file with 3 columns is not a known layout"),
    ],
)  # fmt: skip
def test_bad_input_errors_are_one_line(tmp_path: Path, text: str, pattern: str) -> None:
    path = _write(tmp_path, "bad.csv", text)
    with pytest.raises(DataError, match=pattern) as info:
        load_ohlcv(path)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_exact_duplicate_rows_are_dropped(tmp_path: Path) -> None:
    text = PLAIN_ISO + PLAIN_ISO.splitlines()[2] + "\n"
    pd.testing.assert_frame_equal(load_ohlcv(_write(tmp_path, "d.csv", text)), EXPECTED)


def test_missing_empty_and_damaged_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: no such file"):
        load_ohlcv(tmp_path / "nope.csv")
    with pytest.raises(DataError, match=r"empty\.csv: the file is empty"):
        load_ohlcv(_write(tmp_path, "empty.csv", ""))
    (tmp_path / "x.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match=r"x\.parquet: not a readable parquet file"):
        load_ohlcv(tmp_path / "x.parquet")
    good = gzip.compress(PLAIN_ISO.encode())
    (tmp_path / "t.csv.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"t\.csv\.gz: (damaged gzip file|cannot parse as CSV)"):
        load_ohlcv(tmp_path / "t.csv.gz")
    (tmp_path / "bin.csv").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError, match=r"bin\.csv: not a text CSV file"):
        load_ohlcv(tmp_path / "bin.csv")


def test_real_files(btc_1d_path: Path, btc_1d_raw: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(load_ohlcv(btc_1d_path), btc_1d_raw, check_freq=False)
