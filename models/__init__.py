"""LSTM return forecasters, baselines and the walk-forward engine (pure Keras/NumPy/pandas).

Exports are resolved lazily (module ``__getattr__``), so ``import models`` imports neither
TensorFlow nor Keras; they load only when a model is fitted, loaded or used for inference.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "ForecasterConfig": "models.config",
    "build_forecaster": "models.config",
    "LSTMForecaster": "models.lstm",
    "PersistenceForecaster": "models.baselines",
    "DriftForecaster": "models.baselines",
    "StandardScaler": "models.scaling",
    "FEATURE_REGISTRY": "models.features",
    "compute_features": "models.features",
    "target_fwd_ret": "models.features",
    "register_feature": "models.features",
    "load_forecaster": "models.persist",
    "WalkForward": "models.walkforward",
    "WalkForwardResult": "models.walkforward",
    "train_fold": "models.walkforward",
    "plan_folds": "models.walkforward",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
