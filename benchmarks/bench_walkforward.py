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
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CSV = REPO.parent / "shared" / "data" / "btc_usdt_1d_binance.csv"
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _rmse_ratio(forecasts, realised) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    import numpy as np

    f, r = forecasts.to_numpy(), realised.to_numpy()
    ok = np.isfinite(f) & np.isfinite(r)
    return float(np.sqrt(np.mean((f[ok] - r[ok]) ** 2)) / np.sqrt(np.mean(r[ok] ** 2))), int(
        ok.sum()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="candles CSV")
    parser.add_argument("--train-bars", type=int, default=730, help="walkforward.train_bars")
    parser.add_argument("--retrain-every", type=int, default=30, help="bars between refits")
    parser.add_argument("--warm-start-epochs", type=int, default=None, help="override")
    parser.add_argument("--batch-size", type=int, default=None, help="override model.batch_size")
    parser.add_argument("--max-folds", type=int, default=None, help="use only the first N folds")
    parser.add_argument("--scratch", action="store_true", help="also train folds from scratch")
    parser.add_argument("--workers", type=int, default=1, help="processes for --scratch")
    parser.add_argument("--no-report", action="store_true", help="skip backtest and report")
    parser.add_argument("--repeats", type=int, default=3, help="cold walk-forward runs (median)")
    args = parser.parse_args(argv)

    if not args.csv.is_file():
        print(
            f"error: {args.csv} not found; put the Binance BTC/USDT candles there "
            "(shared/data beside the repo) or pass --csv PATH",
            file=sys.stderr,
        )
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
        for r in range(args.repeats):  # cold every time: a fresh cache folder
            t0 = time.perf_counter()
            res = wf.replace(cache_dir=Path(tmp) / f"cache-{r}").run(candles)
            runs.append((time.perf_counter() - t0, res))
        t_wf, res = sorted(runs, key=lambda tr: tr[0])[len(runs) // 2]  # the median run
        same_each_time = all(r.forecasts.equals(res.forecasts) for _, r in runs)
        cache = Path(tmp) / f"cache-{runs.index((t_wf, res))}"
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
            t0 = time.perf_counter()
            sim = simulate(candles, config, cache_dir=cache)
            t_sim = time.perf_counter() - t0
            t0 = time.perf_counter()
            write_run(sim, config, Path(tmp) / "run", source=source, command=["bench"])
            t_rep = time.perf_counter() - t0
            rows += [
                ("backtests (4 strategies, cached folds)", f"{t_sim:8.1f} s", "Backtrader"),
                ("report (tearsheet, page, CSVs)", f"{t_rep:8.1f} s", ""),
                ("cold end to end (sum)", f"{t_wf + t_sim + t_rep:8.1f} s", ""),
            ]
            if args.max_folds is None:
                t0 = time.perf_counter()
                run_backtest(config, reports_dir=Path(tmp) / "reports", cache_dir=cache)
                t_cached = time.perf_counter() - t0
                rows.append(
                    ("run_backtest, cached rerun", f"{t_cached:8.1f} s", "all folds cached")
                )
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
    print(f"\n{'phase':40} {'value':>10}  detail")
    for name, value, detail in rows:
        print(f"{name:40} {value:>10}  {detail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
