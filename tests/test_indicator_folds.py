"""Bar by bar, LSTMForecast makes each fold's model from the bars it keeps (the training window,
never the whole history) and the previous fold's model: the walk-forward engine's very folds,
shared through the fold cache in both directions."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.walkforward import WalkForward
from lstm_backtrader.strategies.feeds import candles_feed
from lstm_backtrader.strategies.lstm import LSTMForecast
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TINY = ForecasterConfig(lookback=8, units=(4,), epochs=2, batch_size=32, dropout=0.0, seed=7)


class Record(bt.Strategy):
    params = (("kw", None),)

    def __init__(self) -> None:
        self.ind = LSTMForecast(self.data, **self.p.kw)
        self.rows: list[list[float]] = []

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        self.rows.append([float(self.ind.forecast[0]), self.ind.fold[0], self.ind.age[0]])


def _bar_by_bar(candles, **kw) -> Record:
    cerebro = bt.Cerebro(stdstats=False, runonce=False, preload=False, exactbars=1)
    cerebro.adddata(candles_feed(candles))
    cerebro.addstrategy(Record, kw=kw)
    (strat,) = cerebro.run()
    return strat


def _assert_engine(strat: Record, result) -> None:
    rows = np.asarray(strat.rows)
    np.testing.assert_allclose(rows[:, 0], result.forecasts.to_numpy(), atol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(rows[:, 1], result.fold_id.to_numpy())
    np.testing.assert_array_equal(rows[:, 2], result.age.to_numpy())


@pytest.mark.parametrize(
    "spec",
    [
        WalkForwardSpec(train_bars=60, retrain_every=35),  # rolling, warm-started
        WalkForwardSpec(train_bars=50, retrain_every=45, expanding=True, warm_start=False),
        WalkForwardSpec(train_bars=60, retrain_every=35, gap=3),  # an embargo beyond the purge
    ],
    ids=["rolling-warm", "expanding-independent", "embargo"],
)
def test_bar_by_bar_folds_are_the_engines(spec, tmp_path) -> None:
    candles = make_candles(140, seed=61)
    strat = _bar_by_bar(candles, forecaster=TINY, schedule=spec, cache_dir=tmp_path)
    assert strat.ind.result_ is None
    n_folds = spec.n_folds(len(candles))
    assert n_folds >= 2
    assert strat.ind.folds_["cached"].tolist() == [False] * n_folds  # trained here, bar by bar
    kept = None if spec.expanding else spec.train_bars + 1
    assert strat.ind.bars_kept == kept
    # the engine over the whole history finds those very folds in the cache
    result = WalkForward(TINY, spec, cache_dir=tmp_path).run(candles)
    assert result.folds["cached"].tolist() == [True] * n_folds
    assert result.folds["model_hash"].tolist() == strat.ind.folds_["model_hash"].tolist()
    _assert_engine(strat, result)
    cols = ["fold", "train_start", "train_end", "first_forecast", "epochs"]
    assert strat.ind.folds_[cols].equals(result.folds[cols])
