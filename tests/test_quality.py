"""Noteworthy but valid bars: counted and dated, never altered."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from lstm_backtrader.backtests.data.quality import EXTREME_SCALES, check_quality, log_quality
from lstm_backtrader.backtests.data.validate import describe_ohlcv, validate_ohlcv
from tests.conftest import make_candles


def test_zero_volume_flat_bars_and_extreme_moves_are_counted_with_dates(caplog) -> None:
    raw = make_candles(200, seed=4)
    raw.iloc[10, raw.columns.get_loc("volume")] = 0.0
    raw.iloc[20, raw.columns.get_loc("volume")] = 0.0
    flat = raw.iloc[30]["close"]
    raw.iloc[30] = [flat, flat, flat, flat, 5.0]
    # a bad print: one bar jumps x5.5 and comes back
    raw.iloc[100, raw.columns.get_loc("close")] *= 5.5
    raw.iloc[100, raw.columns.get_loc("high")] = raw.iloc[100]["close"]
    before = raw.copy()
    frame = validate_ohlcv(raw, source="q.csv")
    pd.testing.assert_frame_equal(frame, before, check_freq=False)  # never altered
    report = describe_ohlcv(frame).quality
    assert report.zero_volume.count == 2 and report.zero_volume.first[0] == raw.index[10]
    assert report.flat.count == 1 and report.flat.first == (raw.index[30],)
    # the jump up and the return down are both extreme
    assert report.extreme_moves.count == 2
    assert report.extreme_moves.first == (raw.index[100], raw.index[101])
    rets = np.diff(np.log(raw["close"].to_numpy()))
    mad = 1.4826 * np.median(np.abs(rets - np.median(rets)))
    assert report.extreme_threshold == EXTREME_SCALES * mad
    with caplog.at_level(logging.WARNING):
        log_quality(report, "q.csv")
    assert "q.csv: 2 bar(s) with zero volume, first at 2020-01-11, 2020-01-21" in caplog.text
    assert "q.csv: 2 extreme move(s)" in caplog.text
    doc = report.to_dict()
    assert doc["zero_volume"]["count"] == 2 and doc["flat_bars"]["first"] == [
        raw.index[30].isoformat()
    ]


def test_clean_data_reports_nothing() -> None:
    report = check_quality(make_candles(300, seed=1))
    assert report.lines() == []
    assert report.zero_volume.count == report.flat.count == report.extreme_moves.count == 0
