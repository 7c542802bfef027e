"""Benchmark a paper session's bar loop with ``[paper] retrain = "sync"`` against ``"async"``.

Run from the repo root, e.g.::

    .venv/bin/python benchmarks/bench_paper_retrain.py                    # 1 s a bar, default model
    .venv/bin/python benchmarks/bench_paper_retrain.py --epochs 5 --bar-seconds 0.5   # quicker
    .venv/bin/python benchmarks/bench_paper_retrain.py --json /tmp/paper_retrain.json

What it measures, on the real Binance BTC/USDT daily candles (``../shared/data``, see
``benchmarks/benchdata.py``; the last ``train_bars + folds * retrain_every + extra`` bars, by
default 365 + 3 * 30 + 10 = 465) with the project's default model configuration
(``RunConfig`` defaults: lookback 60, units (50, 50), 50 epochs with early stopping, warm start
with one epoch per later fold; ``--epochs`` lowers the first fold's epochs):

1. two replayed paper sessions (``PaperSession(..., replay=frame, speed=...)``), one with
   ``retrain = "sync"`` and one with ``retrain = "async"``, each with a fresh, empty fold cache
   and session folder (so every fold is really trained), candles arriving every
   ``--bar-seconds`` seconds. The first ``train_bars`` candles are the warm-up; fold 0 begins on
   the first live bar and the replay crosses ``--folds`` further fold boundaries.
2. the per-bar wall latency of the bar loop, from the delivery of a new candle
   (``_Recorder.on_candle``, called by the live feed as the source hands the candle over,
   before it is journalled) to the end of that bar's commit (``_Recorder.commit``: order log,
   ``state.json``, ``equity.csv``, status page), stamped with ``time.perf_counter`` by wrapping
   those two methods in this script only (the product code is not changed). Reported: median,
   95th percentile and max over the live bars, and the latency at every fold's first bar (and,
   for async, at each switch bar). The headline is max(async) / max(sync): async should not
   stall the loop while a fold trains.
3. for async, ``switches.jsonl``: per fold its first bar, the bar its model took over, the delay
   in bars (``t - first``) and the training seconds the worker took.
4. reproducibility: ``simulate(paper_inputs(folder).candles, config, switches=...)`` (what
   ``lstm-bt backtest --from-paper`` runs), over the session's fold cache, must give the
   session's ``equity.csv`` paper period exactly (values, positions and folds; printed True or
   False).

The whole run takes about (2 x live bars x --bar-seconds) plus the first fold's training twice
(once in each session) plus a few backtests: some 5-8 minutes on 2 cores with the defaults.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchdata import DEFAULT_CSV, csv_missing, read_candles  # noqa: E402 - benchmarks/ helper

CONFIG = """
[walkforward]
train_bars = {train}
retrain_every = {every}
{model}
[paper]
name = "{name}"
state_dir = "{state_dir}"
retrain = "{retrain}"
"""


class BarProbe:
    """Wall-clock stamps of the session's bar loop: candle delivered -> bar committed.

    Wraps ``_Recorder.on_candle`` and ``_Recorder.commit`` (class attributes, restored by
    :meth:`remove`); only new candles (not the journal's replayed warm-up) are stamped.
    """

    def __init__(self) -> None:
        self.delivered: dict[int, float] = {}  # candle open ms -> perf_counter at delivery
        self.committed: dict[int, float] = {}  # bar open ms -> perf_counter after its commit
        self._saved: tuple[Any, Any] | None = None

    def install(self) -> None:
        from lstm_backtrader.backtests.paper.session import _Recorder
        from lstm_backtrader.strategies.feeds import bar_time

        on_candle, commit = _Recorder.on_candle, _Recorder.commit
        self._saved = (on_candle, commit)
        probe = self

        def timed_on_candle(rec: Any, candle: Any) -> None:
            t = time.perf_counter()
            new = rec.delivered >= len(rec.s.journal)
            on_candle(rec, candle)
            if new:
                probe.delivered[int(candle.open_ms)] = t

        def timed_commit(rec: Any, strat: Any) -> None:
            commit(rec, strat)
            t = time.perf_counter()
            ms = int(bar_time(strat.data).value // 1_000_000)
            if ms in probe.delivered:
                probe.committed[ms] = t

        _Recorder.on_candle = timed_on_candle  # type: ignore[method-assign]
        _Recorder.commit = timed_commit  # type: ignore[method-assign]

    def remove(self) -> None:
        from lstm_backtrader.backtests.paper.session import _Recorder

        if self._saved is not None:
            _Recorder.on_candle, _Recorder.commit = self._saved  # type: ignore[method-assign]
            self._saved = None

    def latencies(self) -> dict[int, float]:
        """Seconds from delivery to commit, by bar open ms (bars delivered and committed)."""
        return {ms: self.committed[ms] - t for ms, t in sorted(self.delivered.items())
                if ms in self.committed}  # fmt: skip


def _iso(ms: int) -> str:
    import pandas as pd

    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%d")


def run_session(mode: str, frame: Any, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One replayed session with ``retrain = mode``: timings, switches and the equality check."""
    import numpy as np
    import pandas as pd

    from lstm_backtrader.backtests.paper.config import load_paper_config
    from lstm_backtrader.backtests.paper.record import paper_inputs
    from lstm_backtrader.backtests.paper.retrain import SWITCHES_FILE
    from lstm_backtrader.backtests.paper.session import PaperSession
    from lstm_backtrader.backtests.simulation import simulate

    root = work / mode
    root.mkdir(parents=True)
    model = f"\n[model]\nepochs = {args.epochs}\n" if args.epochs is not None else ""
    toml = root / "session.toml"
    toml.write_text(CONFIG.format(train=args.train_bars, every=args.retrain_every, model=model,
                                  name=f"bench-{mode}", state_dir=root / "paper",
                                  retrain=mode), encoding="utf-8")  # fmt: skip
    cfg, paper = load_paper_config(toml)
    cache = root / "folds"  # fresh: every fold is trained in this session
    bar = pd.Timedelta(pd.Series(frame.index[1:] - frame.index[:-1]).mode().min())
    speed = bar.total_seconds() / args.bar_seconds

    probe = BarProbe()
    probe.install()
    try:
        t0 = time.perf_counter()
        session = PaperSession(cfg, paper, replay=frame, replay_name="btc_usdt_1d_binance.csv",
                               speed=speed, cache_dir=cache)  # fmt: skip
        result = session.run()
        wall = time.perf_counter() - t0
    finally:
        probe.remove()

    lat = probe.latencies()
    values = list(lat.values())
    spec = session.config.walkforward
    bar_ms = int(bar.total_seconds() * 1000)
    index_ms = [int(t.value // 1_000_000) for t in frame.index]
    n_folds = (len(frame) - spec.train_bars - 1) // spec.retrain_every + 1
    firsts = [index_ms[spec.train_bars + k * spec.retrain_every] for k in range(n_folds)]
    worst = max(lat, key=lat.__getitem__)
    out: dict[str, Any] = {
        "mode": mode,
        "live_bars": len(values),
        "wall_s": wall,
        "nominal_s": len(values) * args.bar_seconds,
        "median_ms": 1000 * statistics.median(values),
        "p95_ms": 1000 * float(np.percentile(values, 95)),
        "max_ms": 1000 * lat[worst],
        "max_bar": _iso(worst),
        "fold_first_ms": {k: 1000 * lat.get(ms, float("nan")) for k, ms in enumerate(firsts)},
        "fold_first_bar": {k: _iso(ms) for k, ms in enumerate(firsts)},
    }
    folder = result.folder
    path = folder / SWITCHES_FILE
    switches = [json.loads(line)["r"] for line in path.open()] if path.exists() else []
    out["switches"] = [
        {"fold": r["fold"], "first": _iso(r["first"]), "switch": _iso(r["t"]),
         "delay_bars": (r["t"] - r["first"]) // bar_ms, "how": r["how"],
         "train_seconds": r["train_seconds"],
         "switch_bar_ms": 1000 * lat.get(r["t"], float("nan"))}
        for r in switches
    ]  # fmt: skip
    folds_seen = sorted({int(f) for f in result.equity["fold"] if f >= 0})
    out["folds_used"] = folds_seen
    out["training_at_end"] = json.loads((folder / "state.json").read_text()).get("training", [])

    # 4. the backtest over the session's record equals its equity.csv paper period
    t1 = time.perf_counter()
    inputs = paper_inputs(folder)
    sim = simulate(inputs.candles, inputs.config, cache_dir=cache, switches=inputs.switches)
    lstm = sim.records["LSTM"]
    equity = pd.read_csv(folder / "equity.csv", index_col=0, parse_dates=True)
    equity.index = pd.DatetimeIndex(equity.index).as_unit("ns")
    oos = pd.Timestamp(sim.oos_start).as_unit("ns")
    paper_period = equity[equity.index >= oos]
    sim_index = pd.DatetimeIndex(lstm.equity.index).as_unit("ns")
    same_index = paper_period.index.equals(sim_index)
    a, b = paper_period["value"].to_numpy(), lstm.equity.to_numpy("float64")
    out["equal_equity"] = bool(same_index and np.array_equal(a, b))
    out["equal_position"] = bool(
        same_index and np.array_equal(paper_period["position"].to_numpy(),
                                      lstm.position.to_numpy("float64"))
    )  # fmt: skip
    fold_id = sim.fold_id[sim.fold_id.index >= sim.oos_start].to_numpy("float64")
    out["equal_fold"] = bool(
        same_index and np.array_equal(paper_period["fold"].to_numpy(), fold_id)
    )
    out["max_abs_diff"] = float(np.max(np.abs(a - b))) if same_index and len(a) else float("nan")
    out["paper_bars"] = len(paper_period)
    out["sim_folds_cached"] = bool(sim.folds["cached"].all())
    out["sim_s"] = time.perf_counter() - t1
    out["switch_record"] = "none (sync)" if inputs.switches is None else len(inputs.switches.times)
    return out


def _print(results: dict[str, dict[str, Any]], args: argparse.Namespace, n_bars: int) -> None:
    modes = list(results)
    print()
    print(f"{'':42}" + "".join(f"{m:>14}" for m in modes))

    def row(label: str, fmt: str, key: str) -> None:
        cells = "".join(f"{format(results[m][key], fmt):>14}" for m in modes)
        print(f"{label:42}{cells}")

    row("live bars", "d", "live_bars")
    row("session wall, s", ".1f", "wall_s")
    row("  nominal (live bars x bar-seconds), s", ".1f", "nominal_s")
    row("per-bar latency median, ms", ".1f", "median_ms")
    row("per-bar latency p95, ms", ".1f", "p95_ms")
    row("per-bar latency max, ms", ".1f", "max_ms")
    row("  bar of the max", "s", "max_bar")
    first = results[modes[0]]["fold_first_bar"]
    for k, day in first.items():
        cells = "".join(f"{results[m]['fold_first_ms'][k]:>14.1f}" for m in modes)
        print(f"{f'latency at fold {k} first bar ({day}), ms':42}{cells}")
    row("folds whose model forecast", "s", "folds_str")
    row("equity == backtest from record", "s", "equal_equity_str")
    row("  positions equal / folds equal", "s", "pos_fold_str")
    row("  paper-period bars compared", "d", "paper_bars")
    row("  backtest found every fold cached", "s", "cached_str")
    row("  backtest from record, s", ".1f", "sim_s")
    if "async" in results and results["async"]["switches"]:
        print()
        print("async switches (switches.jsonl):")
        print(f"  {'fold':>4} {'first bar':>11} {'switch bar':>11} {'delay, bars':>12} "
              f"{'how':>8} {'train, s':>9} {'switch-bar latency, ms':>23}")  # fmt: skip
        for s in results["async"]["switches"]:
            print(
                f"  {s['fold']:>4} {s['first']:>11} {s['switch']:>11} {s['delay_bars']:>12} "
                f"{s['how']:>8} {s['train_seconds']:>9.1f} {s['switch_bar_ms']:>23.1f}"
            )
        if results["async"]["training_at_end"]:
            print(f"  still training at the end: folds {results['async']['training_at_end']}")
    if "sync" in results and "async" in results:
        ratio = results["async"]["max_ms"] / results["sync"]["max_ms"]
        print()
        print(f"headline: max per-bar latency async / sync = "
              f"{results['async']['max_ms']:.1f} / {results['sync']['max_ms']:.1f} ms "
              f"= {ratio:.4f}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="daily candles CSV")
    parser.add_argument("--train-bars", type=int, default=365, help="[walkforward] train_bars")
    parser.add_argument("--retrain-every", type=int, default=30, help="[walkforward] retrain_every")
    parser.add_argument("--folds", type=int, default=3, help="fold boundaries the replay crosses")
    parser.add_argument("--extra-bars", type=int, default=10, help="live bars after the last fold")
    parser.add_argument("--bar-seconds", type=float, default=1.0, help="replay: seconds per bar")
    parser.add_argument("--epochs", type=int, default=None,
                        help="[model] epochs (default: the config default, 50)")  # fmt: skip
    parser.add_argument("--modes", default="sync,async", help="comma-separated retrain modes")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="keep the sessions here (default: a temp dir)")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument("-v", "--verbose", action="store_true", help="the session's INFO logs")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if any(m not in ("sync", "async") for m in modes):
        parser.error(f"--modes: use sync and/or async, not {args.modes!r}")

    if csv_missing(args.csv, "daily candles"):
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")  # fmt: skip
    logging.getLogger("lstm_backtrader.strategies.lstm").setLevel(logging.ERROR)

    candles = read_candles(args.csv)
    n_bars = args.train_bars + args.folds * args.retrain_every + args.extra_bars
    if len(candles) < n_bars:
        print(f"error: {args.csv} has {len(candles)} bars, {n_bars} needed", file=sys.stderr)
        return 2
    frame = candles.iloc[-n_bars:]
    epochs = "default" if args.epochs is None else args.epochs
    print(f"data: {args.csv.name}, last {n_bars} of {len(candles)} bars "
          f"({frame.index[0]:%Y-%m-%d} .. {frame.index[-1]:%Y-%m-%d}); train_bars "
          f"{args.train_bars}, retrain_every {args.retrain_every}, "
          f"{n_bars - args.train_bars} live bars every {args.bar_seconds} s, epochs "
          f"{epochs}, {os.cpu_count()} CPUs")  # fmt: skip

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-paper-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for mode in modes:
            print(f"running the {mode} session ...", flush=True)
            res = run_session(mode, frame, work, args)
            res["folds_str"] = ",".join(str(f) for f in res["folds_used"])
            res["equal_equity_str"] = str(res["equal_equity"])
            res["pos_fold_str"] = f"{res['equal_position']}/{res['equal_fold']}"
            res["cached_str"] = str(res["sim_folds_cached"])
            results[mode] = res
            print(f"  done: {res['wall_s']:.1f} s, max bar latency {res['max_ms']:.1f} ms, "
                  f"equity equal {res['equal_equity']}", flush=True)  # fmt: skip
    _print(results, args, n_bars)
    if args.json is not None:
        doc = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
               "n_bars": n_bars, "results": results}  # fmt: skip
        args.json.write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0 if all(r["equal_equity"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
