"""Baseline forecasters with the LSTM's interface (no TensorFlow import).

* :class:`PersistenceForecaster` - forward return 0 ("tomorrow's price = today's").
* :class:`DriftForecaster` - the training mean of ``target_fwd_ret_{h}``.
* :class:`BaseRateForecaster` - the training share of ``target_fwd_up_{h}`` (target
  ``'direction'``: the probability of "up" every bar).

With ``target='volatility'`` (:mod:`~lstm_backtrader.models.targets`) persistence forecasts
the last bar's variance for each of the next h bars, ``0.5 * log(h * var[t])``, and drift the
training mean of ``target_fwd_logvol_{h}``.

Every model result must be compared with these (docs/lstm.md): an LSTM that does not beat
persistence out of sample has learned nothing usable.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from lstm_backtrader.models.config import TARGET_FIELDS
from lstm_backtrader.models.features import check_candles, hash_candles
from lstm_backtrader.models.forecaster import ConfiguredForecaster
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.persist import JsonStateMixin
from lstm_backtrader.models.targets import (
    bar_variance,
    forecast_name,
    label_columns,
    target_series,
)

logger = logging.getLogger(__name__)


class BaselineForecaster(JsonStateMixin, ConfiguredForecaster):
    """Shared plumbing of the constant baselines: fit, predict, save/load. Subclasses define
    ``_fit_value``; ``horizon``, ``lookback`` and the target settings are hyperparameters."""

    kind: ClassVar[str] = "baseline"
    param_names: ClassVar[tuple[str, ...] | None] = (
        "horizon", "lookback", "target", "vol_estimator", "direction_threshold",
    )  # fmt: skip

    @property
    def context_bars(self) -> int:
        """Bars needed for one forecast (none beyond the bar itself)."""
        return 1

    def _fit_value(self, target: pd.Series) -> float:
        raise NotImplementedError

    def fit(self, candles: pd.DataFrame, **kwargs: Any) -> Any:
        """Fit on the labels inside ``candles``; warm-start keywords are accepted and ignored.

        Returns
        -------
        self
        """
        check_candles(candles, columns=label_columns(self.config), what="fit candles")
        y = target_series(candles, self.config).dropna()
        if y.empty:
            raise InputError(
                f"fit: {len(candles)} bars hold no label for horizon {self.horizon}; give more bars"
            )
        self.value_ = float(self._fit_value(y))
        self.train_range_ = (candles.index[0], candles.index[-1])
        self.n_train_ = len(y)
        self.data_hash_ = hash_candles(candles)
        self.n_epochs_ = 0
        self.best_val_loss_ = float("nan")
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "value_"):
            raise InputError(f"{type(self).__name__} is not fitted: call fit or load first")

    def _values(self, candles: pd.DataFrame) -> np.ndarray:
        """Forecasts of every bar (the constant fitted value)."""
        return np.full(len(candles), self.value_)

    def predict(self, candles: pd.DataFrame) -> pd.Series:
        """The forecast of every bar, named ``forecast_fwd_{ret,up,logvol}_{h}``."""
        self._check_fitted()
        check_candles(candles, columns=(), what="predict candles")
        return pd.Series(
            self._values(candles), index=candles.index, name=forecast_name(self.config)
        )

    def predict_last(self, candles_tail: pd.DataFrame) -> float:
        """Forecast for the last bar."""
        self._check_fitted()
        return float(self._values(candles_tail.iloc[-1:])[-1])

    def model_hash(self) -> str:
        """SHA-256 of the kind, fitted value and hyperparameters (the target settings only
        when the target is not the return, so return baselines hash as before)."""
        self._check_fitted()
        params = {k: v for k, v in self.get_params().items() if k in ("horizon", "lookback")}
        text = json.dumps(
            {"kind": self.kind, "value": self.value_, **params, **self._target_doc()},
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def _target_doc(self) -> dict[str, Any]:
        doc = self.config.to_dict()
        return {k: doc[k] for k in ("target", *TARGET_FIELDS) if k in doc}

    def _state_doc(self) -> dict[str, Any]:
        return {"value": self.value_, "n_train": self.n_train_}

    def _set_state(self, doc: dict[str, Any]) -> None:
        self.value_ = float(doc["value"])
        self.n_train_ = int(doc["n_train"])


class PersistenceForecaster(BaselineForecaster):
    """Forward return 0 on every bar (the random-walk / persistence baseline); with
    ``target='volatility'``, the last bar's range variance for each of the next h bars:
    ``0.5 * log(h * bar_variance[t])``."""

    kind: ClassVar[str] = "persistence"

    def _fit_value(self, target: pd.Series) -> float:
        return 0.0

    def _values(self, candles: pd.DataFrame) -> np.ndarray:
        if self.config.target != "volatility":
            return super()._values(candles)
        var = bar_variance(candles, self.config.vol_estimator).to_numpy()
        return 0.5 * np.log(int(self.horizon) * var)


class DriftForecaster(BaselineForecaster):
    """The training mean of ``target_fwd_ret_{h}`` on every bar (random walk with drift)."""

    kind: ClassVar[str] = "drift"

    def _fit_value(self, target: pd.Series) -> float:
        return float(target.mean())


class BaseRateForecaster(BaselineForecaster):
    """The training share of "up" labels (``target_fwd_up_{h}``) as the probability of "up"
    on every bar: the direction baseline a probability forecast must beat."""

    kind: ClassVar[str] = "base_rate"
    default_params: ClassVar[dict[str, Any]] = {"target": "direction"}

    def _fit_value(self, target: pd.Series) -> float:
        return float(target.mean())
