"""The NumPy standard scaler (statistics, NaN handling, JSON round trip)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lstm_backtrader.models.infra.errors import InputError, ModelFileError
from lstm_backtrader.models.scaling import StandardScaler


def test_statistics_equal_numpy() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(2.0, 3.0, size=(500, 3))
    s = StandardScaler().fit(x)
    np.testing.assert_array_equal(s.mean_, x.mean(axis=0))
    np.testing.assert_array_equal(s.scale_, x.std(axis=0))
    z = s.transform(x)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-12)
    np.testing.assert_allclose(s.inverse_transform(z), x, atol=1e-12)


def test_nan_rows_skipped_and_kept_nan_constant_column() -> None:
    x = np.array([[1.0, 5.0], [np.nan, 5.0], [3.0, 5.0]])
    s = StandardScaler().fit(x)
    assert s.mean_.tolist() == [2.0, 5.0] and s.scale_.tolist() == [1.0, 1.0]
    assert s.n_samples_ == 2
    z = s.transform(x)
    assert np.isnan(z[1, 0]) and z[0, 1] == 0.0
    with pytest.raises(InputError):
        StandardScaler().fit(np.full((3, 2), np.nan))
    with pytest.raises(InputError):
        StandardScaler().transform(x)


def test_json_round_trip_is_exact() -> None:
    x = np.random.default_rng(0).normal(size=(100, 4))
    s = StandardScaler().fit(x)
    back = StandardScaler.from_dict(json.loads(json.dumps(s.to_dict())))
    np.testing.assert_array_equal(back.transform(x), s.transform(x))
    with pytest.raises(ModelFileError):
        StandardScaler.from_dict({"mean": [1.0]})
    with pytest.raises(ModelFileError):
        StandardScaler.from_dict({"mean": [1.0], "scale": [1.0, 2.0], "n_samples": 3})
