"""Causal features, the forward-return target and the sliding windows built from them.

Every feature value at bar t is computed from bars <= t only (a feature of bar t may be NaN
when it needs bars before the start of the frame: the *warm-up*). The only quantity that
looks into the future is the target, and its name says so: ``target_fwd_ret_{h}``.

Feature registry (:data:`FEATURE_REGISTRY`)
-------------------------------------------
``log_return``
    ``log(close[t] / close[t-1])`` (warm-up 1 bar).
``hl_range``
    ``log(high[t] / low[t])``, the bar's range, >= 0 (warm-up 0).
``log_volume_change``
    ``log1p(volume[t]) - log1p(volume[t-1])`` (warm-up 1 bar); ``log1p`` keeps zero-volume
    bars of real data finite.
``dow_sin``, ``dow_cos``, ``hour_sin``, ``hour_cos``
    Calendar features: the day of week (Monday = 0) and the hour of day (UTC) of the bar's
    *open* time on the unit circle (``sin``/``cos`` of ``2π · value / period``), so Sunday sits
    next to Monday and 23:00 next to 00:00. The open time is known before the bar closes; on
    daily bars the hour features are constant (and scale to 0).

Any other feature name must be a numeric column already present in the candle frame (e.g. an
indicator the caller computed causally). Such columns are used as they are: the caller is
responsible for them using bars <= t only; non-finite values make the windows that contain
them invalid (no forecast, no training sample). Names, not callables, keep configs
JSON-serialisable; :func:`register_feature` adds a named function to this process's registry.

No TensorFlow import here.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

FeatureFn = Callable[[pd.DataFrame], pd.Series]


def log_return(candles: pd.DataFrame) -> pd.Series:
    """``log(close[t] / close[t-1])``; NaN on the first bar."""
    close = candles["close"].to_numpy(dtype="float64")
    out = np.full(len(close), np.nan)
    out[1:] = np.log(close[1:] / close[:-1])
    return pd.Series(out, index=candles.index, name="log_return")


def hl_range(candles: pd.DataFrame) -> pd.Series:
    """``log(high[t] / low[t])``: the bar's relative range."""
    high = candles["high"].to_numpy(dtype="float64")
    low = candles["low"].to_numpy(dtype="float64")
    return pd.Series(np.log(high / low), index=candles.index, name="hl_range")


def log_volume_change(candles: pd.DataFrame) -> pd.Series:
    """``log1p(volume[t]) - log1p(volume[t-1])``; NaN on the first bar, finite on zero volume."""
    lv = np.log1p(candles["volume"].to_numpy(dtype="float64"))
    out = np.full(len(lv), np.nan)
    out[1:] = lv[1:] - lv[:-1]
    return pd.Series(out, index=candles.index, name="log_volume_change")


def _open_times(candles: pd.DataFrame) -> pd.DatetimeIndex:
    index = candles.index
    if not isinstance(index, pd.DatetimeIndex):
        raise InputError("calendar features need the bars' times: a frame with a DatetimeIndex")
    return index.tz_convert("UTC") if index.tz is not None else index


def _cyclical(candles: pd.DataFrame, values: np.ndarray, period: float, fn: Callable) -> pd.Series:
    return pd.Series(fn(2.0 * np.pi * values / period), index=candles.index, dtype="float64")


def dow_sin(candles: pd.DataFrame) -> pd.Series:
    """``sin(2π · day_of_week / 7)`` of the bar's open time (UTC; Monday = 0)."""
    days = _open_times(candles).dayofweek.to_numpy(dtype="float64")
    return _cyclical(candles, days, 7.0, np.sin).rename("dow_sin")


def dow_cos(candles: pd.DataFrame) -> pd.Series:
    """``cos(2π · day_of_week / 7)`` of the bar's open time (UTC; Monday = 0)."""
    days = _open_times(candles).dayofweek.to_numpy(dtype="float64")
    return _cyclical(candles, days, 7.0, np.cos).rename("dow_cos")


def _hours(candles: pd.DataFrame) -> np.ndarray:
    t = _open_times(candles)
    return (t.hour + t.minute / 60.0).to_numpy(dtype="float64")


def hour_sin(candles: pd.DataFrame) -> pd.Series:
    """``sin(2π · hour / 24)`` of the bar's open time (UTC, minutes as a fraction)."""
    return _cyclical(candles, _hours(candles), 24.0, np.sin).rename("hour_sin")


