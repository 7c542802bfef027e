"""Monte-Carlo dropout: the LSTM's dropout kept on at inference, seeded and deterministic.

Each of ``samples`` passes runs the fitted network layer by layer with every dropout layer's
mask drawn by numpy from ``SeedSequence(seed, spawn_key=(MC_DOMAIN, sample, layer))``: one
row of uniforms per window, in window order, so a window's masks depend only on the seed, the
sample, the layer and its position in the prediction slice (the same inputs and seed give
identical numbers; dropping later bars leaves the earlier forecasts unchanged). The forecast is
the mean of the passes in target units, the spread their standard deviation (``ddof=0``):
a probability's standard deviation for target ``'direction'`` (each pass clipped to
``[PROB_EPS, 1 - PROB_EPS]`` first), a log-volatility's for ``'volatility'``, a return's
otherwise. The walk-forward uses it when ``ForecasterConfig.mc_dropout`` > 0; the
forecaster's own ``predict`` (and the bar-by-bar indicator) stay deterministic.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from lstm_backtrader.models.features import feature_matrix, gather_windows, valid_window_ends
from lstm_backtrader.models.targets import PROB_EPS, forecast_name
from lstm_backtrader.models.tfload import ensure_tf_usable, load_tf

logger = logging.getLogger(__name__)

#: First spawn-key word of every mask's SeedSequence (keeps mask streams apart from others).
MC_DOMAIN = 0x4D43

#: Windows per eager pass (bounds the masks' memory; masks do not depend on it).
_BLOCK = 512


def mask_rng(seed: int, sample: int, layer: int) -> np.random.Generator:
    """The generator of one dropout layer's masks in one Monte-Carlo pass."""
    return np.random.default_rng(
        np.random.SeedSequence(int(seed), spawn_key=(MC_DOMAIN, int(sample), int(layer)))
    )


def _passes(model: Any, windows: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """Network outputs ``(samples, n_windows)`` with seeded dropout masks."""
    tf, keras = load_tf()
    n = len(windows)
    out = np.empty((samples, n), dtype="float64")
    x_all = tf.constant(windows, dtype=tf.float32)
    for s in range(samples):
        rngs: dict[int, np.random.Generator] = {}
        for start in range(0, n, _BLOCK):
            y = x_all[start : start + _BLOCK]
            for li, layer in enumerate(model.layers):
                if isinstance(layer, keras.layers.Dropout):
                    rng = rngs.setdefault(li, mask_rng(seed, s, li))
                    keep = 1.0 - float(layer.rate)
                    u = rng.random(tuple(y.shape), dtype=np.float32)
                    y = y * tf.constant((u < keep).astype("float32") / np.float32(keep))
                else:
                    y = layer(y, training=False)
            out[s, start : start + len(y)] = np.asarray(y)[:, 0].astype("float64")
    return out


def mc_dropout_predict(
    forecaster: Any, candles: pd.DataFrame, samples: int, seed: int | None = None
) -> tuple[pd.Series, pd.Series]:
    """Monte-Carlo dropout forecast and spread of a fitted LSTM forecaster.

    Parameters
    ----------
    forecaster
        A fitted :class:`~lstm_backtrader.models.lstm.LSTMForecaster` (its ``dropout`` > 0).
    candles
        Bars to forecast (like ``forecaster.predict``).
    samples
        Dropout passes (>= 2).
    seed
        Mask seed (default: the forecaster's ``seed``).

    Returns
    -------
    (pandas.Series, pandas.Series)
        The passes' mean and standard deviation per bar, in target units (NaN where
        ``predict`` is NaN).
    """
    if samples < 2:
        raise ValueError(f"mc_dropout_predict: samples is {samples}: use >= 2")
    ensure_tf_usable()
    seed = int(forecaster.seed if seed is None else seed)
    lookback = int(forecaster.lookback)
    z = forecaster.scaler_.transform(feature_matrix(candles, tuple(forecaster.features)))
    z = z.astype("float32")
    ends = valid_window_ends(z, lookback)
    mean = np.full(len(candles), np.nan)
    std = np.full(len(candles), np.nan)
    if len(ends):
        raw = _passes(forecaster.model_, gather_windows(z, ends, lookback), samples, seed)
        values = raw * forecaster.target_std_ + forecaster.target_mean_
        if forecaster.config.target == "direction":
            values = np.clip(values, PROB_EPS, 1 - PROB_EPS)
        mean[ends] = values.mean(axis=0)
        std[ends] = values.std(axis=0)
    name = forecast_name(forecaster.config)
    return (
        pd.Series(mean, index=candles.index, name=name),
        pd.Series(std, index=candles.index, name=name.replace("forecast_", "spread_", 1)),
    )
