"""Light indicators: precomputed forecasts replayed onto a feed, and the last-return signal.

Neither imports TensorFlow: replaying cached forecasts costs no more than an SMA.
"""

from __future__ import annotations

import math

import backtrader as bt
import numpy as np
import pandas as pd

from lstm_backtrader.strategies.feeds import bar_times


class SeriesForecast(bt.Indicator):
    """Replays a precomputed forecast Series (the value known at each bar's close).

    Values are matched to bars by their exact UTC open time (the candle frame's index, see
    :mod:`lstm_backtrader.strategies.feeds`); a bar without a value gets NaN. The
    series must hold, at bar *t*, only what was known at the close of *t* — as
    :class:`lstm_backtrader.models.walkforward.WalkForward` output does.
    """

    lines = ("forecast",)
    params = (
        ("series", None),  # pd.Series indexed by UTC bar timestamps
    )
    plotinfo = dict(subplot=True, plothlines=[0.0], plotname="forecast")
    plotlines = dict(forecast=dict(color="tab:blue"))

    def _plotlabel(self) -> list[object]:
        return []  # the series is no label

    def __init__(self) -> None:
        series = self.p.series
        if not isinstance(series, pd.Series):
            raise TypeError("SeriesForecast needs series=<pd.Series indexed by UTC timestamps>")
        index = pd.DatetimeIndex(series.index)
        index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
        self._values = pd.Series(series.to_numpy(dtype="float64"), index=index.as_unit("us"))

    def _lookup(self, stamps: pd.DatetimeIndex) -> np.ndarray:
        return self._values.reindex(stamps.as_unit("us")).to_numpy(dtype="float64")

    def next(self) -> None:
        stamp = bar_times(self.data, [self.data.datetime[0]])
        self.lines.forecast[0] = float(self._lookup(stamp)[0])

    def once(self, start: int, end: int) -> None:
        stamps = bar_times(self.data, self.data.datetime.array[start:end])
        dst = self.lines.forecast.array
        for i, value in enumerate(self._lookup(stamps), start=start):
            dst[i] = float(value)


class LastReturn(bt.Indicator):
    """The last bar's log return, used as a naive forecast of the next one.

    This is the *persistence of the last move* (naive momentum), the trading counterpart of the
    persistence forecast: a zero-return forecast never trades, so the persistence baseline
    strategy trades the sign of the return just observed.
    """

    lines = ("forecast",)
    plotinfo = dict(subplot=True, plothlines=[0.0])

    def __init__(self) -> None:
        self.addminperiod(2)

    def next(self) -> None:
        self.lines.forecast[0] = math.log(self.data.close[0] / self.data.close[-1])

    def once(self, start: int, end: int) -> None:
        src = self.data.close.array
        dst = self.lines.forecast.array
        for i in range(start, end):
            dst[i] = math.log(src[i] / src[i - 1])
