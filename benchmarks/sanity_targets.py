"""Sanity check of the volatility and direction targets on the real BTC/USDT daily candles.

Run ``.venv/bin/python benchmarks/sanity_targets.py [CSV] [--retrain-every N] [--epochs N]``
from the repo root (default CSV: ``../shared/data/btc_usdt_1d_binance.csv``). Walk-forward,
rolling 730-bar training window, horizon 1, every forecaster on the same out-of-sample bars:

* volatility (``target_fwd_logvol_1``, Garman–Klass): persistence, EWMA, HAR, GARCH and a
  small LSTM; QLIKE and MSE on log variance, ratios against HAR, DM (HLN) against HAR;
* direction (``target_fwd_up_1``, threshold 0): base rate, logistic regression and a small
  LSTM; log loss and Brier against the base rate, DM (HLN) of the log loss.

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
from lstm_backtrader.models.metrics import probability_metrics, volatility_metrics
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.targets import target_series
from lstm_backtrader.models.walkforward import WalkForward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--retrain-every", type=int, default=90)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    candles = read_candles(args.csv)
    spec = WalkForwardSpec(train_bars=730, retrain_every=args.retrain_every, warm_start_epochs=3)
    lstm = dict(lookback=30, units=(16,), epochs=args.epochs, batch_size=128, patience=3)
    vol = {
        "persistence": ForecasterConfig(kind="persistence", target="volatility"),
        "ewma": ForecasterConfig(kind="ewma", target="volatility"),
        "har": ForecasterConfig(kind="har", target="volatility"),
        "garch": ForecasterConfig(kind="garch", target="volatility", lookback=100),
        "lstm": ForecasterConfig(**lstm, target="volatility"),  # type: ignore[arg-type]
    }
    direction = {
        "base_rate": ForecasterConfig(kind="base_rate", target="direction"),
        "logistic": ForecasterConfig(kind="logistic", target="direction", lookback=10),
        "lstm": ForecasterConfig(**lstm, target="direction"),  # type: ignore[arg-type]
    }
    for title, configs, base in (("volatility", vol, "har"), ("direction", direction, "base_rate")):
        forecasts, seconds = {}, {}
        for name, cfg in configs.items():
            t0 = time.perf_counter()
            forecasts[name] = WalkForward(cfg, spec).run(candles).forecasts
            seconds[name] = time.perf_counter() - t0
        realised = target_series(candles, next(iter(configs.values())))
        frame = pd.DataFrame({**forecasts, "realised": realised}).dropna()
        print(f"\n{title}: {len(frame)} out-of-sample bars {frame.index[0].date()}.."
              f"{frame.index[-1].date()}, baseline {base}")  # fmt: skip
        for name in configs:
            if title == "volatility":
                m = volatility_metrics(frame[name], frame["realised"], frame[base])
                print(
                    f"  {name:12s} QLIKE {m.qlike:.4f} (x{m.qlike_ratio:.3f} vs HAR, DM "
                    f"{m.dm_qlike.statistic:+.2f} p={m.dm_qlike.p_value:.3f})  MSE log var "
                    f"{m.mse_log_var:.4f} (x{m.mse_log_var_ratio:.3f})  {seconds[name]:.0f}s"
                )
            else:
                m = probability_metrics(frame[name], frame["realised"], frame[base])
                print(
                    f"  {name:12s} log loss {m.log_loss:.4f} (x{m.log_loss_ratio:.4f} vs base "
                    f"rate, DM {m.dm_log_loss.statistic:+.2f} p={m.dm_log_loss.p_value:.3f})  "
                    f"Brier {m.brier:.4f} (x{m.brier_ratio:.4f})  up share {m.base_rate:.3f}  "
                    f"{seconds[name]:.0f}s"
                )


if __name__ == "__main__":
    main()
