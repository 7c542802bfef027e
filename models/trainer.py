"""Compiled training and inference steps shared by every fit of one LSTM architecture.

Keras' ``model.fit`` traces a new train and test function for every new model object, which
cost ~3 s per walk-forward fold here, more than the training itself. This module keeps, per
process and per architecture, one network, one Adam optimizer and their ``tf.function`` steps,
traced once with a fixed batch shape; each fit resets the whole state instead of rebuilding it:

* the network's variables (weights *and* dropout seed-generator states) are set to those of a
  freshly built network with the fit's seed (every initializer and dropout layer is given an
  explicit seed, so a fresh build does not depend on anything that ran before);
* the optimizer's variables (step counter, moments) go back to their initial values;
* batches are drawn from ``numpy.random.default_rng(seed)``, the last partial batch is padded
  to the fixed batch shape and masked out of the loss (the gradient equals that of the
  unpadded batch), so one trace serves every fold.

The result of a fit is therefore a pure function of (architecture, data, seed, initial
weights, epochs): reusing a trainer gives bit-identical weights to a fresh process (tested).
Early stopping follows Keras' ``EarlyStopping(restore_best_weights=True)``; a warm start also
counts its starting weights as a candidate (``baseline``): a fold keeps its parent's weights
unless training improves the loss on the fold's own validation windows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from lstm_backtrader.models.targets import PROB_EPS
from lstm_backtrader.models.tfload import load_tf

logger = logging.getLogger(__name__)

_LOCK = threading.Lock()

#: Windows per inference call when predicting in chunks (fixed so results never depend on
#: how many windows are predicted together).
CHUNK = 256
_MAX_CACHED = 4


@dataclass(frozen=True)
class Architecture:
    """What decides a network's shapes (and the compiled steps' input signatures)."""

    lookback: int
    n_features: int
    units: tuple[int, ...]
    dropout: float
    #: A user's network builder (``ForecasterConfig.builder``) instead of the stacked LSTM.
    builder: str | None = None
    #: ``'linear'`` (a standardised return or log volatility, MSE) or ``'sigmoid'`` (the
    #: probability of "up", binary cross-entropy): part of every trainer and predictor key,
    #: so the return target's traces are the same as before the other targets existed.
    output: str = "linear"


def _built_by_user(arch: Architecture, seed: int) -> Any:
    """The network of ``arch.builder`` (checked: one output per window)."""
    from lstm_backtrader.models.infra.errors import InputError
    from lstm_backtrader.models.plugins import resolve

    what = "[model] builder"
    model = resolve(arch.builder, what)(arch.lookback, arch.n_features, int(seed))
    shape = tuple(getattr(model, "output_shape", ()) or ())
    if len(shape) != 2 or shape[-1] != 1:
        raise InputError(
            f"{what} {arch.builder} built a network with output shape {shape}: it must map "
            f"windows (batch, {arch.lookback}, {arch.n_features}) to (batch, 1)"
        )
    return model


def build_network(arch: Architecture, seed: int) -> Any:
    """The stacked LSTM with explicitly seeded initializers and dropout (fresh for ``seed``),
    or the user's network when ``arch.builder`` names one."""
    _, keras = load_tf()
    if arch.builder is not None:
        return _built_by_user(arch, seed)

    init = keras.initializers
    layers: list[Any] = [keras.Input(shape=(arch.lookback, arch.n_features), name="window")]
    for i, units in enumerate(arch.units):
        last = i == len(arch.units) - 1
        s = int(seed) + 10 * i
        layers.append(
            keras.layers.LSTM(
                units,
                return_sequences=not last,
                kernel_initializer=init.GlorotUniform(seed=s + 1),
                recurrent_initializer=init.Orthogonal(seed=s + 2),
                seed=s + 3,
                name=f"lstm_{i}",
            )
        )
        if arch.dropout > 0:
            layers.append(keras.layers.Dropout(arch.dropout, seed=s + 4, name=f"dropout_{i}"))
    sigmoid = arch.output == "sigmoid"
    layers.append(
        keras.layers.Dense(
            1,
            activation="sigmoid" if sigmoid else None,
            kernel_initializer=init.GlorotUniform(seed=int(seed) + 9),
            name="fwd_up" if sigmoid else "fwd_ret",
        )
    )
    return keras.Sequential(layers, name="lstm_forecaster")


