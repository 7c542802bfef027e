"""Where one training step of the default LSTM spends its time, and what the tried
alternatives cost, measured in one process (ratios against the step every fit uses).

Run ``.venv/bin/python benchmarks/bench_train_step.py`` from the repo root. For the default
architecture (lookback 60, 3 features, LSTM 50+50, dropout 0.2, batch 128) it times, each the
median of ``--repeats`` rounds of 10 calls, interleaved so machine load hits all alike:

* the compiled train step of :mod:`lstm_backtrader.models.trainer` (forward + backward + Adam);
* its parts: the forward pass alone, forward + backward without the optimizer update;
* TensorFlow's per-iteration cost of a ``while_loop`` (2 x 60 iterations of one small
  element-wise op), and the same loops with one recurrent product ``h @ U`` each;
* the XLA-compiled (``jit_compile=True``) forward + backward, without dropout (masks given as
  inputs) and with Keras' own dropout (random numbers drawn inside XLA), against the graph
  executor's forward + backward on the same inputs.

No data file is needed: the inputs are random (a step's cost does not depend on the values).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("LSTM_BT_QUIET_TF", "1")

BATCH, LOOKBACK, N_FEATURES, UNITS, DROPOUT = 128, 60, 3, (50, 50), 0.2


def _time_all(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each case (10 calls a round, rounds interleaved)."""
    for fn in cases.values():  # trace / compile, untimed
        fn()
        fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            for _ in range(10):
                fn()
            times[name].append((time.perf_counter() - t0) / 10)
    return {name: statistics.median(v) for name, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="rounds of 10 calls (median)")
    args = parser.parse_args(argv)

    import numpy as np

    from lstm_backtrader.models.tfload import load_tf
    from lstm_backtrader.models.trainer import Architecture, trainer_for

    tf, keras = load_tf()
    arch = Architecture(LOOKBACK, N_FEATURES, UNITS, DROPOUT)
    trainer = trainer_for(arch, BATCH, 1e-3)
    model = trainer.model
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, LOOKBACK, N_FEATURES)).astype("float32")
    y = rng.standard_normal(BATCH).astype("float32")
    w = np.ones(BATCH, dtype="float32")
    keep = 1.0 - DROPOUT
    masks = [
        (rng.random((BATCH, LOOKBACK, UNITS[0])) < keep).astype("float32") / keep,
        (rng.random((BATCH, UNITS[1])) < keep).astype("float32") / keep,
    ]
    xs = tf.TensorSpec([BATCH, LOOKBACK, N_FEATURES], tf.float32)
    ys = tf.TensorSpec([BATCH], tf.float32)
    ms = [tf.TensorSpec(m.shape, tf.float32) for m in masks]

    def forward(x_: object) -> object:
        return model(x_, training=True)

    def forward_backward(x_: object, y_: object) -> object:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x_, training=True)[:, 0] - y_))
        return tape.gradient(loss, model.trainable_variables)

    def forward_backward_masks(x_: object, y_: object, m0: object, m1: object) -> object:
        """Dropout as given masks (no random numbers drawn inside the compiled function)."""
        given = [m0, m1]
        with tf.GradientTape() as tape:
            h = x_
            for layer in model.layers:
                if isinstance(layer, keras.layers.Dropout):
                    h = h * given.pop(0)
                else:
                    h = layer(h, training=True)
            loss = tf.reduce_mean(tf.square(h[:, 0] - y_))
        return tape.gradient(loss, model.trainable_variables)

    u = tf.constant(rng.standard_normal((UNITS[1], 4 * UNITS[1])).astype("float32"))

    def loops(h: object, matmul: bool) -> object:
        def body(t: object, h_: object) -> tuple[object, object]:
            return t + 1, (tf.matmul(h_, u)[:, : UNITS[1]] if matmul else tf.tanh(h_) * 0.5)

        for _ in UNITS:
            _, h = tf.while_loop(lambda t, _h: t < LOOKBACK, body, (0, h))
        return h

    hs = tf.TensorSpec([BATCH, UNITS[1]], tf.float32)
    h0 = np.zeros((BATCH, UNITS[1]), dtype="float32")
    fwd = tf.function(forward, input_signature=[xs])
    fb = tf.function(forward_backward, input_signature=[xs, ys])
    fbm = tf.function(forward_backward_masks, input_signature=[xs, ys, *ms])
    fbm_xla = tf.function(forward_backward_masks, input_signature=[xs, ys, *ms], jit_compile=True)
    fb_xla = tf.function(forward_backward, input_signature=[xs, ys], jit_compile=True)
    loop_ew = tf.function(lambda h: loops(h, False), input_signature=[hs])
    loop_mm = tf.function(lambda h: loops(h, True), input_signature=[hs])

    grads_graph = fbm(x, y, *masks)
    grads_xla = fbm_xla(x, y, *masks)
    diff = max(
        float(tf.reduce_max(tf.abs(a - b))) for a, b in zip(grads_graph, grads_xla, strict=True)
    )

    cases: dict[str, Callable[[], object]] = {
        "step": lambda: trainer._train_step(x, y, w),
        "forward": lambda: fwd(x),
        "fwd+bwd": lambda: fb(x, y),
        "loop": lambda: loop_ew(h0),
        "loop_mm": lambda: loop_mm(h0),
        "fbm": lambda: fbm(x, y, *masks),
        "fbm_xla": lambda: fbm_xla(x, y, *masks),
        "fb_xla": lambda: fb_xla(x, y),
    }
    t = _time_all(cases, args.repeats)
    step = t["step"]
    iterations = LOOKBACK * len(UNITS)
    rows = [
        ("train step (forward + backward + Adam)", t["step"], "what every fit runs"),
        (
            "  forward (training=True)",
            t["forward"],
            f"{t['forward'] / iterations * 1e6:.0f} us per time step and layer",
        ),
        ("  backward + Adam update", t["step"] - t["forward"], "step minus forward"),
        (
            "forward + backward, own function",
            t["fwd+bwd"],
            "no optimizer; the parts of one graph need not add up to two graphs' times",
        ),
        (
            "while_loop 2x60, one tiny op",
            t["loop"],
            f"{t['loop'] / iterations * 1e6:.0f} us per iteration: the loop executor's floor",
        ),
        (
            "while_loop 2x60, h @ U (128x50 @ 50x200)",
            t["loop_mm"],
            "one recurrent product per iteration",
        ),
        ("fwd+bwd, dropout masks given (graph)", t["fbm"], "baseline of the next row"),
        (
            "fwd+bwd, dropout masks given (XLA)",
            t["fbm_xla"],
            f"{t['fbm_xla'] / t['fbm']:.2f}x the graph; grads equal to {diff:.1e}",
        ),
        (
            "fwd+bwd, Keras dropout inside XLA",
            t["fb_xla"],
            f"{t['fb_xla'] / t['fwd+bwd']:.2f}x the graph (random numbers drawn in XLA)",
        ),
    ]
    print(
        f"\nbatch {BATCH}, lookback {LOOKBACK}, units {UNITS}, median of {args.repeats} x 10 calls"
    )
    print(f"{'part':44} {'ms':>8} {'of step':>8}  detail")
    for name, secs, detail in rows:
        print(f"{name:44} {secs * 1e3:>8.2f} {secs / step:>8.0%}  {detail}")
    print(f"\ntraining throughput of the step: {BATCH / step:,.0f} windows/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
