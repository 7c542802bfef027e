"""The Backtrader chart of the LSTM strategy (price, trades, forecast, value) as PNG bytes.

Backtrader's plot module switches matplotlib to TkAgg when imported; this module imports it
with the non-interactive Agg backend forced back afterwards, so it works headless. On
matplotlib ≥ 3.11 Backtrader hides the x-axis date labels; they are turned back on here. The
chart is drawn under matplotlib's default rcParams (Backtrader's own look, with a light grid
and frame), whatever styles
the process set before (quantstats restyles matplotlib when imported): the same inputs give
the same bytes.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any

import pandas as pd

from lstm_backtrader.backtests.report.pieces import PieceStore, cached

logger = logging.getLogger(__name__)

#: What the chart's bytes depend on besides its inputs (keys of the report piece store): this
#: module and the strategies package that replays the forecasts.
PIECE_CODE = ("lstm_backtrader.backtests.report.btchart", "lstm_backtrader.strategies")
PIECE_PACKAGES = ("backtrader", "matplotlib", "numpy", "pandas", "pillow")
#: Over matplotlib's defaults: a light grid and frame.
_RC = {"grid.color": "#dddddd", "axes.edgecolor": "#bbbbbb"}


def _agg_backtrader_plot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import backtrader.plot  # noqa: F401  (tries to select TkAgg on import)

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def backtrader_chart_png(
    candles: pd.DataFrame,
    forecasts: pd.Series,
    *,
    strategy_params: dict[str, Any],
    cash: float,
    start: pd.Timestamp | None = None,
    dpi: int = 90,
    name: str = "price",
    store: PieceStore | None = None,
) -> bytes:
    """Replay ``forecasts`` through :class:`~lstm_backtrader.strategies.forecast.ForecastStrategy`
    on ``candles`` and return Backtrader's own chart of that run, from ``start`` on.

    The replay needs no TensorFlow (the forecasts are already computed); with the run's
    candles and parameters (``trade_from`` included) its fills are the run's. ``name`` labels
    the price panel (the asset); the observers are labelled "Equity" and "Trades" instead of
    Backtrader's parameter dumps (``Value (None)``, ``BuySell (True, 0.015)``). With a
    ``store`` (:class:`~lstm_backtrader.backtests.report.pieces.PieceStore`) an unchanged chart
    is read back instead of replayed and drawn.
    """
    inputs = dict(candles=candles, forecasts=forecasts, strategy_params=strategy_params,
                  cash=cash, start=start, dpi=dpi, name=name)  # fmt: skip

    def render() -> bytes:
        return _chart_png(**inputs)  # type: ignore[arg-type]

    return cached(
        store, "backtrader-chart", "png", render, inputs, code=PIECE_CODE, packages=PIECE_PACKAGES
    )


def _chart_png(
    candles: pd.DataFrame,
    forecasts: pd.Series,
    *,
    strategy_params: dict[str, Any],
    cash: float,
    start: pd.Timestamp | None,
    dpi: int,
    name: str,
) -> bytes:
    """Replay and draw :func:`backtrader_chart_png`'s chart."""
    import backtrader as bt

    from lstm_backtrader.strategies.forecast import ForecastStrategy
    from lstm_backtrader.strategies.runner import make_cerebro

    plt = _agg_backtrader_plot()

    class Equity(bt.observers.Value):
        plotinfo = dict(plot=True, subplot=True, plotname="Equity")

        def _plotlabel(self) -> list[Any]:
            return []

    class Trades(bt.observers.BuySell):
        plotinfo = dict(plot=True, subplot=False, plotlinelabels=True, plotname="Trades")

        def _plotlabel(self) -> list[Any]:
            return []

    cerebro = make_cerebro(candles, cash=cash)
    cerebro.datas[0]._name = name
    cerebro.addstrategy(ForecastStrategy, forecasts=forecasts, **strategy_params)
    cerebro.addobserver(Equity)
    cerebro.addobserver(Trades, barplot=True)
    cerebro.run()
    with warnings.catch_warnings(), plt.rc_context():
        plt.rcdefaults()
        plt.rcParams.update(_RC)
        warnings.simplefilter("ignore")
        try:
            # the feed carries close times (strategies.feeds): the first bar shown is the one
            # that opens at `start`, whose close is after it; daily ticks show the date only
            first = None if start is None else start.tz_convert("UTC").tz_localize(None)
            step = candles.index[1] - candles.index[0] if len(candles) > 1 else pd.Timedelta(0)
            figures = cerebro.plot(
                iplot=False,
                volume=False,
                style="line",
                start=None if first is None else (first + pd.Timedelta(1, "us")).to_pydatetime(),
                fmt_x_ticks="%Y-%m-%d" if step >= pd.Timedelta(days=1) else "%Y-%m-%d %H:%M",
            )
            fig = figures[0][0]
            bottom = max(fig.axes, key=lambda ax: -ax.get_position().y0)
            bottom.tick_params(labelbottom=True, labelrotation=20)
            fig.set_size_inches(12, 8)
            buf = io.BytesIO()
            fig.savefig(
                buf, format="png", dpi=dpi, metadata={"Software": None}, bbox_inches="tight"
            )
        finally:
            plt.close("all")
    return buf.getvalue()
