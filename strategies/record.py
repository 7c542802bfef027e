"""What a strategy run leaves behind, in a form the reports use: :class:`StrategyRecord`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TRADE_COLUMNS: tuple[str, ...] = (
    "entry_time", "exit_time", "side", "size", "entry_price", "exit_price",
    "pnl", "pnl_net", "commission", "bars",
)  # fmt: skip
FILL_COLUMNS: tuple[str, ...] = ("time", "side", "size", "price", "value", "commission")


@dataclass(frozen=True)
class StrategyRecord:
    """The bar-by-bar outcome of one strategy on one feed.

    Attributes
    ----------
    name
        Display name (``"LSTM"``, ``"Buy & hold"``, …).
    equity
        Broker value at each bar's close, indexed by the bar's UTC timestamp.
    trades
        Closed round trips, columns :data:`TRADE_COLUMNS` (``side`` is ``'long'``/``'short'``;
        ``size`` the largest absolute size held during the trade).
    fills
        Every executed order, columns :data:`FILL_COLUMNS` (``side`` is ``'buy'``/``'sell'``,
        ``size`` positive, ``value`` = size × price).
    position
        Position size (units of the asset, negative when short) at each bar's close.
    """

    name: str
    equity: pd.Series
    trades: pd.DataFrame
    fills: pd.DataFrame
    position: pd.Series

    @property
    def returns(self) -> pd.Series:
        """Simple per-bar returns of the equity curve (0.0 on the first bar)."""
        return self.equity.pct_change().fillna(0.0).rename(self.name)

    @property
    def fees_paid(self) -> float:
        """Commission paid over the run (slippage is in the fill prices, not here)."""
        return float(self.fills["commission"].sum()) if len(self.fills) else 0.0

    @property
    def exposure(self) -> float:
        """Share of bars that end with an open position."""
        return float(np.mean(self.position.to_numpy() != 0.0)) if len(self.position) else 0.0
