"""validate_ohlcv: the one validation every loader goes through."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.backtests.data.validate import (
    describe_ohlcv,
    find_gaps,
    infer_timeframe,
    timeframe_delta,
    timeframe_label,
    validate_ohlcv,
)
from lstm_backtrader.models.infra.errors import DataError
from tests.conftest import make_candles


def test_valid_frame_passes_unchanged(candles: pd.DataFrame) -> None:
    out = validate_ohlcv(candles, source="x")
    pd.testing.assert_frame_equal(out, candles, check_freq=False)
    assert str(out.index.tz) == "UTC"
    assert out.index.name == "timestamp"
    assert list(out.columns) == ["open", "high", "low", "close", "volume"]
    assert all(dt == np.float64 for dt in out.dtypes)


def test_timestamp_column_and_naive_times_are_utc() -> None:
    raw = make_candles(5).reset_index()
    raw["timestamp"] = raw["timestamp"].dt.tz_localize(None)
    out = validate_ohlcv(raw, source="x")
    assert out.index[0] == pd.Timestamp("2020-01-01", tz="UTC")


def test_other_timezones_are_converted_not_relabelled() -> None:
    raw = make_candles(3)
    raw.index = raw.index.tz_convert("Asia/Tokyo")
    out = validate_ohlcv(raw)
    assert out.index[0] == pd.Timestamp("2020-01-01 00:00", tz="UTC")


def test_unsorted_rows_are_sorted(candles: pd.DataFrame) -> None:
    shuffled = candles.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(validate_ohlcv(shuffled), candles, check_freq=False)


def test_exact_duplicates_dropped_with_warning(candles, caplog) -> None:
    doubled = pd.concat([candles, candles.iloc[[5, 9]]])
    with caplog.at_level(logging.WARNING):
        out = validate_ohlcv(doubled, source="d.csv")
    pd.testing.assert_frame_equal(out, candles, check_freq=False)
    assert "d.csv: dropped 2 exact duplicate row(s)" in caplog.text


def test_conflicting_duplicates_are_an_error(candles) -> None:
    other = candles.iloc[[7]].copy()
    other["close"] = other["close"] * 1.01
    other["high"] = other[["high", "close"]].max(axis=1)
    with pytest.raises(
        DataError, match=r"^c\.csv: 1 timestamp\(s\) .* different values, first at 2020-01-08"
    ):
        validate_ohlcv(pd.concat([candles, other]), source="c.csv")


@pytest.mark.parametrize(
    ("column", "value", "pattern"),
    [
        ("close", np.nan, r"missing or non-numeric close, first at 2020-01-11"),
        ("open", 0.0, r"zero or negative price, first at 2020-01-11"),
        ("low", -5.0, r"zero or negative price"),
        ("volume", -1.0, r"negative volume, first at 2020-01-11"),
    ],
)
def test_bad_values_name_the_first_row(candles, column, value, pattern) -> None:
    bad = candles.copy()
    bad.iloc[10, bad.columns.get_loc(column)] = value
    with pytest.raises(DataError, match=r"^f\.csv: .*" + pattern):
        validate_ohlcv(bad, source="f.csv")


def test_high_below_close_is_an_error(candles) -> None:
    bad = candles.copy()
    bad.iloc[3, bad.columns.get_loc("high")] = bad["close"].iloc[3] * 0.9
    bad.iloc[20, bad.columns.get_loc("low")] = bad["open"].iloc[20] * 1.1
    with pytest.raises(DataError) as info:
        validate_ohlcv(bad, source="hl.csv")
    msg = str(info.value)
    assert "\n" not in msg
    assert "2 row(s) whose high/low do not contain open and close" in msg
    assert "first at 2020-01-04, 2020-01-21" in msg


def test_missing_columns_are_listed(candles) -> None:
    with pytest.raises(
        DataError, match=r"missing column\(s\) volume; found open, high, low, close"
    ):
        validate_ohlcv(candles.drop(columns="volume"), source="m.csv")


def test_gaps_reported_not_filled(candles, caplog) -> None:
    holed = candles.drop(candles.index[[50, 51, 52, 100]])
    with caplog.at_level(logging.WARNING):
        out = validate_ohlcv(holed, source="g.csv")
    assert len(out) == len(candles) - 4
    assert "2 gap(s) in the 1d grid, 4 bar(s) missing, largest 4 days" in caplog.text
    gaps = find_gaps(out.index)
    assert (gaps.gaps, gaps.missing_bars) == (2, 4)
    assert gaps.largest == pd.Timedelta(days=4)
    assert gaps.largest_at == candles.index[53]


def test_timeframe_inference_and_labels() -> None:
    assert infer_timeframe(make_candles(10, freq="2h").index) == pd.Timedelta(hours=2)
    assert timeframe_label(pd.Timedelta(hours=2)) == "2h"
    assert timeframe_label(pd.Timedelta(days=1)) == "1d"
    assert timeframe_label(pd.Timedelta(minutes=15)) == "15m"
    assert timeframe_label(pd.Timedelta(weeks=1)) == "1w"
    assert timeframe_delta("4h") == pd.Timedelta(hours=4)
    with pytest.raises(DataError, match="timeframe '1M' is not understood"):
        timeframe_delta("1M")


def test_describe(candles) -> None:
    report = describe_ohlcv(candles)
    assert (report.bars, report.timeframe, report.gaps.gaps) == (300, "1d", 0)
    assert report.end == candles.index[-1]


def test_input_is_not_modified(candles) -> None:
    shuffled = candles.sample(frac=1.0, random_state=2)
    before = shuffled.copy()
    validate_ohlcv(shuffled)
    pd.testing.assert_frame_equal(shuffled, before)


def test_real_daily_data_is_clean(btc_1d_raw) -> None:
    out = validate_ohlcv(btc_1d_raw, source="btc_usdt_1d_binance.csv")
    report = describe_ohlcv(out)
    assert (report.bars, report.timeframe, report.gaps.gaps) == (2931, "1d", 0)


# --------------------------------------------------------------------------- issue 11: edges
@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("close", np.inf, "1 row(s) with an infinite close, first at 2020-01-04"),
        ("volume", np.inf, "1 row(s) with an infinite volume, first at 2020-01-04"),
        ("high", -np.inf, "1 row(s) with an infinite high, first at 2020-01-04"),
        (
            "close",
            1e300,
            "1 row(s) with a price above 1e+12, first at 2020-01-04 (high=1e+300, close=1e+300)",
        ),
        ("volume", 1e300, "1 row(s) with a volume above 1e+18, first at 2020-01-04"),
    ],
)
def test_non_finite_and_overflowing_values_name_row_and_column(
    candles: pd.DataFrame, column: str, value: float, message: str
) -> None:
    bad = candles.copy()
    bad.iloc[3, bad.columns.get_loc(column)] = value
    if column == "close" and np.isfinite(value):
        bad.iloc[3, bad.columns.get_loc("high")] = value
    with pytest.raises(DataError) as info:
        validate_ohlcv(bad, source="f.csv")
    assert str(info.value).startswith("f.csv: ") and message in str(info.value)
    assert "\n" not in str(info.value)


def test_irregular_grid_is_an_error_naming_the_first_bad_rows() -> None:
    """Timezone offsets shifted on alternate rows: 29h/19h spacings, never a whole bar."""
    raw = make_candles(40)
    shifted = raw.index.to_series()
    shifted.iloc[1::2] += pd.Timedelta(hours=5)
    raw.index = pd.DatetimeIndex(shifted, name="timestamp")
    with pytest.raises(DataError, match=r"f.csv: irregular time grid: .* first at 2020-01-0[23]"):
        validate_ohlcv(raw, source="f.csv")


def test_gaps_of_whole_bars_are_not_irregular(candles: pd.DataFrame) -> None:
    holed = candles.drop(candles.index[10:13])
    assert find_gaps(validate_ohlcv(holed).index).missing_bars == 3


@pytest.mark.parametrize("freq", ["1s", "30s"])
def test_second_candles_work_end_to_end_in_annualisation(freq: str) -> None:
    from lstm_backtrader.backtests.simulation import data_periods_per_year

    frame = validate_ohlcv(make_candles(50, freq=freq), source="s.csv")
    assert describe_ohlcv(frame).timeframe == freq
    assert data_periods_per_year(frame) == 365 * 86400 / pd.Timedelta(freq).total_seconds()


def test_sub_second_and_monthly_candles_are_refused_at_load() -> None:
    with pytest.raises(DataError, match="shortest supported timeframe is 1 second"):
        validate_ohlcv(make_candles(20, freq="500ms"), source="ms.csv")
    monthly = make_candles(24)
    monthly.index = pd.date_range("2020-01-01", periods=24, freq="MS", tz="UTC", name="timestamp")
    with pytest.raises(DataError, match="calendar-month candles"):
        validate_ohlcv(monthly, source="m.csv")


def test_one_candle_names_the_file() -> None:
    frame = validate_ohlcv(make_candles(1), source="one.csv")
    with pytest.raises(DataError, match="^one.csv: cannot infer a timeframe from 1 candle"):
        describe_ohlcv(frame, source="one.csv")
