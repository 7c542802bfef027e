"""Monte-Carlo dropout: the LSTM's dropout kept on at inference, seeded and deterministic.

Each of ``samples`` passes runs the fitted network layer by layer with every dropout layer's
mask drawn from a counter-based hash (:func:`mask_uniforms`) of a key from
``SeedSequence(seed, spawn_key=(MC_DOMAIN, sample, layer))``, the open time of the window's
last bar and the element's position in the layer's input: a window's masks depend only on the
seed (the fold's model's), the sample, the layer and the bar it forecasts — never on the
window's position in the prediction slice — so one window alone (the indicator's bar-by-bar
path, :func:`mc_dropout_last`) gets exactly the batched values, the same inputs and seed give
identical numbers, and dropping later bars leaves the earlier forecasts unchanged. The forecast is
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
#: Part of the fold-cache key of an MC-dropout run: bump when the masks or passes change
#: (stored forecasts made with other masks must not be reused).
MC_SCHEME = "bar-time-hash/1"

#: Windows per eager pass (bounds the masks' memory; masks do not depend on it).
_BLOCK = 512


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (uint64 in, uint64 out, element-wise; wraps modulo 2**64)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def mask_key(seed: int, sample: int, layer: int) -> np.uint64:
    """The 64-bit key of one dropout layer's masks in one Monte-Carlo pass."""
    seq = np.random.SeedSequence(int(seed), spawn_key=(MC_DOMAIN, int(sample), int(layer)))
    return np.uint64(seq.generate_state(1, dtype=np.uint64)[0])


def mask_uniforms(key: np.uint64, bar_ns: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Uniforms in [0, 1) (float32, 24 bits) of shape ``(len(bar_ns), *shape)``: element j of
    row i is a hash of ``key``, ``bar_ns[i]`` (the open time of the window's last bar) and j
    only."""
    with np.errstate(over="ignore"):
        row = _mix(key ^ _mix(np.asarray(bar_ns, dtype=np.int64).view(np.uint64) + _GOLDEN))
        size = int(np.prod(shape, dtype=np.int64))
        j = np.arange(1, size + 1, dtype=np.uint64) * _GOLDEN
        z = _mix(row[:, None] + j[None, :])
    return ((z >> np.uint64(40)).astype(np.float32) / np.float32(2**24)).reshape((len(row), *shape))


def _passes(
    model: Any, windows: np.ndarray, bar_ns: np.ndarray, samples: int, seed: int
) -> np.ndarray:
    """Network outputs ``(samples, n_windows)`` with seeded dropout masks (window i's masks
    keyed by ``bar_ns[i]``)."""
    tf, keras = load_tf()
    n = len(windows)
    out = np.empty((samples, n), dtype="float64")
    x_all = tf.constant(windows, dtype=tf.float32)
    for s in range(samples):
        keys: dict[int, np.uint64] = {}
        for start in range(0, n, _BLOCK):
            y = x_all[start : start + _BLOCK]
            bars = bar_ns[start : start + _BLOCK]
            for li, layer in enumerate(model.layers):
                if isinstance(layer, keras.layers.Dropout):
                    key = keys.setdefault(li, mask_key(seed, s, li))
                    keep = 1.0 - float(layer.rate)
                    u = mask_uniforms(key, bars, tuple(y.shape[1:]))
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
        bar_ns = np.asarray(candles.index.as_unit("ns").asi8, dtype=np.int64)[ends]
        windows = gather_windows(z, ends, lookback)
        raw = _passes(forecaster.model_, windows, bar_ns, samples, seed)
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


def mc_dropout_last(
    forecaster: Any, window: pd.DataFrame, samples: int, seed: int | None = None
) -> tuple[float, float]:
    """:func:`mc_dropout_predict`'s mean and spread for the last bar of ``window`` alone (the
    bar-by-bar path: ``window`` holds at least the forecaster's ``context_bars`` bars ending
    with it). Equal to the batched values of that bar: its masks depend on its own time only."""
    mean, std = mc_dropout_predict(forecaster, window, samples, seed)
    return float(mean.iloc[-1]), float(std.iloc[-1])
