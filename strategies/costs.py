"""Default trading costs and stake: declared once, here, for the strategies' Backtrader params
and the run configuration's ``[strategy]`` section alike (no Backtrader import, so reading a
config stays cheap)."""

from __future__ import annotations

#: Binance spot taker fee per side (fraction of the traded value).
DEFAULT_FEE = 0.001
#: Adverse price move per fill: a conservative slippage for BTC/USDT market orders.
DEFAULT_SLIPPAGE = 0.0005
#: Fraction of equity put in a full position (room for costs and the next bar's open).
DEFAULT_STAKE = 0.99