def hour_cos(candles: pd.DataFrame) -> pd.Series:
    """``cos(2π · hour / 24)`` of the bar's open time (UTC, minutes as a fraction)."""
    return _cyclical(candles, _hours(candles), 24.0, np.cos).rename("hour_cos")


#: name -> (function, warm-up bars). Functions must be causal.
FEATURE_REGISTRY: dict[str, tuple[FeatureFn, int]] = {
    "log_return": (log_return, 1),
    "hl_range": (hl_range, 0),
    "log_volume_change": (log_volume_change, 1),
    "dow_sin": (dow_sin, 0),
    "dow_cos": (dow_cos, 0),
    "hour_sin": (hour_sin, 0),
    "hour_cos": (hour_cos, 0),
}

#: The calendar features: read the bar's open time (known before the bar closes), no price.
CALENDAR_FEATURES: frozenset[str] = frozenset({"dow_sin", "dow_cos", "hour_sin", "hour_cos"})

_BASE_COLUMNS = ("open", "high", "low", "close", "volume")

#: The built-in features, which read the OHLCV columns only (no time index, no other column):
#: the ones :func:`ohlcv_feature_matrix` computes from bare rows.
OHLCV_FEATURES: frozenset[str] = frozenset(FEATURE_REGISTRY) - CALENDAR_FEATURES


def register_feature(name: str, fn: FeatureFn, warmup: int) -> None:
    """Add a causal feature function to this process's registry.

    A model saved with such a feature can only be loaded where the same name is registered.
    """
    if name in _BASE_COLUMNS:
        raise InputError(f"feature name {name!r} is a candle column: choose another name")
    FEATURE_REGISTRY[name] = (fn, int(warmup))


def feature_warmup(names: Sequence[str]) -> int:
    """Largest warm-up (bars before the first valid value) over ``names``; 0 for columns."""
    return max((FEATURE_REGISTRY[n][1] for n in names if n in FEATURE_REGISTRY), default=0)


def check_candles(
    candles: object, *, columns: Sequence[str] = ("close",), what: str = "candles"
) -> pd.DataFrame:
    """Minimal contract check (type, sorted DatetimeIndex, columns); raises :class:`InputError`."""
    if not isinstance(candles, pd.DataFrame):
        raise InputError(f"{what}: expected a pandas DataFrame, got {type(candles).__name__}")
    if not isinstance(candles.index, pd.DatetimeIndex):
        raise InputError(f"{what}: the index is not a DatetimeIndex; validate the frame first")
    if not candles.index.is_monotonic_increasing or candles.index.has_duplicates:
        raise InputError(f"{what}: the index is not strictly increasing; validate the frame first")
    missing = [c for c in columns if c not in candles.columns]
    if missing:
        raise InputError(f"{what}: missing column(s) {', '.join(missing)}")
    return candles


def check_feature_names(names: Sequence[str], columns: Sequence[str]) -> None:
    """Refuse a feature name that is neither registered nor a column of the candle frame.

    Raises
    ------
    InputError
        One line naming the feature, the registered ones and the frame's columns.
    """
    for name in names:
        if name not in FEATURE_REGISTRY and name not in columns:
            raise InputError(
                f"[model] features: {name!r} is neither a registered feature "
                f"({', '.join(FEATURE_REGISTRY)}) nor a column of the data "
                f"({', '.join(map(str, columns))})"
            )


