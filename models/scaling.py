"""A small NumPy standard scaler (no scikit-learn), serialisable to JSON."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from lstm_backtrader.models.infra.errors import InputError, ModelFileError

logger = logging.getLogger(__name__)


class StandardScaler:
    """Column-wise ``(x - mean) / scale`` with statistics fitted on training rows only.

    ``scale_`` is the population standard deviation (``ddof=0``); a constant column gets
    ``scale_ = 1`` so it maps to 0 instead of dividing by zero. NaN rows are ignored when
    fitting and stay NaN when transforming.
    """

    def __init__(self) -> None:
        pass

    def fit(self, x: np.ndarray) -> StandardScaler:
        """Fit ``mean_`` and ``scale_`` on the rows of ``x`` (2-D, rows with NaN skipped)."""
        arr = np.asarray(x, dtype="float64")
        if arr.ndim != 2:
            raise InputError(f"scaler input must be 2-D (rows, features), got shape {arr.shape}")
        arr = arr[np.isfinite(arr).all(axis=1)]
        if len(arr) == 0:
            raise InputError("scaler: no finite rows to fit on; give more training bars")
        self.mean_ = arr.mean(axis=0)
        std = arr.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        self.n_samples_ = int(len(arr))
        return self

    def _check(self) -> None:
        if not hasattr(self, "mean_"):
            raise InputError("scaler is not fitted: call fit first")

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Standardise ``x`` (..., n_features)."""
        self._check()
        return (np.asarray(x, dtype="float64") - self.mean_) / self.scale_

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform`."""
        self._check()
        return np.asarray(z, dtype="float64") * self.scale_ + self.mean_

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable statistics (floats round-trip exactly through ``repr``)."""
        self._check()
        return {
            "mean": [float(v) for v in self.mean_],
            "scale": [float(v) for v in self.scale_],
            "n_samples": self.n_samples_,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StandardScaler:
        """Inverse of :meth:`to_dict`."""
        try:
            out = cls()
            out.mean_ = np.asarray(data["mean"], dtype="float64")
            out.scale_ = np.asarray(data["scale"], dtype="float64")
            out.n_samples_ = int(data["n_samples"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(
                f"scaler statistics are malformed ({exc}); refit and save again"
            ) from None
        if out.mean_.shape != out.scale_.shape or out.mean_.ndim != 1:
            raise ModelFileError("scaler statistics have mismatched shapes; refit and save again")
        return out
