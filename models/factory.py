"""Build a forecaster from its configuration, or load a saved one of any built-in kind.

The one place that knows every built-in kind, so that the forecaster modules never import
each other (importing this module does not import TensorFlow: the LSTM loads it lazily).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lstm_backtrader.models.baselines import (
    BaseRateForecaster,
    DriftForecaster,
    PersistenceForecaster,
)
from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.direction_baselines import LogisticForecaster
from lstm_backtrader.models.infra.errors import ModelFileError
from lstm_backtrader.models.keras_forecaster import KerasForecaster
from lstm_backtrader.models.lstm import LSTMForecaster
from lstm_backtrader.models.persist import read_sidecar, sidecar_path
from lstm_backtrader.models.sklearn_forecaster import SklearnForecaster
from lstm_backtrader.models.vol_baselines import EWMAForecaster, GARCHForecaster, HARForecaster

logger = logging.getLogger(__name__)

#: kind -> forecaster class.
BUILTIN: dict[str, type[Any]] = {
    "lstm": LSTMForecaster,
    "keras": KerasForecaster,
    "sklearn": SklearnForecaster,
    "persistence": PersistenceForecaster,
    "drift": DriftForecaster,
    "ewma": EWMAForecaster,
    "har": HARForecaster,
    "garch": GARCHForecaster,
    "base_rate": BaseRateForecaster,
    "logistic": LogisticForecaster,
}


def build_forecaster(config: ForecasterConfig) -> Any:
    """A fresh, unfitted forecaster of ``config.kind``."""
    return BUILTIN[config.kind].from_config(config)


def load_forecaster(path: str | Path) -> Any:
    """Load a saved forecaster of any built-in kind (:data:`BUILTIN`) from ``path``."""
    kind = read_sidecar(path).get("kind")
    cls = BUILTIN.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise ModelFileError(
            f"{sidecar_path(path)}: unknown forecaster kind {kind!r}; check the file"
        )
    return cls.load(path)
