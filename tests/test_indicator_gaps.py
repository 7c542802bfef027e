"""Holes and NaN bars in the feed are never silent: counted, logged once per feed, and flagged
on the forecasts whose input window spans a hole (the ``gap`` line, from bars <= t only)."""

from __future__ import annotations

import logging

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.lstm import LSTMForecaster
from lstm_backtrader.strategies.bartail import FeedIssues
from lstm_backtrader.strategies.feeds import candles_feed
from lstm_backtrader.strategies.lstm import LSTMForecast
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TINY = ForecasterConfig(lookback=8, units=(4,), epochs=2, batch_size=32, dropout=0.0, seed=7)
MODES = {
    "runonce": {"runonce": True, "preload": True},
    "next-preload": {"runonce": False, "preload": True},
    "next-exactbars1": {"runonce": False, "preload": False, "exactbars": 1},
}


class Lines(bt.Strategy):
    params = (("model", None), ("twice", False))

    def __init__(self) -> None:
        self.ind = LSTMForecast(self.data, model=self.p.model)
        if self.p.twice:
            LSTMForecast(self.data, model=self.p.model)  # a second indicator on the same feed
        self.rows: list[list[float]] = []

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        self.rows.append([float(line[0]) for line in self.ind.lines])


def _run(candles: pd.DataFrame, model, mode: dict, twice: bool = False) -> Lines:
    cerebro = bt.Cerebro(stdstats=False, **mode)
    cerebro.adddata(candles_feed(candles))
    cerebro.addstrategy(Lines, model=model, twice=twice)
    (strat,) = cerebro.run()
    return strat


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return make_candles(120, seed=41)


@pytest.fixture(scope="module")
def model(clean: pd.DataFrame) -> LSTMForecaster:
    return LSTMForecaster.from_config(TINY).fit(clean.iloc[:40])


@pytest.fixture(scope="module")
def holey(clean: pd.DataFrame) -> pd.DataFrame:
    """A 10-day hole after bar 59 and two NaN bars (78, 79 of the result)."""
    out = clean.drop(clean.index[60:70]).copy()
    out.iloc[78:80, out.columns.get_loc("close")] = np.nan
    return out


@pytest.mark.parametrize("mode", list(MODES))
def test_holes_and_nan_bars_logged_once_per_feed(holey, model, mode, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="lstm_backtrader.strategies.lstm"):
        strat = _run(holey, model, MODES[mode], twice=True)
    logged = [r.getMessage() for r in caplog.records if "hole" in r.getMessage()]
    assert len(logged) == 1, logged
    assert "feed 'candles' has 1 hole(s) in its 1d time grid (10 bar(s) missing" in logged[0]
    if mode != "next-exactbars1":  # the whole feed is known up front
        assert "and 2 NaN bar(s)" in logged[0]
    assert strat.ind.issues_ == FeedIssues(1, 10, 2, holey.index[60])
    rows = np.asarray(strat.rows)
    context = model.context_bars
    # gap = 1 exactly where the window of the last `context` bars crosses the hole
    expected_gap = np.zeros(len(holey))
    expected_gap[60 : 60 + context - 1] = 1.0
    np.testing.assert_array_equal(rows[:, 3], expected_gap)
    # a window holding a NaN bar gives no forecast (the return feature is NaN one bar more)
    assert np.isnan(rows[78 : 80 + context - 1, 0]).all()
    assert np.isfinite(rows[80 + context - 1 :, 0]).all()
    np.testing.assert_allclose(
        rows[:, 0], model.predict(holey).to_numpy(), atol=1e-6, equal_nan=True
    )


def test_clean_feed_logs_nothing(clean, model, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="lstm_backtrader.strategies.lstm"):
        strat = _run(clean, model, MODES["runonce"])
    assert not [r for r in caplog.records if "hole" in r.getMessage()]
    assert strat.ind.issues_ == FeedIssues()
    assert np.asarray(strat.rows)[:, 3].sum() == 0


@pytest.mark.parametrize("mode", ["runonce", "next-exactbars1"])
def test_gap_line_truncation_invariance(clean, model, mode) -> None:
    """Altering every bar after T (other prices, a new hole) changes no value up to T."""
    t_cut = 70
    other = make_candles(120, seed=99, price=500.0)
    altered = pd.concat([clean.iloc[: t_cut + 1], other.iloc[t_cut + 1 :].drop(other.index[80:84])])
    a = np.asarray(_run(clean, model, MODES[mode]).rows)
    b = np.asarray(_run(altered, model, MODES[mode]).rows)
    np.testing.assert_array_equal(a[: t_cut + 1], b[: t_cut + 1])
    assert a[:, 3].sum() == 0 and b[t_cut + 1 :, 3].sum() > 0  # the new hole shows after T
    n = min(len(a), len(b))
    assert not np.allclose(a[t_cut + 1 : n, 0], b[t_cut + 1 : n, 0], equal_nan=True)
