"""LSTM forecasters (return, direction, volatility targets), baselines and the walk-forward
engine (pure Keras/NumPy/pandas).

Exports are resolved lazily (module ``__getattr__``), so ``import lstm_backtrader.models`` imports
neither TensorFlow nor Keras; they load only when a model is fitted, loaded or used for inference.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "ForecasterConfig": "lstm_backtrader.models.config",
    "Forecaster": "lstm_backtrader.models.forecaster",
    "clone": "lstm_backtrader.models.forecaster",
    "build_forecaster": "lstm_backtrader.models.factory",
    "load_forecaster": "lstm_backtrader.models.factory",
    "LSTMForecaster": "lstm_backtrader.models.lstm",
    "PersistenceForecaster": "lstm_backtrader.models.baselines",
    "DriftForecaster": "lstm_backtrader.models.baselines",
    "BaseRateForecaster": "lstm_backtrader.models.baselines",
    "EWMAForecaster": "lstm_backtrader.models.vol_baselines",
    "HARForecaster": "lstm_backtrader.models.vol_baselines",
    "GARCHForecaster": "lstm_backtrader.models.vol_baselines",
    "LogisticForecaster": "lstm_backtrader.models.direction_baselines",
    "target_series": "lstm_backtrader.models.targets",
    "target_fwd_up": "lstm_backtrader.models.targets",
    "target_fwd_logvol": "lstm_backtrader.models.targets",
    "bar_variance": "lstm_backtrader.models.targets",
    "StandardScaler": "lstm_backtrader.models.scaling",
    "FEATURE_REGISTRY": "lstm_backtrader.models.features",
    "compute_features": "lstm_backtrader.models.features",
    "target_fwd_ret": "lstm_backtrader.models.features",
    "register_feature": "lstm_backtrader.models.features",
    "WalkForwardSpec": "lstm_backtrader.models.schedule",
    "WalkForward": "lstm_backtrader.models.walkforward",
    "WalkForwardResult": "lstm_backtrader.models.walkforward",
    "train_fold": "lstm_backtrader.models.fold",
    "IntervalSpec": "lstm_backtrader.models.conformal",
    "conformal_intervals": "lstm_backtrader.models.conformal",
    "interval_coverage": "lstm_backtrader.models.conformal",
    "interval_width": "lstm_backtrader.models.conformal",
    "member_seed": "lstm_backtrader.models.ensemble",
    "mc_dropout_predict": "lstm_backtrader.models.mcdropout",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lstm_backtrader.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
