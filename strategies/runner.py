"""Run one strategy over a candle frame in its own Cerebro and get its record."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import backtrader as bt
import pandas as pd

from lstm_backtrader.strategies.base import RecordingStrategy
from lstm_backtrader.strategies.feeds import candles_feed
from lstm_backtrader.strategies.record import StrategyRecord

logger = logging.getLogger(__name__)


class _BarProgress(bt.Analyzer):
    """Calls ``callback(bars_done, total)`` once per bar (prenext included)."""

    params = (("callback", None), ("total", 0))

    def start(self) -> None:
        self._done = 0

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        self._done += 1
        self.p.callback(self._done, self.p.total)


def make_cerebro(
    candles: pd.DataFrame,
    *,
    cash: float = 10_000.0,
    runonce: bool = True,
    preload: bool = True,
    issues_reported: bool = False,
) -> bt.Cerebro:
    """A Cerebro over one candle feed: no cheat-on-close/open, no default observers.
    ``issues_reported``: the candles' holes were reported when they were loaded (see
    :func:`~lstm_backtrader.strategies.feeds.candles_feed`)."""
    cerebro = bt.Cerebro(stdstats=False, runonce=runonce, preload=preload)
    cerebro.broker.setcash(cash)
    cerebro.broker.set_coc(False)
    cerebro.broker.set_coo(False)
    cerebro.adddata(candles_feed(candles, issues_reported=issues_reported))
    return cerebro


def run_strategy(
    candles: pd.DataFrame,
    strategy: type[RecordingStrategy],
    *,
    cash: float = 10_000.0,
    runonce: bool = True,
    preload: bool = True,
    on_bar: Callable[[int, int], None] | None = None,
    issues_reported: bool = False,
    **params: Any,
) -> StrategyRecord:
    """Backtest ``strategy`` (a :class:`RecordingStrategy` subclass) with ``params`` on
    ``candles`` and return its :class:`StrategyRecord`.

    Each call has its own broker, so strategies never share cash or positions.
    ``on_bar(done, total)`` is called after every bar (for progress bars);
    ``issues_reported`` as for :func:`make_cerebro`.
    """
    cerebro = make_cerebro(
        candles, cash=cash, runonce=runonce, preload=preload, issues_reported=issues_reported
    )
    cerebro.addstrategy(strategy, **params)
    if on_bar is not None:
        cerebro.addanalyzer(_BarProgress, callback=on_bar, total=len(candles))
    (strat,) = cerebro.run()
    return strat.record()
