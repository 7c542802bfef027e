"""A user's "train a model, then optimise the strategy" script (run by tests/test_optimize.py
in a subprocess): TensorFlow is used in the parent before cerebro.optstrategy runs."""

import json
import multiprocessing
import sys

import backtrader as bt
import numpy as np


def main(mode: str, repo: str) -> None:
    if mode == "spawn":
        multiprocessing.set_start_method("spawn")
    sys.path.insert(0, repo)
    from user_strats import Collect, Strat

    from lstm_backtrader.models.lstm import LSTMForecaster
    from lstm_backtrader.strategies.feeds import candles_feed
    from tests.conftest import make_candles

    candles = make_candles(150, seed=1)
    model = LSTMForecaster(lookback=8, units=(4,), epochs=1, batch_size=32).fit(candles.iloc[:100])
    model.predict(candles)  # TensorFlow has run in this (parent) process
    values = {}
    for maxcpus in (1, 2):
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(candles_feed(candles))
        cerebro.optstrategy(Strat, model=[model], threshold=[0.0, 0.001])
        cerebro.addanalyzer(Collect, _name="collect")
        runs = cerebro.run(maxcpus=maxcpus)
        values[maxcpus] = np.array(
            [r[0].analyzers.collect.get_analysis()["forecasts"] for r in runs]
        )
    a, b = values[1], values[2]
    print(
        json.dumps(
            {
                "same": bool(np.array_equal(a, b, equal_nan=True)),
                "finite": int(np.isfinite(a).sum()),
                "runs": len(a),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
