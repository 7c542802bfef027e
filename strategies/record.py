"""What a strategy run leaves behind, in a form the reports use: :class:`StrategyRecord`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

TRADE_COLUMNS: tuple[str, ...] = (
    "entry_time", "exit_time", "side", "size", "entry_price", "exit_price",
    "pnl", "pnl_net", "commission", "bars",
)  # fmt: skip
FILL_COLUMNS: tuple[str, ...] = ("time", "side", "size", "price", "value", "commission")


@runtime_checkable
class StrategyRecordLike(Protocol):
    """What the report functions read from a strategy run (duck-typed :class:`StrategyRecord`)."""

    name: str
    equity: pd.Series
    trades: pd.DataFrame
    fills: pd.DataFrame
    position: pd.Series


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


@dataclass(frozen=True)
class StrategyRecord:
    """The bar-by-bar outcome of one strategy on one feed.

    Attributes
    ----------
    name
        Display name (``"LSTM"``, ``"Buy & hold"``, ``"SMA cross"``, ``"Persistence sign"``).
    equity
        Broker value at each bar close, UTC :class:`~pandas.DatetimeIndex` named ``timestamp``,
        strictly increasing, finite and positive.
    trades
        Closed round trips, columns :data:`TRADE_COLUMNS` (``side`` ``'long'``/``'short'``;
        ``size`` the largest absolute size held during the trade).
    fills
        Every executed order, columns :data:`FILL_COLUMNS` (``side`` ``'buy'``/``'sell'``,
        ``size`` positive, ``value`` = size × price).
    position
        Position size (units of the asset, negative when short) at each bar close.

    rejected_orders
        Orders the broker refused (margin or rejection): each is a decision that did not trade.

    ``trades``, ``fills`` and ``position`` may be omitted (e.g. for a synthetic curve): they
    default to empty frames and a flat position.
    """

    name: str
    equity: pd.Series
    trades: pd.DataFrame = field(default_factory=lambda: _empty(TRADE_COLUMNS))
    fills: pd.DataFrame = field(default_factory=lambda: _empty(FILL_COLUMNS))
    position: pd.Series | None = None
    rejected_orders: int = 0

    def __post_init__(self) -> None:
        eq = self.equity
        if not isinstance(eq, pd.Series) or not isinstance(eq.index, pd.DatetimeIndex):
            raise ValueError(f"{self.name}: equity must be a Series with a DatetimeIndex")
        if len(eq) < 1:
            raise ValueError(f"{self.name}: equity is empty")
        if not eq.index.is_monotonic_increasing or eq.index.has_duplicates:
            raise ValueError(f"{self.name}: equity index must be strictly increasing")
        values = eq.to_numpy(dtype="float64", na_value=np.nan)
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise ValueError(f"{self.name}: equity must be finite and positive on every bar")
        if self.position is None:
            object.__setattr__(self, "position", pd.Series(0.0, index=eq.index, name="position"))

    @property
    def returns(self) -> pd.Series:
        """Simple per-bar returns of the equity curve (0.0 on the first bar)."""
        return self.equity.pct_change().fillna(0.0).rename(self.name)

    @property
    def fees_paid(self) -> float:
        """Commission paid over the run (slippage is in the fill prices, not here)."""
        return fees_paid(self)

    @property
    def exposure(self) -> float:
        """Share of bars that end with an open (non-zero) position."""
        return exposure(self)

    def since(self, start: pd.Timestamp) -> StrategyRecord:
        """The record restricted to bars (and fills, trades entered) at or after ``start``."""
        fills = self.fills[self.fills["time"] >= start] if len(self.fills) else self.fills
        trades = (
            self.trades[self.trades["entry_time"] >= start] if len(self.trades) else self.trades
        )
        return StrategyRecord(
            self.name,
            self.equity[self.equity.index >= start],
            trades.reset_index(drop=True),
            fills.reset_index(drop=True),
            None if self.position is None else self.position[self.position.index >= start],
            rejected_orders=self.rejected_orders,
        )


def fees_paid(record: StrategyRecordLike) -> float:
    """Commission paid over a record's fills."""
    fills = record.fills
    if fills is None or len(fills) == 0 or "commission" not in fills:
        return 0.0
    return float(pd.to_numeric(fills["commission"]).sum())


def exposure(record: StrategyRecordLike) -> float:
    """Share of a record's bars that end with an open position."""
    pos = record.position
    if pos is None or len(pos) == 0:
        return 0.0
    return float(np.mean(pos.to_numpy(dtype="float64") != 0.0))
