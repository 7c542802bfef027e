"""A scikit-learn regressor as a forecaster: kind ``'sklearn'``, ``estimator`` in the config.

The regressor sees the same causal features as the LSTM, windows of ``lookback`` bars
flattened to one row (``lookback × n_features`` columns), standardised with statistics of the
training windows' rows only; its target is ``target_fwd_ret_{h}``. Saving writes the fitted
state as arrays (``.npz``, ``allow_pickle=False``) and JSON — never a pickle — so only
estimators whose fitted attributes are arrays, numbers or strings can be saved (linear models
such as ``Ridge``, ``Lasso``, ``ElasticNet``, ``HuberRegressor``); others are refused with a
one-line error when the first fold is saved. scikit-learn is imported only when fitting or
loading.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.features import (
    check_candles,
    compute_features,
    feature_warmup,
    gather_windows,
    hash_candles,
    rows_covered,
    target_fwd_ret,
    valid_window_ends,
)
from lstm_backtrader.models.forecaster import ConfiguredForecaster
from lstm_backtrader.models.infra.errors import InputError, ModelFileError
from lstm_backtrader.models.infra.fileio import atomic_write, sha256_file
from lstm_backtrader.models.persist import read_sidecar, sidecar_path, write_sidecar
from lstm_backtrader.models.plugins import code_hash, resolve
from lstm_backtrader.models.scaling import StandardScaler

logger = logging.getLogger(__name__)

_SCALARS = (bool, int, float, str, type(None))


def _fitted_state(estimator: Any, what: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The estimator's fitted attributes (public names ending in ``_``): arrays and scalars."""
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    for name, value in vars(estimator).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        if isinstance(value, np.ndarray) and value.dtype != object:
            arrays[name] = value
        elif isinstance(value, np.generic):
            scalars[name] = value.item()
        elif isinstance(value, _SCALARS):
            scalars[name] = value
        else:
            raise InputError(
                f"{what}: {type(estimator).__name__}.{name} is a {type(value).__name__}, which "
                "cannot be saved without pickle; use an estimator whose fitted state is arrays "
                "(a linear model such as sklearn.linear_model:Ridge)"
            )
    return arrays, scalars