@dataclass
class FitOutcome:
    """Weights (``get_weights`` order) and per-epoch history of one fit."""

    weights: list[np.ndarray]
    history: dict[str, list[float]]


class Trainer:
    """One network + optimizer + compiled steps for an architecture and training settings."""

    def __init__(self, arch: Architecture, batch_size: int, learning_rate: float) -> None:
        tf, keras = load_tf()

        self.arch = arch
        self.batch_size = int(batch_size)
        #: held for a whole fit: the network and optimizer are shared by every fit of the
        #: process (threads of a Dask worker included), so fits take turns
        self.lock = threading.RLock()
        self.model = build_network(arch, seed=0)
        self.optimizer = keras.optimizers.Adam(learning_rate=float(learning_rate))
        self.optimizer.build(self.model.trainable_variables)
        self._opt_init = [np.array(v.numpy()) for v in self.optimizer.variables]
        self._fresh: OrderedDict[int, list[np.ndarray]] = OrderedDict()
        model, opt = self.model, self.optimizer
        b, lb, nf = self.batch_size, arch.lookback, arch.n_features
        x_spec = tf.TensorSpec([b, lb, nf], tf.float32)
        v_spec = tf.TensorSpec([b], tf.float32)

        sigmoid = arch.output == "sigmoid"

        @tf.function(input_signature=[x_spec, v_spec, v_spec])
        def train_step(x: Any, y: Any, w: Any) -> Any:
            with tf.GradientTape() as tape:
                pred = model(x, training=True)[:, 0]
                if sigmoid:  # weighted binary cross-entropy, clipped like Keras'
                    p = tf.clip_by_value(pred, PROB_EPS, 1.0 - PROB_EPS)
                    per = -(y * tf.math.log(p) + (1.0 - y) * tf.math.log(1.0 - p))
                else:
                    per = tf.square(pred - y)
                loss = tf.reduce_sum(w * per) / tf.reduce_sum(w)
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return loss

        self._train_step = train_step

        @tf.function(input_signature=[tf.TensorSpec([None, lb, nf], tf.float32)])
        def eval_step(x: Any) -> Any:
            return model(x, training=False)

        self._eval_step = eval_step

    # ------------------------------------------------------------------ state
    def _fresh_state(self, seed: int) -> list[np.ndarray]:
        state = self._fresh.get(seed)
        if state is None:
            net = build_network(self.arch, seed)
            state = [np.array(v.numpy()) for v in net.variables]
            self._fresh[seed] = state
            while len(self._fresh) > 8:
                self._fresh.popitem(last=False)
        return state

    def _reset(self, seed: int, init_weights: list[np.ndarray] | None) -> None:
        for var, value in zip(self.model.variables, self._fresh_state(seed), strict=True):
            var.assign(value)
        if init_weights is not None:
            self.model.set_weights(init_weights)
        for var, value in zip(self.optimizer.variables, self._opt_init, strict=True):
            var.assign(value)

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        validation: tuple[np.ndarray, np.ndarray] | None,
        *,
        seed: int,
        epochs: int,
        patience: int,
        init_weights: list[np.ndarray] | None = None,
    ) -> FitOutcome:
        """Train from the fresh (or given) weights; best epoch's weights restored."""
        with self.lock:
            self._reset(seed, init_weights)
            rng = np.random.default_rng(seed)
            n, b = len(x), self.batch_size
            history: dict[str, list[float]] = {"loss": []}
            if validation is not None:
                history["val_loss"] = []
            best, best_weights, wait = np.inf, None, 0
            if init_weights is not None and validation is not None:
                # a warm start keeps the weights it started from unless an epoch beats them on
                # this fold's validation windows (Keras' EarlyStopping ``baseline``, restored)
                best = self._val_loss(validation)
                best_weights = [np.array(w) for w in init_weights]
                history["initial_val_loss"] = [best]
            xb = np.zeros((b, *x.shape[1:]), dtype="float32")
            yb = np.zeros(b, dtype="float32")
            wb = np.zeros(b, dtype="float32")
            for _epoch in range(int(epochs)):
                order = rng.permutation(n)
                total = 0.0
                for start in range(0, n, b):
                    idx = order[start : start + b]
                    k = len(idx)
                    xb[:k], yb[:k], wb[:k] = x[idx], y[idx], 1.0
                    if k < b:
                        xb[k:], yb[k:], wb[k:] = 0.0, 0.0, 0.0
                    total += float(self._train_step(xb, yb, wb)) * k
                history["loss"].append(total / n)
                if validation is not None:
                    current = self._val_loss(validation)
                    history["val_loss"].append(current)
                else:
                    current = history["loss"][-1]
                if current < best:
                    best, best_weights, wait = current, self.model.get_weights(), 0
                else:
                    wait += 1
                    if wait >= patience:
                        break
            weights = best_weights if best_weights is not None else self.model.get_weights()
            return FitOutcome(weights=[np.array(w) for w in weights], history=history)

    def _val_loss(self, validation: tuple[np.ndarray, np.ndarray]) -> float:
        pred = np.asarray(self._eval_step(validation[0]))[:, 0].astype("float64")
        y = validation[1].astype("float64")
        if self.arch.output == "sigmoid":  # binary cross-entropy
            p = np.clip(pred, PROB_EPS, 1.0 - PROB_EPS)
            return float(np.mean(-(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))))
        return float(np.mean((pred - y) ** 2))


