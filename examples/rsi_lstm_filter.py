"""Your own Backtrader strategy with the LSTM forecast plugged in as an ordinary indicator.

An RSI mean-reversion rule — buy when RSI(14) < 30 — filtered by the LSTM forecast (buy only if
the forecast of the next bar's log return is > 0); exit when RSI > 70 or the forecast turns < 0.
The forecast comes from ``lstm_backtrader.strategies.lstm.LSTMForecast`` in two ways:

1. **fixed model**: an ``LSTMForecaster`` trained on the first part of the embedded BTC sample,
   saved with ``.save(path)`` and loaded back by ``LSTMForecast(self.data, model=path)``. The
   strategy trades only on bars *after* the model's training cutoff: forecasts on earlier bars
   are in-sample (the model has seen those very returns), so trading them would be look-ahead.
2. **walk-forward**: ``LSTMForecast(self.data, forecaster=cfg,
   schedule=WalkForwardSpec(train_bars=..., retrain_every=...), cache_dir=...)`` retrains every
   ``retrain_every`` bars on the bars strictly before; no forecast (and so no trade) exists
   before the first model.

Costs are Binance-like (0.1% fee per side, 0.05% slippage), sizes are fractional, and orders
decided at a bar's close fill at the next bar's open. Offline: the data is the real BTC/USD daily
sample shipped with the package (``lstm_backtrader.backtests.data.sample.sample()``).

Run from the repository root::

    .venv/bin/python examples/rsi_lstm_filter.py           # full sample (about a minute)
    .venv/bin/python examples/rsi_lstm_filter.py --quick   # tiny model, shorter slice (< 60 s)
    .venv/bin/python examples/rsi_lstm_filter.py --quick --cache-dir /tmp/folds  # reuse folds
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

import backtrader as bt  # noqa: E402
import pandas as pd  # noqa: E402

from lstm_backtrader.backtests.data.sample import sample  # noqa: E402
from lstm_backtrader.models.config import ForecasterConfig  # noqa: E402
from lstm_backtrader.models.lstm import LSTMForecaster  # noqa: E402
from lstm_backtrader.models.schedule import WalkForwardSpec  # noqa: E402
from lstm_backtrader.strategies.base import RecordingStrategy  # noqa: E402
from lstm_backtrader.strategies.feeds import bar_time  # noqa: E402
from lstm_backtrader.strategies.lstm import LSTMForecast  # noqa: E402
from lstm_backtrader.strategies.runner import make_cerebro  # noqa: E402

FEE = 0.001  # Binance spot taker fee per side
SLIPPAGE = 0.0005
CASH = 10_000.0


class RsiLstmFilter(RecordingStrategy):
    """RSI mean reversion, long only, filtered by the LSTM forecast.

    ``RecordingStrategy`` supplies the costs (``fee``/``slippage`` params), fractional sizing
    (``order_target_fraction``) and the equity/fill/trade record; the logic lives in
    :meth:`decide`, called at each bar's close once every indicator has its minimum period.
    A plain ``bt.Strategy`` works the same way: ``LSTMForecast`` is just an indicator.
    """

    params = (
        ("model", None),  # fixed mode: path saved by LSTMForecaster.save (or a fitted model)
        ("forecaster", None),  # walk-forward mode: a ForecasterConfig
        ("schedule", WalkForwardSpec(train_bars=730, retrain_every=90)),  # walk-forward mode
        ("cache_dir", None),  # walk-forward mode: fold cache folder
        ("rsi_period", 14),
        ("oversold", 30.0),
        ("overbought", 70.0),
    )

    def __init__(self) -> None:
        super().__init__()
        self.rsi = bt.indicators.RSI(self.data.close, period=self.p.rsi_period, safediv=True)
        if self.p.model is not None:
            self.fc = LSTMForecast(self.data, model=self.p.model)
        else:
            self.fc = LSTMForecast(
                self.data,
                forecaster=self.p.forecaster,
                schedule=self.p.schedule,
                cache_dir=self.p.cache_dir,
            )
        # line arithmetic: the forecast combines like any other Backtrader line
        # (NaN > 0 is False, so bars without a forecast never signal)
        self.entry_signal = bt.And(self.rsi < self.p.oversold, self.fc.forecast > 0)
        self.exit_signal = bt.Or(self.rsi > self.p.overbought, self.fc.forecast < 0)
        self.entries: list[dict[str, Any]] = []  # what each buy decision saw
        self.n_forecasts = 0

    def decide(self) -> None:
        forecast = float(self.fc.forecast[0])
        if not math.isfinite(forecast):
            return
        self.n_forecasts += 1
        if not self.position and self.entry_signal[0]:
            self.entries.append(
                {
                    "time": bar_time(self.data),
                    "forecast": forecast,
                    "fold": int(self.fc.fold[0]),
                    "age": int(self.fc.age[0]),
                    "rsi": float(self.rsi[0]),
                }
            )
            self.order_target_fraction(1.0)
        elif self.position and self.exit_signal[0]:
            self.order_target_fraction(0.0)


def run(candles: pd.DataFrame, trade_from: pd.Timestamp | None = None, **params: Any) -> dict:
    """Backtest :class:`RsiLstmFilter` on ``candles``; the result numbers as a dict."""
    cerebro = make_cerebro(candles, cash=CASH)
    cerebro.addstrategy(RsiLstmFilter, fee=FEE, slippage=SLIPPAGE, trade_from=trade_from, **params)
    (strat,) = cerebro.run()
    record = strat.record()
    forecasts = pd.Series(strat.fc.forecast.array[: len(candles)], index=candles.index)
    first_forecast = forecasts.first_valid_index()
    # buy-and-hold over the same window: from the first bar the strategy may trade to the end,
    # bought at the next open, paying the same costs on entry
    start = trade_from if trade_from is not None else first_forecast
    pos = int(candles.index.searchsorted(start))
    entry = float(candles["open"].iloc[min(pos + 1, len(candles) - 1)]) * (1 + SLIPPAGE)
    bh_value = CASH * (1 - FEE) / entry * float(candles["close"].iloc[-1])
    final = float(record.equity.iloc[-1])
    return {
        "final_value": final,
        "return": final / CASH - 1,
        "buy_hold_value": bh_value,
        "buy_hold_return": bh_value / CASH - 1,
        "trades": len(record.trades),
        "fills": record.fills,
        "entries": strat.entries,
        "n_forecasts": int(forecasts.notna().sum()),
        "first_forecast": first_forecast,
        "trade_from": start,
    }


def main(argv: list[str] | None = None) -> dict[str, dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny model on a short slice (< 60 s)")
    ap.add_argument("--cache-dir", default=None, help="walk-forward fold cache (default: temp)")
    args = ap.parse_args(argv)

    candles = sample("1d")
    if args.quick:
        candles = candles.iloc[-600:]
        cfg = ForecasterConfig(lookback=10, units=(8,), epochs=3, dropout=0.0, seed=1)
        train_bars, retrain_every = 250, 120
    else:
        cfg = ForecasterConfig(lookback=30, units=(32,), epochs=20, seed=1)
        train_bars, retrain_every = 730, 90
    n_fit = train_bars  # the fixed model sees as much history as the first walk-forward fold

    with tempfile.TemporaryDirectory(prefix="rsi-lstm-") as tmp:
        cache_dir = Path(args.cache_dir) if args.cache_dir else Path(tmp) / "folds"

        # (1) fixed model: fit on the first n_fit bars, save, load back through model=path
        model = LSTMForecaster.from_config(cfg).fit(candles.iloc[:n_fit])
        path = model.save(Path(tmp) / "rsi_filter_model.keras")
        cutoff = model.train_range_[1]
        # forecasts up to the cutoff are in-sample: trade only from the next bar on
        trade_from = candles.index[candles.index.searchsorted(cutoff, side="right")]
        fixed = run(candles, trade_from=trade_from, model=str(path))
        fixed["model_cutoff"] = pd.Timestamp(cutoff)

        # (2) walk-forward: a fresh model every retrain_every bars, trained on the past only
        wf = run(
            candles,
            forecaster=cfg,
            schedule=WalkForwardSpec(train_bars=train_bars, retrain_every=retrain_every),
            cache_dir=str(cache_dir),
        )
        wf["model_cutoff"] = candles.index[train_bars - 1]

    results = {"fixed": fixed, "walkforward": wf}
    span = f"{candles.index[0]:%Y-%m-%d} -> {candles.index[-1]:%Y-%m-%d}"
    print(f"RSI<30 + LSTM forecast>0 filter on BTC/USD daily {span} (fee 0.1%, slip 0.05%)")
    for name, r in results.items():
        print(
            f"  {name:<12} from {r['trade_from']:%Y-%m-%d}: final {r['final_value']:>10,.2f}"
            f" ({r['return']:+.1%}), {len(r['entries'])} entries, {r['trades']} closed trades"
            f" | buy & hold {r['buy_hold_value']:>10,.2f} ({r['buy_hold_return']:+.1%})"
        )
    return results


if __name__ == "__main__":
    main()
