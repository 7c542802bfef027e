"""Market data in: exchange downloads through ccxt (cached), candle files, the embedded sample.

Every source returns a *candle frame* (see :mod:`lstm_backtrader.backtests.data.validate`).
"""

from lstm_backtrader.backtests.data.files import load_ohlcv
from lstm_backtrader.backtests.data.sample import sample
from lstm_backtrader.backtests.data.validate import (
    OHLCV_COLUMNS,
    DataReport,
    GapReport,
    describe_ohlcv,
    infer_timeframe,
    timeframe_label,
    validate_ohlcv,
)

__all__ = [
    "OHLCV_COLUMNS",
    "DataReport",
    "GapReport",
    "describe_ohlcv",
    "fetch_ohlcv",
    "infer_timeframe",
    "load_ohlcv",
    "sample",
    "timeframe_label",
    "validate_ohlcv",
]


def __getattr__(name: str):  # ccxt is imported only when a download is asked for
    if name == "fetch_ohlcv":
        from lstm_backtrader.backtests.data.exchange import fetch_ohlcv

        return fetch_ohlcv
    raise AttributeError(name)