class Predictor:
    """One inference network and its compiled call for an architecture (weights swapped in)."""

    def __init__(self, arch: Architecture) -> None:
        tf, _ = load_tf()

        self.arch = arch
        self.model = build_network(arch, seed=0)
        self.owner: object | None = None
        #: held from loading a forecaster's weights until its calls are done (see :meth:`bound`)
        self.lock = threading.RLock()
        model = self.model
        if arch.builder is None:
            # chunks of CHUNK windows (the batched path): XLA fuses each time step's gate
            # products and activations, ~1.3x TensorFlow's loop executor on this CPU; one fixed
            # shape, so one compilation per architecture and process (~1 s)
            chunk = tf.TensorSpec([CHUNK, arch.lookback, arch.n_features], tf.float32)

            @tf.function(input_signature=[chunk], jit_compile=True)
            def call(x: Any) -> Any:
                return model(x, training=False)

        else:
            # a user's network: its layers may not all compile with XLA
            spec = tf.TensorSpec([None, arch.lookback, arch.n_features], tf.float32)

            @tf.function(input_signature=[spec], reduce_retracing=True)
            def call(x: Any) -> Any:
                return model(x, training=False)

        one = tf.TensorSpec([1, arch.lookback, arch.n_features], tf.float32)

        # one window (the bar-by-bar path): XLA fuses the recurrent loop into one kernel,
        # ~0.4 ms a call instead of ~2.9 ms through TensorFlow's loop executor (compiled once
        # per architecture and process, ~0.4 s); equal to the batched call to ~1e-8
        @tf.function(input_signature=[one], jit_compile=True)
        def call_one(x: Any) -> Any:
            return model(x, training=False)

        self.call = call
        self._call_one = call_one
        self._one_concrete: Any = None

    def call_one(self, window: np.ndarray) -> np.ndarray:
        """The network's output for one window ``(1, lookback, n_features)`` (float32): the
        XLA-compiled concrete function, called directly (no per-call signature binding)."""
        if self._one_concrete is None:
            self._one_concrete = self._call_one.get_concrete_function()
        return np.asarray(self._one_concrete(window))

    def load(self, owner: object, weights: list[np.ndarray]) -> None:
        """Put ``owner``'s weights in the network unless they are there already (call with
        :attr:`lock` held, as :meth:`bound` does)."""
        if self.owner is not owner:
            self.model.set_weights(weights)
            self.owner = owner

    @contextlib.contextmanager
    def bound(self, owner: object, weights: list[np.ndarray]) -> Iterator[Predictor]:
        """Hold the network with ``owner``'s weights: no other thread swaps them meanwhile."""
        with self.lock:
            self.load(owner, weights)
            yield self


