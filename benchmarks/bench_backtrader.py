"""Benchmark the LSTM forecast inside Backtrader on the real BTC/USDT daily candles.

Run ``.venv/bin/python benchmarks/bench_backtrader.py [--repeats N] [--quick]`` from the repo
root. The default model (lookback 60, units (50, 50)) is trained once, with few epochs (the
forecasts' quality is irrelevant here), on the first ``--train-bars`` bars. Then, timed
around ``cerebro.run()`` in one process (medians of ``--repeats``):

1. forecast cost per bar inside Backtrader:

   a. ``LSTMForecast(model=fitted)`` under runonce (one batched ``predict``) over every bar;
   b. a naive indicator calling ``model.model_.predict(window)`` once per bar in ``next()``,
      run on a short feed whose last ``--per-bar`` bars are forecast (extrapolated per bar);
   c. ``LSTMForecast`` under runonce=False (the ``next()`` path of live, resampled and replayed
      feeds: one XLA-compiled single-window call per bar on the indicator's own bar buffer), on
      a short feed of ``--last-bars`` forecast bars; target <= 1 ms per bar, equal to a. within
      1e-6;

   with the ratio naive / batched and the largest forecast differences (must be <= 1e-5);
2. whole backtests over every bar: a strategy that does nothing but hold ``LSTMForecast``
   (fixed model) against the same strategy holding ``bt.ind.SMA(50)`` (target <= 1.5x);
   ``ForecastStrategy(model=fitted)`` (runonce) and
   ``ForecastStrategy(forecasts=series)`` (replay) against an ``SMACross`` backtest, and
   which of these paths import TensorFlow (checked in fresh subprocesses).

Ratios, not absolute timings, are the result: the machine may be shared.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchdata import DEFAULT_CSV, csv_missing  # noqa: E402 - benchmarks/ helper

os.environ.setdefault("LSTM_BT_QUIET_TF", "1")  # the benchmark's own lines only

NAIVE_TARGET = 400.0  # naive per-bar model.predict must be at least this much slower per bar
NEXT_TARGET_MS = 1.0  # the next() path (live, replay, runonce=False): at most this per bar
BACKTEST_TARGET = 1.5  # a forecast backtest may cost at most this much an SMACross one
TOLERANCE = 1e-5  # largest allowed forecast difference between the paths

_TF_IMPORT_CHECK = (
    "import lstm_backtrader.strategies.forecast, lstm_backtrader.strategies.indicators, sys;"
    "print('tensorflow' in sys.modules)"
)
# a small replay backtest and an SMACross one in a fresh process: does either load TensorFlow?
_TF_RUN_CHECK = """
import sys
import numpy as np, pandas as pd
sys.path.insert(0, {repo!r})
from lstm_backtrader.backtests.data.validate import validate_ohlcv
from lstm_backtrader.strategies.baselines import SMACross
from lstm_backtrader.strategies.forecast import ForecastStrategy
from lstm_backtrader.strategies.runner import run_strategy
c = validate_ohlcv(pd.read_csv({csv!r}), source="csv").iloc[-300:]
s = pd.Series(np.sin(np.arange(len(c))) * 0.01, index=c.index)
run_strategy(c, ForecastStrategy, forecasts=s)
run_strategy(c, SMACross)
print('tensorflow' in sys.modules)
"""


def _subprocess_flag(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return f"error ({proc.stderr.strip().splitlines()[-1:]})"
    return "imports TensorFlow" if lines[-1] == "True" else "no TensorFlow"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="daily candles CSV")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per timing (median)")
    parser.add_argument("--quick", action="store_true", help="fewer bars on the per-bar paths")
    parser.add_argument("--per-bar", type=int, default=None, help="bars of the naive path")
    parser.add_argument("--last-bars", type=int, default=None, help="bars of predict_last path")
    parser.add_argument("--train-bars", type=int, default=730, help="training slice length")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs (speed only)")
    args = parser.parse_args(argv)
    n_naive = args.per_bar or (30 if args.quick else 100)
    n_last = args.last_bars or (100 if args.quick else 500)
    repeats = max(1, args.repeats)

    if csv_missing(args.csv, "daily candles"):
        return 2

    import backtrader as bt
    import numpy as np
    import pandas as pd

    from lstm_backtrader.backtests.data.validate import validate_ohlcv
    from lstm_backtrader.models.lstm import LSTMForecaster
    from lstm_backtrader.strategies.baselines import SMACross
    from lstm_backtrader.strategies.feeds import feed_frame
    from lstm_backtrader.strategies.forecast import ForecastStrategy
    from lstm_backtrader.strategies.lstm import LSTMForecast
    from lstm_backtrader.strategies.runner import make_cerebro

    # the in-sample warning
    logging.getLogger("lstm_backtrader.strategies.lstm").setLevel(logging.ERROR)

    candles = validate_ohlcv(pd.read_csv(args.csv), source=args.csv.name)
    train = candles.iloc[: args.train_bars]
    print(f"data: {args.csv.name}, {len(candles)} bars, training slice {len(train)} bars")
    t0 = time.perf_counter()
    fitted = LSTMForecaster().fit(train, epochs=args.epochs)
    fit_s = time.perf_counter() - t0
    ctx = int(fitted.context_bars)
    lookback = int(fitted.lookback)

    class NaivePredict(bt.Indicator):
        """The naive way: one ``keras.Model.predict`` call per bar in ``next()``."""

        lines = ("forecast",)
        params = (("model", None),)

        def __init__(self) -> None:
            self.addminperiod(int(self.p.model.context_bars))

        def next(self) -> None:
            m = self.p.model
            tail = feed_frame(self.data, int(m.context_bars))
            window = m._scaled_features(tail).astype("float32")[-int(m.lookback) :]
            out = m.model_.predict(window[None], verbose=0)
            self.lines.forecast[0] = float(out[0, 0]) * m.target_std_ + m.target_mean_

    class Holder(bt.Strategy):
        """Holds one forecast indicator and does nothing else."""

        params = (("indicator", None), ("kwargs", None))

        def __init__(self) -> None:
            self.ind = self.p.indicator(self.data, **self.p.kwargs)

    def run_indicator(frame: pd.DataFrame, indicator: type, runonce: bool) -> np.ndarray:
        cerebro = make_cerebro(frame, runonce=runonce)
        cerebro.addstrategy(Holder, indicator=indicator, kwargs={"model": fitted})
        (strat,) = cerebro.run()
        return np.asarray(strat.ind.lines.forecast.array, dtype="float64")[-len(frame) :]

    def run_empty(frame: pd.DataFrame) -> None:
        cerebro = make_cerebro(frame)
        cerebro.addstrategy(bt.Strategy)
        cerebro.run()

    def run_backtest(strategy: type, **params: Any) -> None:
        cerebro = make_cerebro(candles)
        cerebro.addstrategy(strategy, **params)
        cerebro.run()

    n_all = len(candles)
    n_fc = n_all - ctx + 1  # bars with a forecast window
    short_naive = candles.iloc[-(ctx + n_naive - 1) :]
    short_last = candles.iloc[-(ctx + n_last - 1) :]

    # ---- 1. forecast cost per bar inside Backtrader (each path warmed up once, untimed)
    predict_calls = []  # how many batched predict() calls one runonce run makes
    plain_predict = fitted.predict

    def counting_predict(frame: pd.DataFrame) -> pd.Series:
        predict_calls.append(len(frame))
        return plain_predict(frame)

    fitted.predict = counting_predict  # type: ignore[method-assign]
    fc_batched = run_indicator(candles, LSTMForecast, True)
    fitted.predict = plain_predict  # type: ignore[method-assign]
    fc_naive = run_indicator(short_naive, NaivePredict, False)
    fc_last = run_indicator(short_last, LSTMForecast, False)
    fitted.predict(candles)
    paths = {
        "batched": lambda: run_indicator(candles, LSTMForecast, True),
        "naive": lambda: run_indicator(short_naive, NaivePredict, False),
        "last": lambda: run_indicator(short_last, LSTMForecast, False),
        "predict": lambda: fitted.predict(candles),  # outside Backtrader
        "empty": lambda: run_empty(candles),  # Backtrader alone: feed preload + bar loop
    }
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repeats):  # interleaved, so load changes hit every path alike
        for name, fn in paths.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    batched_s, naive_s, last_s, predict_s, empty_s = (statistics.median(times[k]) for k in paths)
    net_bar = max(batched_s - empty_s, 1e-9) / n_all  # the indicator's own cost per bar

    diff_naive = float(np.nanmax(np.abs(fc_naive[-n_naive:] - fc_batched[-n_naive:])))
    diff_last = float(np.nanmax(np.abs(fc_last[-n_last:] - fc_batched[-n_last:])))
    finite = bool(np.isfinite(fc_naive[-n_naive:]).all() and np.isfinite(fc_last[-n_last:]).all())
    batched_bar = batched_s / n_all
    naive_bar = naive_s / n_naive
    last_bar = last_s / n_last

    # ---- 2. whole backtests over every bar, in the same process
    series = pd.Series(fc_batched, index=candles.index)
    # walk-forward models already trained: a fold cache filled once (untimed; 1 epoch per
    # fold is enough, the backtest's cost does not depend on what the folds learned)
    from lstm_backtrader.models.schedule import WalkForwardSpec
    from lstm_backtrader.models.walkforward import WalkForward

    wf_cache = tempfile.mkdtemp(prefix="bench-bt-folds-")
    spec = WalkForwardSpec(warm_start_epochs=1)
    wf = WalkForward(fitted.config.replace(epochs=1), spec, cache_dir=wf_cache)
    wf.run(candles)
    sma_holder = {"indicator": bt.ind.SMA, "kwargs": {"period": 50}}
    lstm_holder = {"indicator": LSTMForecast, "kwargs": {"model": fitted}}
    run_backtest(Holder, **sma_holder)
    run_backtest(Holder, **lstm_holder)
    run_backtest(SMACross)
    run_backtest(ForecastStrategy, model=fitted)
    run_backtest(ForecastStrategy, forecasts=series)
    run_backtest(ForecastStrategy, walkforward=wf)
    sma_s, lstm_s, replay_s, wf_s, hold_sma_s, hold_lstm_s = [], [], [], [], [], []
    for _ in range(repeats):  # interleaved, so load changes hit all of them alike
        for out, strategy, params in (
            (hold_sma_s, Holder, sma_holder),
            (hold_lstm_s, Holder, lstm_holder),
            (sma_s, SMACross, {}),
            (lstm_s, ForecastStrategy, {"model": fitted}),
            (replay_s, ForecastStrategy, {"forecasts": series}),
            (wf_s, ForecastStrategy, {"walkforward": wf}),
        ):
            t0 = time.perf_counter()
            run_backtest(strategy, **params)
            out.append(time.perf_counter() - t0)
    shutil.rmtree(wf_cache, ignore_errors=True)
    sma, lstm, replay, wf_cached = (statistics.median(x) for x in (sma_s, lstm_s, replay_s, wf_s))
    hold_sma, hold_lstm = statistics.median(hold_sma_s), statistics.median(hold_lstm_s)
    tf_import = _subprocess_flag(_TF_IMPORT_CHECK)
    tf_run = _subprocess_flag(_TF_RUN_CHECK.format(repo=str(REPO), csv=str(args.csv)))

    # ---- the table
    ok_naive = naive_bar / batched_bar >= NAIVE_TARGET
    ok_diff = finite and diff_naive <= TOLERANCE and diff_last <= TOLERANCE
    ok_lstm = lstm / sma <= BACKTEST_TARGET
    ok_replay = replay / sma <= BACKTEST_TARGET
    print(
        f"\nmodel: lookback {lookback}, units {fitted.units}, {ctx} context bars, "
        f"fit {args.epochs} epochs in {fit_s:.1f} s; median of {repeats} repeats"
    )
    print(f"\n{'1. forecast inside Backtrader':44} {'bars':>5} {'ms/bar':>8} {'ratio':>10}  detail")
    rows = [
        (
            "a. LSTMForecast, runonce (batched predict)",
            n_all,
            batched_bar,
            "1.0x",
            f"{n_fc} forecasts; predict() alone {predict_s * 1e3:.0f} ms "
            f"= {predict_s / batched_s:.0%} of the run; predict() calls per run: "
            f"{len(predict_calls)} (frames of {', '.join(map(str, predict_calls))} bars)",
        ),
        (
            "   (Backtrader alone: feed, empty strategy)",
            n_all,
            empty_s / n_all,
            "",
            f"a net of it: {net_bar * 1e3:.3f} ms/bar; naive/net {naive_bar / net_bar:,.0f}x",
        ),
        (
            "b. naive model.predict per bar in next()",
            n_naive,
            naive_bar,
            f"{naive_bar / batched_bar:,.0f}x",
            f"max |b-a| {diff_naive:.1e} (target ratio >= {NAIVE_TARGET:.0f}x: "
            f"{'met' if ok_naive else 'MISSED'})",
        ),
        (
            "c. LSTMForecast, runonce=False (next() path)",
            n_last,
            last_bar,
            f"{last_bar / batched_bar:,.0f}x",
            f"max |c-a| {diff_last:.1e} (<= 1e-6: {'yes' if diff_last <= 1e-6 else 'NO'}); "
            f"<= {NEXT_TARGET_MS:g} ms/bar: "
            f"{'met' if last_bar * 1e3 <= NEXT_TARGET_MS else 'MISSED'}"
            f"; naive/next {naive_bar / last_bar:.0f}x",
        ),
    ]
    for name, bars, per_bar, ratio, detail in rows:
        print(f"{name:44} {bars:>5} {per_bar * 1e3:>8.3f} {ratio:>10}  {detail}")

    print(f"\n{'2. backtest over every bar (cerebro.run)':44} {'bars':>5} {'ms':>8} {'vs SMA':>10}")
    back = [
        ("do-nothing strategy holding bt.ind.SMA(50)", hold_sma, "the baseline of the next row"),
        (
            "do-nothing strategy holding LSTMForecast",
            hold_lstm,
            f"fixed model, every bar forecast: {hold_lstm / hold_sma:.2f}x the SMA one "
            f"(target <= {BACKTEST_TARGET}x: "
            f"{'met' if hold_lstm / hold_sma <= BACKTEST_TARGET else 'MISSED'})",
        ),
        ("SMACross (20/50)", sma, "no TensorFlow needed"),
        (
            "ForecastStrategy(model=fitted), runonce",
            lstm,
            f"imports TensorFlow; predict() alone = {predict_s / max(lstm - sma, 1e-9):.0%} "
            "of its extra time over SMA",
        ),
        ("ForecastStrategy(forecasts=series) replay", replay, f"{tf_run} (fresh process run)"),
        (
            "ForecastStrategy(walkforward=...), cached",
            wf_cached,
            f"LSTMForecast walk-forward, {len(wf.plan(n_all))} folds from the fold cache",
        ),
    ]
    for name, secs, note in back:
        print(f"{name:44} {n_all:>5} {secs * 1e3:>8.0f} {secs / sma:>9.2f}x  {note}")
    print(f"\nimport strategies.forecast, strategies.indicators: {tf_import}")
    print(
        f"backtest vs SMA <= {BACKTEST_TARGET}x: LSTM indicator {'met' if ok_lstm else 'MISSED'}"
        f" ({lstm / sma:.2f}x), replay {'met' if ok_replay else 'MISSED'} ({replay / sma:.2f}x),"
        f" walk-forward indicator with trained (cached) folds "
        f"{'met' if wf_cached / sma <= BACKTEST_TARGET else 'MISSED'} ({wf_cached / sma:.2f}x)"
    )
    print(f"forecasts agree to {TOLERANCE:g}: {'yes' if ok_diff else 'NO'}")
    return 0 if ok_diff else 1


if __name__ == "__main__":
    raise SystemExit(main())
