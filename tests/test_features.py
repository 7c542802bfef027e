"""Causal features, the forward-return target and the window helpers (no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.features import (
    FEATURE_REGISTRY,
    compute_features,
    feature_warmup,
    gather_windows,
    hash_candles,
    rows_covered,
    target_fwd_ret,
    valid_window_ends,
)
from lstm_backtrader.models.infra.errors import InputError
from tests.conftest import make_candles

NAMES = ("log_return", "hl_range", "log_volume_change")


def _splice(base: pd.DataFrame, t: int, seed: int) -> pd.DataFrame:
    """``base`` with every bar after position t replaced by other (valid) candles."""
    tail = make_candles(len(base) - t - 1, seed=seed, price=float(base["close"].iloc[t]) * 1.3)
    tail.index = base.index[t + 1 :]
    return pd.concat([base.iloc[: t + 1], tail])


def test_registry_values_match_formulas(candles: pd.DataFrame) -> None:
    feats = compute_features(candles, NAMES)
    c, h, lo, v = (candles[k].to_numpy() for k in ("close", "high", "low", "volume"))
    np.testing.assert_allclose(feats["log_return"].to_numpy()[1:], np.log(c[1:] / c[:-1]))
    np.testing.assert_allclose(feats["hl_range"].to_numpy(), np.log(h / lo))
    np.testing.assert_allclose(
        feats["log_volume_change"].to_numpy()[1:], np.log1p(v[1:]) - np.log1p(v[:-1])
    )
    assert np.isnan(feats["log_return"].iloc[0]) and np.isnan(feats["log_volume_change"].iloc[0])
    assert (feats["hl_range"] >= 0).all()
    assert list(feats.columns) == list(NAMES) and feats.index.equals(candles.index)
    assert feature_warmup(NAMES) == 1 and feature_warmup(("hl_range",)) == 0


@pytest.mark.parametrize("t", [50, 150, 298])
def test_features_at_t_ignore_later_bars(candles: pd.DataFrame, t: int) -> None:
    full = compute_features(candles, NAMES).iloc[: t + 1]
    truncated = compute_features(candles.iloc[: t + 1], NAMES)
    changed = compute_features(_splice(candles, t, seed=7), NAMES).iloc[: t + 1]
    pd.testing.assert_frame_equal(full, truncated, check_exact=True)
    pd.testing.assert_frame_equal(full, changed, check_exact=True)


def test_zero_volume_gives_finite_features(candles: pd.DataFrame) -> None:
    frame = candles.copy()
    frame.iloc[10:13, frame.columns.get_loc("volume")] = 0.0
    feats = compute_features(frame, NAMES).iloc[1:]
    assert np.isfinite(feats.to_numpy()).all()


@pytest.mark.parametrize("h", [1, 3])
def test_target_is_named_forward_log_return(candles: pd.DataFrame, h: int) -> None:
    y = target_fwd_ret(candles["close"], h)
    c = candles["close"].to_numpy()
    assert y.name == f"target_fwd_ret_{h}"
    np.testing.assert_allclose(y.to_numpy()[:-h], np.log(c[h:] / c[:-h]), rtol=0, atol=0)
    assert y.iloc[-h:].isna().all() and y.iloc[:-h].notna().all()
    with pytest.raises(InputError):
        target_fwd_ret(candles["close"], 0)


def test_extra_column_features_and_unknown_names(candles: pd.DataFrame) -> None:
    frame = candles.assign(my_signal=np.arange(len(candles), dtype=float))
    frame.iloc[5, frame.columns.get_loc("my_signal")] = np.inf
    feats = compute_features(frame, ("log_return", "my_signal"))
    assert np.isnan(feats["my_signal"].iloc[5])  # inf becomes NaN: windows over it are invalid
    assert feats["my_signal"].iloc[6] == 6.0
    with pytest.raises(InputError, match="nope"):
        compute_features(candles, ("nope",))
    with pytest.raises(InputError):
        compute_features(candles.reset_index(), NAMES)
    assert set(FEATURE_REGISTRY) >= set(NAMES)


def test_window_helpers() -> None:
    values = np.arange(20, dtype=float).reshape(10, 2)
    values[4, 1] = np.nan
    ends = valid_window_ends(values, 3)
    assert ends.tolist() == [2, 3, 7, 8, 9]  # windows over row 4 are invalid
    win = gather_windows(values, ends, 3)
    assert win.shape == (5, 3, 2)
    np.testing.assert_array_equal(win[2], values[5:8])
    mask = rows_covered(np.array([2, 3]), 3, 10)
    assert mask.tolist() == [True] * 4 + [False] * 6
    assert valid_window_ends(values[:2], 3).size == 0


def test_hash_candles_changes_with_any_value(candles: pd.DataFrame) -> None:
    other = candles.copy()
    other.iloc[-1, 0] += 1e-9
    assert hash_candles(candles) == hash_candles(candles.copy())
    assert hash_candles(candles) != hash_candles(other)


def test_hash_covers_what_calendar_features_and_joined_columns_read(candles: pd.DataFrame) -> None:
    """The fold cache key hashes the training slice with :func:`hash_candles`: it must change
    when only the bar times move (calendar features read them) or only a joined column does."""
    shifted = candles.set_axis(candles.index + pd.Timedelta("1h"))
    assert hash_candles(shifted) != hash_candles(candles)  # same prices, other open times
    assert not np.allclose(
        compute_features(shifted, ["hour_sin"]), compute_features(candles, ["hour_sin"])
    )
    joined = candles.assign(eth_log_return=0.01)
    changed = joined.copy()
    changed.iloc[3, changed.columns.get_loc("eth_log_return")] = 0.02
    assert hash_candles(joined) != hash_candles(changed) != hash_candles(candles)
