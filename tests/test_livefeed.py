"""strategies/livefeed.py: the live feed of closed candles gives Backtrader the bars
``candles_feed`` gives (same stamps, same values), polls while its source has none, ends when
the source is finished, and refuses a candle out of order."""

from __future__ import annotations

import backtrader as bt
import pandas as pd
import pytest

from lstm_backtrader.backtests.paper.sources import frame_candles
from lstm_backtrader.strategies.feeds import bar_time, candles_feed
from lstm_backtrader.strategies.livefeed import Candle, LiveCandleFeed
from tests.conftest import make_candles


class ListSource:
    """Candles from a list, with ``gaps`` polls answering "none yet" before each one."""

    def __init__(self, candles: list[Candle], gaps: int = 2) -> None:
        self.items, self.gaps, self.polls, self._wait = list(candles), gaps, 0, gaps

    def next_candle(self) -> Candle | None:
        self.polls += 1
        if not self.items:
            return None
        if self._wait:
            self._wait -= 1
            return None
        self._wait = self.gaps
        return self.items.pop(0)

    def finished(self) -> bool:
        return not self.items


class Seen(bt.Strategy):
    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.sma = bt.ind.SMA(self.data.close, period=3)

    def next(self) -> None:
        d = self.data
        self.rows.append((bar_time(d), d.datetime[0], d.open[0], d.high[0], d.low[0],
                          d.close[0], d.volume[0], self.sma[0]))  # fmt: skip


def run(feed: bt.feed.DataBase) -> list[tuple]:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(feed)
    cerebro.addstrategy(Seen)
    (strat,) = cerebro.run()
    return strat.rows


@pytest.mark.parametrize("freq", ["1D", "2h"])
def test_live_feed_delivers_the_bars_candles_feed_gives(freq: str) -> None:
    frame = make_candles(30, freq=freq)
    source = ListSource(frame_candles(frame))
    delivered: list[Candle] = []
    live = LiveCandleFeed(source=source, bar=pd.Timedelta(freq), on_candle=delivered.append)
    assert live.islive()
    got = run(live)
    assert got == run(candles_feed(frame))  # stamps, values and an indicator on top
    assert [r[0] for r in got] == list(frame.index[2:])  # from the SMA's third bar
    assert delivered == frame_candles(frame)  # each candle handed over once, in order
    assert source.polls >= 3 * len(frame)  # the "none yet" answers were polled through


def test_a_candle_out_of_order_is_refused() -> None:
    items = frame_candles(make_candles(5))
    source = ListSource([items[0], items[2], items[1]], gaps=0)
    with pytest.raises(ValueError, match="out of order"):
        run(LiveCandleFeed(source=source, bar=pd.Timedelta("1D")))