def feature_matrix(candles: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """The features as a float64 array ``(len(candles), len(names))`` — what
    :func:`compute_features` holds, without building a frame (the bar-by-bar path)."""
    check_candles(candles, columns=())
    out = np.empty((len(candles), len(names)), dtype="float64")
    for j, name in enumerate(names):
        if name in FEATURE_REGISTRY:
            fn, _ = FEATURE_REGISTRY[name]
            try:
                values = fn(candles).to_numpy(dtype="float64")
            except KeyError as exc:
                raise InputError(f"feature {name!r} needs the candle column {exc}") from None
        elif name in candles.columns:
            try:
                values = candles[name].to_numpy(dtype="float64")
            except (TypeError, ValueError):
                raise InputError(f"feature column {name!r} is not numeric") from None
        else:
            raise InputError(
                f"feature {name!r} is neither in the registry "
                f"({', '.join(FEATURE_REGISTRY)}) nor a column of the candle frame"
            )
        out[:, j] = values
    out[~np.isfinite(out)] = np.nan
    return out


_OHLCV_INDEX = pd.Index(list(_BASE_COLUMNS))


def ohlcv_feature_matrix(rows: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """:func:`feature_matrix` of bare ``open, high, low, close, volume`` rows (an array, in that
    column order): the bar-by-bar path, which has no frame. Built-in features only
    (:data:`OHLCV_FEATURES`; a registered feature may read the time index or other columns).

    Raises
    ------
    InputError
        For a feature that is not in the registry (extra columns need a candle frame).
    """
    out = np.empty((len(rows), len(names)), dtype="float64")
    frame = pd.DataFrame(rows, columns=_OHLCV_INDEX, copy=False)
    for j, name in enumerate(names):
        if name not in OHLCV_FEATURES:
            raise InputError(f"feature {name!r} is not computed from OHLCV alone: pass a frame")
        try:
            out[:, j] = FEATURE_REGISTRY[name][0](frame).to_numpy(dtype="float64")
        except KeyError as exc:
            raise InputError(f"feature {name!r} needs the candle column {exc}") from None
    out[~np.isfinite(out)] = np.nan
    return out


def compute_features(candles: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Feature frame (float64, one column per name, same index as ``candles``).

    Parameters
    ----------
    candles
        A candle frame (plus any extra feature columns).
    names
        Registry names or names of extra numeric columns of ``candles``.

    Returns
    -------
    pandas.DataFrame
        Values at bar t use bars <= t only; ±inf are turned into NaN.
    """
    return pd.DataFrame(feature_matrix(candles, names), index=candles.index, columns=list(names))


def target_fwd_ret(close: pd.Series, h: int = 1) -> pd.Series:
    """The target: forward log return ``log(close[t+h] / close[t])``, NaN on the last h bars.

    This looks h bars into the future by construction; it is a label, never a feature.
    """
    if h < 1:
        raise InputError(f"horizon is {h}: use an integer >= 1")
    c = close.to_numpy(dtype="float64")
    out = np.full(len(c), np.nan)
    if len(c) > h:
        out[:-h] = np.log(c[h:] / c[:-h])
    return pd.Series(out, index=close.index, name=f"target_fwd_ret_{h}")


def valid_window_ends(values: np.ndarray, lookback: int) -> np.ndarray:
    """Indices t whose window rows t-lookback+1..t exist and are all finite (sorted)."""
    n = len(values)
    if n < lookback:
        return np.zeros(0, dtype=np.int64)
    row_ok = np.isfinite(values).all(axis=1).astype(np.int64)
    csum = np.concatenate([[0], np.cumsum(row_ok)])
    ends = np.arange(lookback - 1, n)
    full = (csum[ends + 1] - csum[ends + 1 - lookback]) == lookback
    return ends[full]


def gather_windows(values: np.ndarray, ends: np.ndarray, lookback: int) -> np.ndarray:
    """Windows ``(len(ends), lookback, n_features)``; row i: rows ends[i]-lookback+1..ends[i]."""
    idx = ends[:, None] + np.arange(-lookback + 1, 1)[None, :]
    return values[idx]


def rows_covered(ends: np.ndarray, lookback: int, n: int) -> np.ndarray:
    """Boolean mask of the rows that appear in at least one of the windows ending at ``ends``."""
    delta = np.zeros(n + 1, dtype=np.int64)
    np.add.at(delta, ends - lookback + 1, 1)
    np.add.at(delta, ends + 1, -1)
    return np.cumsum(delta[:-1]) > 0


def hash_candles(candles: pd.DataFrame, columns: Sequence[str] | None = None) -> str:
    """SHA-256 of a frame's index (int64 ns) and float64 values: the identity of a data slice."""
    cols = list(candles.columns if columns is None else columns)
    h = hashlib.sha256()
    h.update(repr(cols).encode())
    h.update(str(candles.index.dtype).encode())
    h.update(np.ascontiguousarray(candles.index.asi8).tobytes())
    h.update(np.ascontiguousarray(candles[cols].to_numpy(dtype="float64")).tobytes())
    return h.hexdigest()
