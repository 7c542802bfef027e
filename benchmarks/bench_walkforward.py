"""Benchmark the whole walk-forward backtest on real candles: cold, cached, and its parts.

Run from the repo root, e.g.::

    .venv/bin/python benchmarks/bench_walkforward.py                      # BTC 1d, monthly folds
    .venv/bin/python benchmarks/bench_walkforward.py --scratch --workers 2 # + from-scratch folds
    .venv/bin/python benchmarks/bench_walkforward.py --csv ../shared/data/btc_usdt_2h_binance.csv \\
        --retrain-every 84 --max-folds 40                                 # 2h, weekly folds

Prints one table: for the default configuration (``lstm_backtrader.backtests.config.RunConfig``:
lookback 60, units (50, 50), warm start) the cold walk-forward (training / inference / other), the
backtests of every strategy through Backtrader (forecasts from the fold cache), the report
(tearsheet, page, CSVs), and the whole ``run_backtest`` rerun from the cache; the forecasts'
RMSE against the persistence (zero-return) forecast; optionally the same walk-forward with every
fold trained from scratch (``warm_start=False``) serially and through ``--workers`` local
processes, with the speed-up and a check that both give identical forecasts.
Every cold timing uses a fresh, empty cache folder; the cold walk-forward is the median of
``--repeats`` runs (which must give identical forecasts).

Memory: the resident set (``VmRSS``) after every fold of the cold runs, sampled in the table
(``--rss-csv`` writes every fold's), its growth from fold ``--rss-early`` (default 10: the
first folds warm TensorFlow up) to the last, the RSS after each repeat (a leak across runs),
and the peak RSS (``ru_maxrss``, = ``VmHWM``) after the cold runs and at the end.

Where the time goes (the median cold run): training proper (``Trainer.fit``: epochs and
validation passes, what a warm-started chain must run in order) against the fit's data work
(features, scaling, windows), saving, inference and the fold cache, which a chain could overlap
with the next fold's training (see ``benchmarks/phases.py``): their share is the upper bound of
any overlap within one chain.

Several cores: ``--assets N`` runs N independent warm-started walk-forwards (the daily file,
then daily bars of the 2-hourly file with days starting at 12:00, 06:00, ... UTC, see
``benchmarks/wf_assets.py``; ``--csv-2h``) serially in this process and through
``max(2, --workers)`` local processes of the project's executor, checks identical forecasts
and prints the speed-up (the same holds for the members of a seed ensemble), and, from the CPU
time each run needed, an estimate for a machine whose cores are not shared with other jobs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CSV_2H = REPO.parent / "shared" / "data" / "btc_usdt_2h_binance.csv"
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchdata import DEFAULT_CSV, csv_missing  # noqa: E402 - benchmarks/ helper
from memwatch import FoldRSS, hwm_mb, peak_rss_mb, rss_mb  # noqa: E402 - benchmarks/ helpers
from phases import timed_phases  # noqa: E402


def _rmse_ratio(forecasts, realised) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    import numpy as np

    f, r = forecasts.to_numpy(), realised.to_numpy()
    ok = np.isfinite(f) & np.isfinite(r)
    return float(np.sqrt(np.mean((f[ok] - r[ok]) ** 2)) / np.sqrt(np.mean(r[ok] ** 2))), int(
        ok.sum()
    )


def _phase_rows(phases: dict[str, float], wall: float) -> list[tuple[str, str, str]]:
    """Where the median cold run's wall time went (``benchmarks/phases.py``)."""
    train = phases["training"]
    rest = wall - sum(phases.values())
    share = 1.0 - train / wall
    parts = [
        ("  training proper (Trainer.fit)", "training"),
        ("  features, scaling, windows (fit)", "data"),
        ("  TF import, trainer/predictor build", "tf_setup"),
        ("  save model (.keras + sidecar)", "save"),
        ("  inference (predict)", "inference"),
        ("  hashes, fold cache commit", "cache"),
    ]
    rows = [("time by phase (median cold run):", "", "")]
    rows += [(name, f"{phases[k]:8.1f} s", f"{phases[k] / wall:6.1%}") for name, k in parts]
    rows += [
        ("  other (engine, slicing, metrics)", f"{rest:8.1f} s", f"{rest / wall:6.1%}"),
        (
            "  not training: overlap bound",
            f"{share:8.1%}",
            f"of wall; overlapping all of it with training: <= {1 / (1 - share):.2f}x",
        ),
    ]
    return rows


