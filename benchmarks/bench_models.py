"""Benchmark the LSTM forecaster on the real BTC/USDT daily candles.

Run ``.venv/bin/python benchmarks/bench_models.py`` from the repo root. Prints, for the default
model (lookback 60, units (50, 50), batch 128):

* batched inference (``LSTMForecaster.predict`` over every window of the series) in windows/s;
* one ``model.predict`` per bar (on a subset of bars, extrapolated), and the ``predict_last``
  fast path per bar, in windows/s, with the speed-up of the batched path in the same run;
* the largest difference between the batched and the per-bar forecasts (must be < 1e-5);
* training throughput in windows/s per epoch through the compiled training step every fit uses
  (traced once per process, so tracing is excluded; no validation pass);
* the physical limit: windows/s the CPU's fp32 peak (cores x GHz x SIMD FMA FLOPs/cycle) would
  allow for the model's forward FLOPs, and the share of it inference and training reach.

Every timing is the median of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchdata import DEFAULT_CSV, csv_missing  # noqa: E402 - benchmarks/ helper

#: issue 13's target for batched inference of the default model on this machine (2 cores)
TARGET_WPS = 20_000


def _median_time(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def forward_flops(lookback: int, n_features: int, units: tuple[int, ...]) -> float:
    """FLOPs of one window's forward pass (2 per multiply-add; gate nonlinearities ignored)."""
    total, n_in = 0.0, n_features
    for u in units:
        total += lookback * 2 * 4 * u * (n_in + u)  # 4 gates: x @ W + h @ U per step
        n_in = u
    return total + 2 * n_in  # dense head


