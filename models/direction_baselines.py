"""Direction baseline: a logistic regression of ``target_fwd_up_{h}`` (target ``'direction'``).

:class:`LogisticForecaster` (kind ``'logistic'``) sees the LSTM's inputs - windows of
``lookback`` bars of the same causal ``features``, flattened to one row and standardised with
statistics of the training windows' rows only - and forecasts the probability that the next
h-bar log return exceeds ``direction_threshold``. scikit-learn's ``LogisticRegression`` with its
default L2 penalty (C = 1, lbfgs); a training slice holding one class only gives that class's
smoothed rate on every bar. The fitted state (coefficients, intercept, scaler) is saved as
JSON; no pickle. The other direction baseline, the training base rate, is
:class:`~lstm_backtrader.models.baselines.BaseRateForecaster`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from lstm_backtrader.models.features import (
    check_candles,
    compute_features,
    feature_warmup,
    gather_windows,
    hash_candles,
    rows_covered,
    valid_window_ends,
)
from lstm_backtrader.models.forecaster import ConfiguredForecaster
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.persist import JsonStateMixin
from lstm_backtrader.models.scaling import StandardScaler
from lstm_backtrader.models.targets import forecast_name, target_series

logger = logging.getLogger(__name__)


class LogisticForecaster(JsonStateMixin, ConfiguredForecaster):
    """Logistic regression on flattened windows of the causal features (see the module)."""

    kind: ClassVar[str] = "logistic"
    param_names: ClassVar[tuple[str, ...] | None] = (
        "lookback", "horizon", "features", "seed", "target", "direction_threshold",
    )  # fmt: skip
    default_params: ClassVar[dict[str, Any]] = {"target": "direction"}
    depends_on: ClassVar[tuple[str, ...]] = ("scikit-learn",)

    @property
    def context_bars(self) -> int:
        """Bars of history one forecast needs: ``lookback`` + the features' warm-up."""
        return int(self.lookback) + feature_warmup(tuple(self.features))

    def _rows(self, candles: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        feats = compute_features(candles, tuple(self.features)).to_numpy(dtype="float64")
        return feats, valid_window_ends(feats, int(self.lookback))

    def _flat(self, z: np.ndarray, ends: np.ndarray) -> np.ndarray:
        return gather_windows(z, ends, int(self.lookback)).reshape(len(ends), -1)

    def fit(self, candles: pd.DataFrame, **kwargs: Any) -> LogisticForecaster:
        """Fit the scaler and the regression on every labelled window inside ``candles``
        (warm-start keywords ignored). Returns ``self``."""
        check_candles(candles, columns=("close",), what="fit candles")
        feats, ends = self._rows(candles)
        y = target_series(candles, self.config).to_numpy()
        ends = ends[np.isfinite(y[ends])]
        if len(ends) < 2:
            raise InputError(
                f"fit: {len(candles)} bars give only {len(ends)} labelled windows (lookback "
                f"{self.lookback}, horizon {self.horizon}); give more bars"
            )
        scaler = StandardScaler().fit(feats[rows_covered(ends, int(self.lookback), len(feats))])
        x, labels = self._flat(scaler.transform(feats), ends), y[ends]
        if np.unique(labels).size < 2:  # one class: its rate, smoothed (Laplace) away from 0/1
            rate = (labels.sum() + 1.0) / (len(labels) + 2.0)
            coef, intercept = np.zeros(x.shape[1]), float(np.log(rate / (1.0 - rate)))
        else:
            from sklearn.linear_model import LogisticRegression

            est = LogisticRegression(C=1.0, max_iter=1000, random_state=int(self.seed))
            est.fit(x, labels.astype(int))
            coef, intercept = est.coef_[0].astype("float64"), float(est.intercept_[0])
        self.coef_ = coef
        self.intercept_ = intercept
        self.scaler_ = scaler
        first = max(0, int(ends[0]) - int(self.lookback) + 1 - feature_warmup(self.features))
        self.train_range_ = (candles.index[first], candles.index[int(ends[-1]) + self.horizon])
        self.data_hash_ = hash_candles(candles)
        self.n_epochs_ = 0
        self.best_val_loss_ = float("nan")
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise InputError("LogisticForecaster is not fitted: call fit or load first")

    def predict(self, candles: pd.DataFrame) -> pd.Series:
        """Probability of ``target_fwd_up_{h}`` = 1 known at each bar's close (NaN where the
        window is incomplete), named ``forecast_fwd_up_{h}``."""
        self._check_fitted()
        check_candles(candles, columns=(), what="predict candles")
        feats, ends = self._rows(candles)
        out = np.full(len(candles), np.nan)
        if len(ends):
            logit = self._flat(self.scaler_.transform(feats), ends) @ self.coef_ + self.intercept_
            out[ends] = 1.0 / (1.0 + np.exp(-logit))
        return pd.Series(out, index=candles.index, name=forecast_name(self.config))

    def predict_last(self, candles_tail: pd.DataFrame) -> float:
        """Forecast for the last bar of ``candles_tail`` (its last :attr:`context_bars`)."""
        self._check_fitted()
        tail = candles_tail.iloc[-self.context_bars :]
        if len(tail) < self.context_bars:
            return float("nan")
        return float(self.predict(tail).iloc[-1])

    def _state_doc(self) -> dict[str, Any]:
        return {
            "coef": [float(c) for c in self.coef_],
            "intercept": self.intercept_,
            "scaler": self.scaler_.to_dict(),
        }

    def model_hash(self) -> str:
        """SHA-256 of the configuration and the fitted state."""
        self._check_fitted()
        text = json.dumps({"config": self.config.to_dict(), **self._state_doc()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def _set_state(self, doc: dict[str, Any]) -> None:
        self.coef_ = np.asarray(doc["coef"], dtype="float64")
        self.intercept_ = float(doc["intercept"])
        self.scaler_ = StandardScaler.from_dict(doc["scaler"])
