"""Input handling shared by every metric: 1-D float arrays, pairwise NaN dropping, minimum
counts. Bad input raises a one-line :class:`~lstm_backtrader.models.infra.errors.InputError`."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

ArrayLike = np.ndarray | pd.Series | Sequence[float]


def as_1d(x: ArrayLike, name: str) -> np.ndarray:
    """A float64 1-D copy of ``x`` (NaN kept, inf rejected)."""
    arr = np.asarray(
        x.to_numpy(dtype="float64", na_value=np.nan) if isinstance(x, pd.Series) else x,
        dtype="float64",
    )
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if np.isinf(arr).any():
        raise InputError(f"{name} contains infinite values; clean the series before scoring it")
    return arr


def paired(*named: tuple[ArrayLike, str]) -> list[np.ndarray]:
    """Arrays of equal length with every position where any input is NaN dropped."""
    arrays = [as_1d(x, name) for x, name in named]
    n0, name0 = len(arrays[0]), named[0][1]
    for arr, (_, name) in zip(arrays[1:], named[1:], strict=True):
        if len(arr) != n0:
            raise InputError(f"length mismatch: {name0} has {n0} values, {name} has {len(arr)}")
    series = [x for x, _ in named if isinstance(x, pd.Series)]
    for other in series[1:]:
        if not other.index.equals(series[0].index):
            raise InputError(
                "input Series have different indexes; align them first "
                "(e.g. a, b = a.align(b, join='inner'))"
            )
    keep = np.ones(n0, dtype=bool)
    for arr in arrays:
        keep &= ~np.isnan(arr)
    dropped = int(n0 - keep.sum())
    if dropped:
        logger.debug("dropped %d of %d bars with a NaN on either side", dropped, n0)
    return [arr[keep] for arr in arrays]


def require(n: int, minimum: int, what: str) -> None:
    if n < minimum:
        raise InputError(f"{what} needs at least {minimum} non-NaN observations, got {n}")


def clean_returns(returns: ArrayLike, minimum: int, what: str) -> np.ndarray:
    r = as_1d(returns, "returns")
    r = r[~np.isnan(r)]
    require(len(r), minimum, what)
    return r


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, inf) replaced by ``None``, dicts recursed."""
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