def cpu_peak_flops() -> tuple[float, str]:
    """Estimated fp32 peak of this machine: cores x GHz x FLOPs/cycle from the SIMD width."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = next((ln for ln in info.splitlines() if ln.startswith("flags")), "")
    mhz = next((float(ln.split(":")[1]) for ln in info.splitlines() if "cpu MHz" in ln), 2000.0)
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    per_cycle = lanes * 2 * 2  # 2 FMA units x (multiply + add)
    peak = (cores or 1) * mhz * 1e6 * per_cycle
    note = (
        f"peak {peak / 1e9:.0f} GFLOP/s = {cores} cores x {mhz / 1e3:.1f} GHz x {per_cycle} "
        f"FLOP/cycle ({'AVX-512' if lanes == 16 else 'AVX2' if lanes == 8 else 'SSE'} FMA)"
    )
    return peak, note


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="daily candles CSV")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per timing (median)")
    parser.add_argument("--per-bar", type=int, default=50, help="bars timed one call each")
    parser.add_argument("--train-bars", type=int, default=730, help="training slice length")
    parser.add_argument("--no-check", action="store_true", help="report without the speed target")
    args = parser.parse_args(argv)

    if csv_missing(args.csv, "daily candles"):
        return 2

    import numpy as np
    import pandas as pd

    from lstm_backtrader.backtests.data.validate import validate_ohlcv
    from lstm_backtrader.models.features import compute_features, gather_windows, valid_window_ends
    from lstm_backtrader.models.lstm import LSTMForecaster

    raw = pd.read_csv(args.csv)
    candles = validate_ohlcv(raw, source=args.csv.name)
    train = candles.iloc[: args.train_bars]
    print(f"data: {args.csv.name}, {len(candles)} bars, training slice {len(train)} bars")

    # ---- fit the default model once (this also traces Keras' train step)
    fitted = LSTMForecaster().fit(train, epochs=2)

    # ---- batched inference over the whole series
    fitted.predict(candles)  # trace once
    batched_s = _median_time(lambda: fitted.predict(candles), args.repeats)
    pred = fitted.predict(candles)
    n_pred = int(pred.notna().sum())

    z = fitted.scaler_.transform(
        compute_features(candles, fitted.features).to_numpy(dtype="float64")
    ).astype("float32")
    ends = valid_window_ends(z, fitted.lookback)

    # ---- the baseline of this run: the same chunked, threaded path through TensorFlow's
    # graph executor (no XLA), the batched path before issue 13
    from lstm_backtrader.models.tfload import load_tf
    from lstm_backtrader.models.trainer import predict_windows

    tf, _ = load_tf()
    net = fitted._pred.model
    spec = tf.TensorSpec([None, fitted.lookback, len(fitted.features)], tf.float32)
    graph_fn = tf.function(lambda x: net(x, training=False), input_signature=[spec])
    all_windows = gather_windows(z, ends, fitted.lookback)

    def graph_predict() -> np.ndarray:
        with fitted._bound():
            return predict_windows(all_windows, graph_fn)

    graph_predict()  # trace once
    graph_s = _median_time(graph_predict, args.repeats)
    graph_out = graph_predict() * fitted.target_std_ + fitted.target_mean_
    diff_graph = float(np.max(np.abs(graph_out - pred.to_numpy()[ends])))

    # ---- one model.predict per bar, and the predict_last fast path, on a subset of bars
    subset = ends[np.linspace(0, len(ends) - 1, args.per_bar).astype(int)]
    windows = gather_windows(z, subset, fitted.lookback)
    model = fitted.model_
    model.predict(windows[:1], verbose=0)  # warm-up

    def per_bar_predict() -> np.ndarray:
        return np.array([model.predict(w[None], verbose=0)[0, 0] for w in windows])

    def per_bar_last() -> np.ndarray:
        return np.array([fitted.predict_last(candles.iloc[: t + 1]) for t in subset])

    per_bar_last()  # warm-up
    per_bar_s = _median_time(per_bar_predict, args.repeats) / len(subset)
    last_s = _median_time(per_bar_last, args.repeats) / len(subset)
    slow = per_bar_predict().astype("float64") * fitted.target_std_ + fitted.target_mean_
    diff_predict = float(np.max(np.abs(slow - pred.to_numpy()[subset])))
    diff_last = float(np.max(np.abs(per_bar_last() - pred.to_numpy()[subset])))

    # ---- training throughput through the compiled training step every fit uses
    # (lstm_backtrader.models.trainer: traced once per process, so tracing is excluded): time fits
    # of 1 and of 1 + repeats epochs on the same windows; the difference is the epochs' cost
    from lstm_backtrader.models.trainer import trainer_for

    train_pos = candles.index.get_indexer(fitted.train_index_)
    x_tr = gather_windows(z, train_pos, fitted.lookback)
    y_all = np.log(candles["close"].shift(-fitted.horizon) / candles["close"]).to_numpy()
    y_tr = ((y_all[train_pos] - fitted.target_mean_) / fitted.target_std_).astype("float32")
    n_windows = len(x_tr)
    trainer = trainer_for(
        fitted._architecture(len(fitted.features)), fitted.batch_size, fitted.learning_rate
    )

    def fit(epochs: int) -> None:
        trainer.fit(x_tr, y_tr, None, seed=0, epochs=epochs, patience=10**6)

    fit(1)  # warm-up
    t_one = _median_time(lambda: fit(1), args.repeats)
    t_more = _median_time(lambda: fit(1 + args.repeats), args.repeats)
    per_epoch = (t_more - t_one) / args.repeats

    # ---- the physical limit: multiply-adds of one forward pass vs the CPU's peak
    flops = forward_flops(fitted.lookback, len(fitted.features), tuple(fitted.units))
    peak, peak_note = cpu_peak_flops()

    batched_wps = n_pred / batched_s
    graph_wps = len(all_windows) / graph_s
    rows = [
        (
            "batched predict (XLA chunks)",
            f"{batched_wps:,.0f}",
            "1.0x",
            f"{n_pred} windows; target >= {TARGET_WPS:,} windows/s",
        ),
        (
            "baseline: graph executor chunks",
            f"{graph_wps:,.0f}",
            f"{batched_wps / graph_wps:.2f}x slower",
            f"the batched path before XLA, max |diff| {diff_graph:.1e}",
        ),
        (
            "model.predict per bar",
            f"{1 / per_bar_s:,.1f}",
            f"{batched_wps * per_bar_s:,.0f}x slower",
            f"{per_bar_s * 1e3:.1f} ms/bar, max |diff| {diff_predict:.1e}",
        ),
        (
            "predict_last per bar",
            f"{1 / last_s:,.1f}",
            f"{batched_wps * last_s:,.0f}x slower",
            f"{last_s * 1e3:.1f} ms/bar, max |diff| {diff_last:.1e}",
        ),
        (
            "training (per epoch)",
            f"{n_windows / per_epoch:,.0f}",
            "",
            f"{per_epoch:.2f} s/epoch for {n_windows} windows, batch {fitted.batch_size}",
        ),
    ]
    inf_flops = batched_wps * flops
    train_flops = n_windows / per_epoch * 3 * flops  # forward + backward ~ 3x forward
    rows.append(
        (
            "physical limit (fp32 peak)",
            f"{peak / flops:,.0f}",
            "",
            f"{flops / 1e6:.2f} MFLOP/window forward; {peak_note}",
        )
    )
    print(f"\nmodel: lookback {fitted.lookback}, units {fitted.units}, median of {args.repeats}")
    print(f"{'path':32} {'windows/s':>12} {'vs batched':>16}  detail")
    for name, wps, ratio, detail in rows:
        print(f"{name:32} {wps:>12} {ratio:>16}  {detail}")
    print(
        f"\ninference reaches {inf_flops / 1e9:.1f} GFLOP/s = {inf_flops / peak:.1%} of the "
        f"estimated peak; training {train_flops / 1e9:.1f} GFLOP/s = {train_flops / peak:.1%}"
    )
    ok = diff_predict < 1e-5 and diff_last < 1e-5 and diff_graph < 1e-6
    print(f"\nforecasts agree (per bar to 1e-5, graph executor to 1e-6): {'yes' if ok else 'NO'}")
    fast = batched_wps >= TARGET_WPS
    print(f"batched inference >= {TARGET_WPS:,} windows/s: {'yes' if fast else 'NO'}")
    if args.no_check:
        return 0 if ok else 1
    return 0 if ok and fast else 1


if __name__ == "__main__":
    raise SystemExit(main())