class SklearnForecaster(ConfiguredForecaster):
    """A scikit-learn regressor on flattened windows of the LSTM's features.

    Parameters
    ----------
    config, **params
        A :class:`~lstm_backtrader.models.config.ForecasterConfig` of kind ``'sklearn'`` and
        overrides of its fields: ``estimator`` (``"package.module:Class"``),
        ``estimator_params`` (its keyword arguments; ``random_state`` is set from ``seed``
        when the estimator takes one), ``lookback``, ``horizon``, ``features``, ``seed``.

    Attributes
    ----------
    estimator_ : object
        The fitted regressor.
    scaler_ : StandardScaler
        Feature statistics of the training windows' rows.
    train_range_ : tuple of Timestamp
        First and last bar whose data entered training.
    data_hash_ : str
        SHA-256 of the training slice.
    """

    kind: ClassVar[str] = "sklearn"
    param_names: ClassVar[tuple[str, ...] | None] = (
        "lookback", "horizon", "features", "seed", "estimator", "estimator_params",
    )  # fmt: skip
    depends_on: ClassVar[tuple[str, ...]] = ("scikit-learn",)

    @property
    def context_bars(self) -> int:
        """Bars of history one forecast needs: ``lookback`` + the features' warm-up."""
        return int(self.lookback) + feature_warmup(tuple(self.features))

    def code_hash(self) -> str:
        """SHA-256 of the estimator's source file (part of the fold-cache key)."""
        return code_hash(self.estimator, "[model] estimator")

    def _new_estimator(self) -> Any:
        cls = resolve(self.estimator, "[model] estimator")
        params = dict(self.estimator_params)
        try:
            if "random_state" in inspect.signature(cls).parameters:
                params.setdefault("random_state", int(self.seed))
            est = cls(**params)
        except TypeError as exc:
            raise InputError(f"[model] estimator_params for {self.estimator}: {exc}") from None
        if not (hasattr(est, "fit") and hasattr(est, "predict")):
            raise InputError(f"[model] estimator {self.estimator} has no fit/predict")
        return est

    def _rows(self, candles: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Scaled feature rows of ``candles`` and the window ends that are valid."""
        feats = compute_features(candles, tuple(self.features)).to_numpy(dtype="float64")
        return feats, valid_window_ends(feats, int(self.lookback))

    def _flat(self, z: np.ndarray, ends: np.ndarray) -> np.ndarray:
        windows = gather_windows(z, ends, int(self.lookback))
        return windows.reshape(len(ends), -1)

    # ------------------------------------------------------------------ fit / predict
    def fit(self, candles: pd.DataFrame, **kwargs: Any) -> SklearnForecaster:
        """Fit the scaler and the regressor on every labelled window inside ``candles``
        (warm-start keywords are accepted and ignored). Returns ``self``."""
        check_candles(candles, columns=("close",), what="fit candles")
        feats, ends = self._rows(candles)
        y = target_fwd_ret(candles["close"], int(self.horizon)).to_numpy()
        ends = ends[np.isfinite(y[ends])]
        if len(ends) < 2:
            raise InputError(
                f"fit: {len(candles)} bars give only {len(ends)} labelled windows (lookback "
                f"{self.lookback}, horizon {self.horizon}); give more bars"
            )
        scaler = StandardScaler().fit(feats[rows_covered(ends, int(self.lookback), len(feats))])
        est = self._new_estimator()
        est.fit(self._flat(scaler.transform(feats), ends), y[ends])
        self.estimator_ = est
        self.scaler_ = scaler
        first = max(0, int(ends[0]) - int(self.lookback) + 1 - feature_warmup(self.features))
        self.train_range_ = (candles.index[first], candles.index[int(ends[-1]) + self.horizon])
        self.data_hash_ = hash_candles(candles)
        self.n_epochs_ = 0
        self.best_val_loss_ = float("nan")
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimator_"):
            raise InputError("SklearnForecaster is not fitted: call fit or load first")

    def predict(self, candles: pd.DataFrame) -> pd.Series:
        """Forecast of ``target_fwd_ret_{h}`` known at each bar's close (NaN where the window
        is incomplete or holds a non-finite feature)."""
        self._check_fitted()
        check_candles(candles, columns=(), what="predict candles")
        feats, ends = self._rows(candles)
        out = np.full(len(candles), np.nan)
        if len(ends):
            z = self.scaler_.transform(feats)
            out[ends] = np.asarray(self.estimator_.predict(self._flat(z, ends)), dtype="float64")
        return pd.Series(out, index=candles.index, name=f"forecast_fwd_ret_{self.horizon}")

    def predict_last(self, candles_tail: pd.DataFrame) -> float:
        """Forecast for the last bar of ``candles_tail`` (its last :attr:`context_bars`)."""
        self._check_fitted()
        tail = candles_tail.iloc[-self.context_bars :]
        if len(tail) < self.context_bars:
            return float("nan")
        return float(self.predict(tail).iloc[-1])

    # ------------------------------------------------------------------ persistence
    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return _fitted_state(self.estimator_, f"[model] estimator {self.estimator}")

    def model_hash(self) -> str:
        """SHA-256 of the configuration, the scaler and the fitted state."""
        self._check_fitted()
        arrays, scalars = self._state()
        h = hashlib.sha256(self.config.to_json().encode())
        h.update(json.dumps(self.scaler_.to_dict(), sort_keys=True).encode())
        h.update(json.dumps(scalars, sort_keys=True, default=str).encode())
        for name in sorted(arrays):
            arr = np.ascontiguousarray(arrays[name])
            h.update(f"{name}{arr.dtype.str}{arr.shape}".encode())
            h.update(arr.tobytes())
        return h.hexdigest()

    def save(self, path: str | Path) -> Path:
        """Write ``path.with_suffix('.npz')`` (the fitted arrays) and the JSON sidecar; no
        pickle. ``path`` may end in ``.keras`` like the other forecasters' model paths."""
        self._check_fitted()
        arrays, scalars = self._state()
        npz = Path(path).with_suffix(".npz")

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays, allow_pickle=False)

        atomic_write(npz, write)
        return write_sidecar(
            path,
            {
                "kind": self.kind,
                "config": self.config.to_dict(),
                "scaler": self.scaler_.to_dict(),
                "scalars": scalars,
                "arrays_file": npz.name,
                "arrays_sha256": sha256_file(npz),
                "train_range": [t.isoformat() for t in self.train_range_],
                "data_hash": self.data_hash_,
                "weights_sha256": self.model_hash(),
            },
        )

    @classmethod
    def load(cls, path: str | Path) -> SklearnForecaster:
        """Load what :meth:`save` wrote (``ModelFileError`` when missing, corrupt or changed)."""
        doc = read_sidecar(path, kind=cls.kind)
        side = sidecar_path(path)
        npz = Path(path).with_suffix(".npz")
        try:
            if sha256_file(npz) != doc["arrays_sha256"]:
                raise ModelFileError(f"{npz}: does not match its sidecar; save again")
            out = cls(ForecasterConfig.from_dict(doc["config"]))
            est = out._new_estimator()
            with np.load(npz, allow_pickle=False) as data:
                for name in data.files:
                    setattr(est, name, data[name])
            for name, value in doc["scalars"].items():
                setattr(est, name, value)
            out.estimator_ = est
            out.scaler_ = StandardScaler.from_dict(doc["scaler"])
            out.train_range_ = tuple(pd.Timestamp(t) for t in doc["train_range"])
            out.data_hash_ = str(doc["data_hash"])
        except FileNotFoundError:
            raise ModelFileError(f"{npz}: not found; save the model again") from None
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise ModelFileError(f"{side}: unusable ({exc}); save again") from None
        out.n_epochs_ = 0
        out.best_val_loss_ = float("nan")
        if out.model_hash() != doc.get("weights_sha256"):
            raise ModelFileError(f"{side}: content does not match its hash; save again")
        return out