def _memory_rows(
    watches: list[FoldRSS], early: int, peak: float, hwm: float
) -> list[tuple[str, str, str]]:
    """RSS after the folds of the first cold run, its growth, across runs, and the peak."""
    first = watches[0]
    e, last, growth = first.growth(early)
    samples = " ".join(f"{f}:{mb:.0f}" for f, mb in first.sampled(8))
    ends = " ".join(f"{w.after(-1):.0f}" for w in watches)
    return [
        ("RSS before fold 0 (first cold run)", f"{first.start:6.0f} MiB", "VmRSS"),
        ("RSS after fold (first cold run)", f"{first.after(-1):6.0f} MiB", f"fold:MiB {samples}"),
        (
            f"  RSS growth fold {e} -> {last}",
            f"{growth:+6.1f} MiB",
            f"{growth * 1024 / max(1, last - e):+.0f} KiB/fold",
        ),
        ("  RSS after each cold run", f"{watches[-1].after(-1):6.0f} MiB", f"runs: {ends}"),
        ("peak RSS, cold walk-forward", f"{peak:6.0f} MiB", f"ru_maxrss (VmHWM {hwm:.0f} MiB)"),
    ]


def _write_rss(path: Path, watches: list[FoldRSS]) -> None:
    lines = ["run,fold,rss_mib"]
    for r, w in enumerate(watches):
        lines += [f"{r},{fold},{mb:.2f}" for fold, mb in sorted(w.rss.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _asset_rows(  # type: ignore[no-untyped-def]
    args: argparse.Namespace, config, workers: int
) -> list[tuple[str, str, str]]:
    """N independent walk-forwards serially here, then through ``workers`` processes."""
    from wf_assets import AssetTask, asset_candles, run_asset

    from lstm_backtrader.models.infra.executor import (
        cpu_count,
        make_executor,
        threads_per_worker,
    )

    bars = None
    if args.max_folds is not None:
        bars = args.train_bars + args.max_folds * args.retrain_every
    tasks = [
        AssetTask(name, c, config)
        for name, c in asset_candles(args.assets, args.csv, args.csv_2h, bars)
    ]
    with make_executor(workers=1) as ex:
        t0 = time.perf_counter()
        serial = ex.map(run_asset, tasks)
        t_serial = time.perf_counter() - t0
    with make_executor(workers=workers) as ex:
        t0 = time.perf_counter()
        par = ex.map(run_asset, tasks)
        t_par = time.perf_counter() - t0
    same = all(a.forecasts.equals(b.forecasts) for a, b in zip(serial, par, strict=True))
    rows = [(f"{len(tasks)} assets, independent chains:", "", "")]
    for a, b in zip(serial, par, strict=True):
        rows.append(
            (
                f"  {a.name[:36]}",
                f"{a.seconds:8.1f} s",
                f"{a.n_folds} folds serial ({a.cpu_seconds / a.seconds:.2f} cores busy); "
                f"{b.seconds:.1f} s in worker {b.pid} ({b.cpu_seconds / b.seconds:.2f} cores, "
                f"VmHWM {b.peak_rss_mb:.0f} MiB)",
            )
        )
    rows += [
        ("  serial, this process", f"{t_serial:8.1f} s", "warm TensorFlow, all cores"),
        (
            f"  {workers} processes (executor)",
            f"{t_par:8.1f} s",
            f"speed-up {t_serial / t_par:.2f}x incl. worker start; identical forecasts: {same}",
        ),
    ]
    # on a shared machine the workers may get less than a core per thread: from the CPU time
    # each run needed, uncontended the serial run takes >= its CPU time / cores and the
    # processes ~ the largest worker's CPU time / its threads
    cpu_serial = sum(a.cpu_seconds for a in serial)
    worker_need = max(b.cpu_seconds for b in par) / threads_per_worker(workers)
    rows.append(
        (
            "  CPU time, serial / processes",
            f"{cpu_serial:6.0f} cpu-s",
            f"{sum(b.cpu_seconds for b in par):.0f} cpu-s in the workers; uncontended "
            f"speed-up ~>= {cpu_serial / cpu_count() / worker_need:.2f}x",
        )
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="candles CSV")
    parser.add_argument("--train-bars", type=int, default=730, help="walkforward.train_bars")
    parser.add_argument("--retrain-every", type=int, default=30, help="bars between refits")
    parser.add_argument("--warm-start-epochs", type=int, default=None, help="override")
    parser.add_argument("--batch-size", type=int, default=None, help="override model.batch_size")
    parser.add_argument("--max-folds", type=int, default=None, help="use only the first N folds")
    parser.add_argument("--scratch", action="store_true", help="also train folds from scratch")
    parser.add_argument(
        "--workers", type=int, default=1, help="processes for --scratch (--assets: at least 2)"
    )
    parser.add_argument("--no-report", action="store_true", help="skip backtest and report")
    parser.add_argument("--repeats", type=int, default=3, help="cold walk-forward runs (median)")
    parser.add_argument("--rss-early", type=int, default=10, help="RSS growth from this fold")
    parser.add_argument("--rss-csv", type=Path, default=None, help="write RSS after every fold")
    parser.add_argument(
        "--assets", type=int, default=0, help="N independent walk-forwards: serial vs processes"
    )
    parser.add_argument("--csv-2h", type=Path, default=DEFAULT_CSV_2H, help="for --assets >= 2")
    args = parser.parse_args(argv)

    if csv_missing(args.csv):
        return 2

    import numpy as np

    from lstm_backtrader.backtests.config import DataConfig, RunConfig
    from lstm_backtrader.backtests.run import run_backtest, write_run
    from lstm_backtrader.backtests.simulation import load_candles, make_walkforward, simulate
    from lstm_backtrader.models.features import target_fwd_ret
    from lstm_backtrader.models.infra.executor import make_executor

    base = RunConfig()
    wf_over: dict[str, object] = {
        "train_bars": args.train_bars,
        "retrain_every": args.retrain_every,
    }
    if args.warm_start_epochs is not None:
        wf_over["warm_start_epochs"] = args.warm_start_epochs
    model_over = {} if args.batch_size is None else {"batch_size": args.batch_size}
    config = base.with_overrides(
        {
            "data": {"source": "file", "path": str(args.csv)},
            "walkforward": wf_over,
            "model": model_over,
        }
    )
    candles, source = load_candles(DataConfig(source="file", path=str(args.csv)))
    if args.max_folds is not None:
        candles = candles.iloc[: args.train_bars + args.max_folds * args.retrain_every]
        source = {**source, "note": f"first {len(candles)} bars"}
    realised = target_fwd_ret(candles["close"], config.model.horizon)
    w = config.walkforward
    print(
        f"data: {args.csv.name}, {len(candles)} bars {candles.index[0]} .. {candles.index[-1]}; "
        f"model lookback {config.model.lookback} units {config.model.units} batch "
        f"{config.model.batch_size}; train_bars {w.train_bars}, retrain_every "
        f"{w.retrain_every}, warm start {w.warm_start} ({w.warm_start_epochs} epochs)"
    )

    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-wf-") as tmp:
        wf = make_walkforward(config)
        runs: list[tuple[float, object]] = []
        watches: list[FoldRSS] = []
        phase_runs: list[dict[str, float]] = []
        for r in range(args.repeats):  # cold every time: a fresh cache folder
            watch = FoldRSS()
            with timed_phases() as phases:
                t0 = time.perf_counter()
                res = wf.replace(cache_dir=Path(tmp) / f"cache-{r}", progress=watch).run(candles)
                runs.append((time.perf_counter() - t0, res))
            watches.append(watch)
            phase_runs.append(dict(phases))
        peak_cold, hwm_cold = peak_rss_mb(), hwm_mb()
        t_wf, res = sorted(runs, key=lambda tr: tr[0])[len(runs) // 2]  # the median run
        median = runs.index((t_wf, res))
        same_each_time = all(r.forecasts.equals(res.forecasts) for _, r in runs)
        cache = Path(tmp) / f"cache-{median}"
        n_folds = len(res.folds)
        fit_s = float(res.folds["fit_seconds"].sum())
        pred_s = float(res.folds["predict_seconds"].sum())
        ratio, n_oos = _rmse_ratio(res.forecasts, realised)
        rows += [
            (
                "walk-forward cold (total)",
                f"{t_wf:8.1f} s",
                f"{n_folds} folds, {n_oos} forecasts; median of {args.repeats}: "
                + " ".join(f"{t:.1f}" for t, _ in runs)
                + f"; identical forecasts every run: {same_each_time}",
            ),
            ("  training (fit + save)", f"{fit_s:8.1f} s", f"{fit_s / n_folds:.2f} s/fold"),
            (
                "  inference (forecasts)",
                f"{pred_s:8.1f} s",
                f"{pred_s / n_folds * 1e3:.0f} ms/fold",
            ),
            ("  other (TF start, data, cache)", f"{t_wf - fit_s - pred_s:8.1f} s", ""),
            ("forecast RMSE / persistence", f"{ratio:8.4f}", "warm start"),
        ]
        rows += _phase_rows(phase_runs[median], t_wf)
        rows += _memory_rows(watches, args.rss_early, peak_cold, hwm_cold)
        if args.rss_csv is not None:
            _write_rss(args.rss_csv, watches)
        # linear in the number of folds <=> the same cost per fold early and late in the run
        warm_folds = res.folds["seconds"].iloc[1:].to_numpy()
        if len(warm_folds) >= 8:
            quarters = [float(np.median(q)) for q in np.array_split(warm_folds, 4)]
            rows.append(
                (
                    "  s/fold by quarter of the run",
                    f"{max(quarters) / min(quarters):8.2f}x",
                    "max/min of medians: " + " ".join(f"{q:.2f}" for q in quarters),
                )
            )
        if not args.no_report:
            rss0 = rss_mb()
            t0 = time.perf_counter()
            sim = simulate(candles, config, cache_dir=cache)
            t_sim = time.perf_counter() - t0
            rss1 = rss_mb()
            t0 = time.perf_counter()
            write_run(sim, config, Path(tmp) / "run", source=source, command=["bench"])
            t_rep = time.perf_counter() - t0
            rows += [
                (
                    "backtests (4 strategies, cached folds)",
                    f"{t_sim:8.1f} s",
                    f"Backtrader; RSS {rss1 - rss0:+.0f} MiB",
                ),
                (
                    "report (tearsheet, page, CSVs)",
                    f"{t_rep:8.1f} s",
                    f"RSS {rss_mb() - rss1:+.0f} MiB",
                ),
                ("cold end to end (sum)", f"{t_wf + t_sim + t_rep:8.1f} s", ""),
            ]
            if args.max_folds is None:
                for what in ("folds cached, report pieces rendered", "everything cached"):
                    t0 = time.perf_counter()
                    run_backtest(config, reports_dir=Path(tmp) / "reports", cache_dir=cache)
                    t_cached = time.perf_counter() - t0
                    rows.append(("run_backtest, cached rerun", f"{t_cached:8.1f} s", what))
        t0 = time.perf_counter()
        wf.replace(cache_dir=cache).run(candles)
        rows.append(("walk-forward cached rerun", f"{time.perf_counter() - t0:8.1f} s", ""))

        if args.scratch:
            scratch = wf.replace(
                schedule=wf.schedule.replace(warm_start=False),
                cache_dir=Path(tmp) / "scratch-serial",
            )
            t0 = time.perf_counter()
            serial = scratch.run(candles)
            t_serial = time.perf_counter() - t0
            ratio_s, _ = _rmse_ratio(serial.forecasts, realised)
            rows += [
                (
                    "from scratch, serial",
                    f"{t_serial:8.1f} s",
                    f"{t_serial / n_folds:.2f} s/fold; warm start is {t_serial / t_wf:.1f}x faster",
                ),
                ("forecast RMSE / persistence", f"{ratio_s:8.4f}", "from scratch"),
            ]
            if args.workers > 1:
                with make_executor(workers=args.workers) as ex:
                    par = scratch.replace(cache_dir=Path(tmp) / "scratch-par", executor=ex)
                    t0 = time.perf_counter()
                    parallel = par.run(candles)
                    t_par = time.perf_counter() - t0
                same = serial.forecasts.equals(parallel.forecasts)
                rows.append(
                    (
                        f"from scratch, {args.workers} processes",
                        f"{t_par:8.1f} s",
                        f"speed-up {t_serial / t_par:.2f}x, identical forecasts: {same}",
                    )
                )
        if args.assets >= 1:
            rows += _asset_rows(args, config, max(2, args.workers))
    rows.append(
        ("peak RSS, whole benchmark", f"{peak_rss_mb():6.0f} MiB", "ru_maxrss, this process")
    )
    print(f"\n{'phase':40} {'value':>10}  detail")
    for name, value, detail in rows:
        print(f"{name:40} {value:>10}  {detail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
