"""A user's own Keras network as a forecaster: kind ``'keras'``, ``builder`` in the config.

Everything but the network is the LSTM's (:class:`~lstm_backtrader.models.lstm.LSTMForecaster`):
the same causal features and windows, scaler and target statistics fitted on the training
windows only, the same compiled trainer (seeded, bit-reproducible, early stopping, warm start),
batched and single-window inference, ``.keras`` + JSON sidecar files. The builder is named, not
passed (``"package.module:function"`` or ``"path/to/file.py:function"``), so a configuration
stays a TOML file and executor workers import the same code; its source file's SHA-256 is part
of the fold-cache key (editing the builder retrains its folds).

Example builder (``examples/custom_keras_gru.py``)::

    def build_gru(lookback: int, n_features: int, seed: int) -> keras.Model:
        init = keras.initializers
        return keras.Sequential([
            keras.Input(shape=(lookback, n_features)),
            keras.layers.GRU(16, kernel_initializer=init.GlorotUniform(seed=seed),
                             recurrent_initializer=init.Orthogonal(seed=seed + 1), seed=seed + 2),
            keras.layers.Dense(1, kernel_initializer=init.GlorotUniform(seed=seed + 3)),
        ])
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from lstm_backtrader.models.config import LSTM_FIELDS
from lstm_backtrader.models.lstm import LSTMForecaster
from lstm_backtrader.models.plugins import code_hash

logger = logging.getLogger(__name__)


class KerasForecaster(LSTMForecaster):
    """The LSTM's pipeline around the network ``builder`` builds (``units`` and ``dropout`` are
    not used: the builder decides the layers).

    Parameters
    ----------
    config, **params
        As for :class:`~lstm_backtrader.models.lstm.LSTMForecaster`, plus ``builder``.
    """

    kind: ClassVar[str] = "keras"
    param_names: ClassVar[tuple[str, ...] | None] = (*LSTM_FIELDS, "builder")

    def _architecture(self, n_features: int) -> Any:
        from lstm_backtrader.models.trainer import Architecture

        return Architecture(int(self.lookback), int(n_features), (), 0.0, builder=self.builder)

    def code_hash(self) -> str:
        """SHA-256 of the builder's source file (part of the fold-cache key)."""
        return code_hash(self.builder, "[model] builder")
