"""Sanity check of the uncertainty outputs on the real BTC/USDT daily candles.

Run ``.venv/bin/python benchmarks/sanity_uncertainty.py [CSV] [--epochs N] [--workers N]``
from the repo root (default CSV: ``../shared/data/btc_usdt_1d_binance.csv``). Walk-forward,
rolling 730-bar training window, retrain every 90 bars, target ``target_fwd_ret_1``:

* conformal 90% intervals (rolling split, window 250; and ACI, gamma 0.005) around
  persistence and a small LSTM: realised coverage and mean width over the run, and the
  range of per-fold coverage;
* a 3-member seed ensemble of the small LSTM (members side by side on ``--workers``
  processes): mean spread, mean absolute error, the Spearman correlation of the spread with
  the absolute error, and the intervals around the ensemble mean.

Not part of the test suite: the numbers are a check, not a claim (one market, one period).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd
from benchdata import DEFAULT_CSV, read_candles  # benchmarks/ helper (script dir)

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.conformal import IntervalSpec
from lstm_backtrader.models.infra.executor import make_executor
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.targets import target_series
from lstm_backtrader.models.walkforward import WalkForward


def _report(name: str, wf: WalkForward, candles: pd.DataFrame, seconds: float) -> None:
    realised = target_series(candles, wf.config)
    for spec in (IntervalSpec(0.9, 250, "split"), IntervalSpec(0.9, 250, "aci", 0.005)):
        res = wf.replace(intervals=spec).run(candles)  # folds come from the cache
        s = res.interval_summary(realised)
        cov = res.folds["coverage"].dropna()
        print(
            f"  {name:14s} {spec.method:5s} coverage {s['coverage']:.3f} width "
            f"{s['width']:.4f}  fold coverage {cov.min():.2f}..{cov.max():.2f}  {seconds:.0f}s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/lstm-bt-sanity-uncertainty"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    candles = read_candles(args.csv)
    spec = WalkForwardSpec(train_bars=730, retrain_every=90)
    lstm = dict(lookback=30, units=(16,), epochs=args.epochs, batch_size=128, patience=2)
    print(f"BTC/USDT 1d, {len(candles)} bars {candles.index[0].date()}..{candles.index[-1].date()}")
    print("conformal 90% intervals on the next-day log return:")
    with make_executor(workers=args.workers) as ex:
        runs = {
            "persistence": ForecasterConfig(kind="persistence"),
            "lstm": ForecasterConfig(**lstm),  # type: ignore[arg-type]
            "lstm ensemble3": ForecasterConfig(**lstm, ensemble=3),  # type: ignore[arg-type]
        }
        for name, cfg in runs.items():
            wf = WalkForward(cfg, spec, cache_dir=args.cache, executor=ex)
            t0 = time.perf_counter()
            res = wf.run(candles)
            seconds = time.perf_counter() - t0
            _report(name, wf, candles, seconds)
        realised = target_series(candles, runs["lstm"])
        frame = pd.DataFrame(
            {"spread": res.spread, "err": (res.forecasts - realised).abs()}
        ).dropna()
        rho = frame["spread"].corr(frame["err"], method="spearman")
        print(
            f"ensemble k=3: {len(frame)} bars, mean spread {frame['spread'].mean():.5f} "
            f"(median {frame['spread'].median():.5f}), mean |error| {frame['err'].mean():.4f}, "
            f"Spearman(spread, |error|) {rho:+.3f}"
        )


if __name__ == "__main__":
    main()