def predict_windows(windows: np.ndarray, fn: Any) -> np.ndarray:
    """Outputs (float64) of the compiled call ``fn`` for ``windows``, in zero-padded chunks
    of :data:`CHUNK` windows (a window's output never depends on its neighbours).

    The chunks run two or more at a time on a thread pool: TensorFlow releases the GIL and one
    small LSTM call does not keep every core busy (1.5x the throughput on 2 cores, identical
    outputs). The caller holds the network (:meth:`Predictor.bound`) for the whole call.
    """
    m = len(windows)
    out = np.empty(m, dtype="float64")

    def run(start: int) -> None:
        chunk = windows[start : start + CHUNK]
        k = len(chunk)
        if k < CHUNK:
            pad = np.zeros((CHUNK - k, *chunk.shape[1:]), dtype="float32")
            chunk = np.concatenate([chunk, pad])
        res = np.asarray(fn(np.ascontiguousarray(chunk, dtype="float32")))
        out[start : start + k] = res[:k, 0].astype("float64")

    starts = list(range(0, m, CHUNK))
    if len(starts) > 1 and _threads() > 1:
        list(_pool().map(run, starts))
    else:
        for start in starts:
            run(start)
    return out


_POOL: ThreadPoolExecutor | None = None


def _threads() -> int:
    """Inference threads: TensorFlow's intra-op limit when set (executor workers), else cores."""
    limit = os.environ.get("TF_NUM_INTRAOP_THREADS", "")
    if limit.isdigit() and int(limit) > 0:
        return int(limit)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(_threads(), thread_name_prefix="lstm-predict")
        return _POOL


_TRAINERS: OrderedDict[tuple[Any, ...], Trainer] = OrderedDict()
_PREDICTORS: OrderedDict[Architecture, Predictor] = OrderedDict()


_DETERMINISTIC = False


def deterministic_ops() -> None:
    """Turn on ``tf.config.experimental.enable_op_determinism`` (once per process).

    Same data + config + seed then gives bit-identical weights and forecasts on the same
    machine and library versions. TensorFlow is never re-seeded globally (that clears its
    kernel caches, ~0.3 s per fold): initializers, dropout and batch order are seeded
    explicitly.
    """
    global _DETERMINISTIC
    if not _DETERMINISTIC:
        tf, _ = load_tf()

        tf.config.experimental.enable_op_determinism()
        _DETERMINISTIC = True


def trainer_for(arch: Architecture, batch_size: int, learning_rate: float) -> Trainer:
    """The process's trainer for these settings (built and traced on first use; turns on
    deterministic kernels first)."""
    deterministic_ops()
    key = (arch, int(batch_size), float(learning_rate))
    with _LOCK:
        trainer = _TRAINERS.get(key)
        if trainer is None:
            trainer = Trainer(arch, batch_size, learning_rate)
            _TRAINERS[key] = trainer
            while len(_TRAINERS) > _MAX_CACHED:
                _TRAINERS.popitem(last=False)
        else:
            _TRAINERS.move_to_end(key)
        return trainer


def predictor_for(arch: Architecture) -> Predictor:
    """The process's inference network for ``arch`` (built and traced on first use)."""
    with _LOCK:
        pred = _PREDICTORS.get(arch)
        if pred is None:
            pred = Predictor(arch)
            _PREDICTORS[arch] = pred
            while len(_PREDICTORS) > _MAX_CACHED:
                _PREDICTORS.popitem(last=False)
        else:
            _PREDICTORS.move_to_end(arch)
        return pred
