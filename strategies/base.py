"""The base every strategy of the package derives from: costs, fractional sizing, records.

* Costs are strategy parameters (``fee`` per side, ``slippage``), applied to the broker in
  :meth:`RecordingStrategy.start`, so every strategy of a comparison pays the same.
* Orders are decided at the close of bar *t* and are market orders, which Backtrader fills at
  the open of bar *t + 1* (cheat-on-close stays off: :meth:`start` refuses a broker with it on).
* Sizes are fractional (``order_target_fraction``): BTC at 60,000 with 10,000 cash buys 0.16 BTC,
  where ``order_target_percent`` would round down to 0.
* Equity, position, fills and closed trades are recorded every bar; :meth:`record` returns them
  as a :class:`~lstm_backtrader.strategies.record.StrategyRecord`.
"""

from __future__ import annotations

import logging
import math

import backtrader as bt
import pandas as pd

from lstm_backtrader.strategies.costs import DEFAULT_FEE, DEFAULT_SLIPPAGE, DEFAULT_STAKE
from lstm_backtrader.strategies.feeds import bar_time, bar_times, bar_times_ns
from lstm_backtrader.strategies.record import FILL_COLUMNS, TRADE_COLUMNS, StrategyRecord

logger = logging.getLogger(__name__)


class CashFiller:
    """Backtrader volume filler that fills a buy only as far as the cash allows, like a
    market order for a quote amount on an exchange: the size was decided at bar t's close, the
    fill comes at bar t+1's open, and when that open gapped up so that the whole size no longer
    fits, the affordable part fills (the strategy cancels the rest) instead of the broker
    rejecting the whole order for margin. Sells always fill in full. No look-ahead: nothing
    about bar t+1 reaches a decision; only the executed size follows the fill price.
    """

    def __init__(self, broker: bt.BrokerBase) -> None:
        self.broker = broker

    def __call__(self, order: bt.Order, price: float, ago: int) -> float:
        remaining = abs(float(order.executed.remsize))
        if not order.isbuy() or price <= 0:
            return remaining
        comminfo = self.broker.getcommissioninfo(order.data)
        unit_cost = price + float(comminfo.getcommission(1.0, price))
        affordable = float(self.broker.getcash()) / unit_cost * (1.0 - 1e-9)
        return max(0.0, min(remaining, affordable))


class RecordingStrategy(bt.Strategy):
    """Base strategy: applies costs, sizes fractionally, records what happens.

    Subclasses implement :meth:`decide` (called on every bar once the minimum period of all
    indicators is met) instead of ``next``.
    """

    params = (
        ("fee", DEFAULT_FEE),  # commission per side, fraction of traded value (0.001 = 0.1%)
        ("slippage", DEFAULT_SLIPPAGE),  # adverse price move per fill, fraction (0.0005 = 0.05%)
        ("stake", DEFAULT_STAKE),  # fraction of equity put in a full position (room for costs)
        ("min_order_value", 1.0),  # smaller rebalancing orders (in cash) are not sent
        ("label", None),  # display name in records and reports (default: the class name)
        ("trade_from", None),  # UTC timestamp: no decision before this bar (common OOS start)
    )

    def __init__(self) -> None:
        # (Backtrader datetime number, value, position) per bar; the numbers become open times
        # in one vectorised call in record() (a Timestamp per bar cost ~45 us a bar)
        self._rec_equity: list[tuple[float, float, float]] = []
        self._trade_from_ns: int | None = None
        self._rec_fills: list[tuple] = []
        self._rec_trades: list[tuple] = []
        self._rec_trade_size: dict[int, float] = {}
        self._rec_rejected: list[tuple] = []

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if getattr(self.broker.p, "coc", False) or getattr(self.broker.p, "coo", False):
            raise ValueError(
                "cheat-on-close/open is on: orders must fill on the next bar; "
                "create the broker without coc/coo"
            )
        self.broker.setcommission(commission=self.p.fee)
        self.broker.set_slippage_perc(
            self.p.slippage, slip_open=True, slip_limit=True, slip_match=True, slip_out=False
        )
        if getattr(self.broker.p, "filler", None) is None:
            self.broker.set_filler(CashFiller(self.broker))

    def prenext(self) -> None:
        self._record_bar()

    def next(self) -> None:
        self._record_bar()
        if self.p.trade_from is None:
            self.decide()
            return
        if self._trade_from_ns is None:
            self._trade_from_ns = int(pd.Timestamp(self.p.trade_from).value)
        if int(bar_times_ns(self.data, [self.data.datetime[0]])[0]) >= self._trade_from_ns:
            self.decide()

    def decide(self) -> None:
        """Trading logic at the close of the current bar; override in subclasses."""

    # --- sizing ----------------------------------------------------------------------------
    def order_target_fraction(
        self, fraction: float, current: float | None = None
    ) -> bt.Order | None:
        """Move the position to ``fraction`` × ``stake`` of equity (negative = short).

        The size is computed at this bar's close and is fractional; the market order fills at
        the next bar's open (with slippage and fees), so the realised fraction differs a little.
        ``current`` is the position to move from (default: the position held now); pass 0.0
        when an exit order sent this bar closes the position first, so a long-to-short flip
        is never sized twice.
        """
        price = float(self.data.close[0])
        if not math.isfinite(price) or price <= 0:
            return None
        value = float(self.broker.getvalue())
        target = fraction * self.p.stake * value / price
        held = float(self.position.size) if current is None else float(current)
        delta = target - held
        if abs(delta) * price < self.p.min_order_value:
            return None
        if target == 0.0 and current is None:
            return self.close()
        return self.buy(size=delta) if delta > 0 else self.sell(size=-delta)

    # --- notifications ---------------------------------------------------------------------
    def notify_order(self, order: bt.Order) -> None:
        """Record fills and refusals, let :meth:`order_update` react, then cancel the rest of
        an order :class:`CashFiller` could fill only in part (after the subclass saw it as
        Partial: Backtrader notifies one clone of the order, and cancelling changes it)."""
        self._record_order(order)
        self.order_update(order)
        if order.status == order.Partial and isinstance(
            getattr(self.broker.p, "filler", None), CashFiller
        ):
            logger.info(
                "%s: order %s at %s filled %.6g of %.6g (the open gapped past the cash); "
                "rest cancelled",
                self._label(),
                "buy" if order.isbuy() else "sell",
                bar_time(self.data).isoformat(),
                abs(float(order.executed.size)),
                abs(float(order.size)),
            )
            self.cancel(order)

    def order_update(self, order: bt.Order) -> None:
        """React to an order notification (override; recording is done already)."""

    def _record_order(self, order: bt.Order) -> None:
        if order.status in (order.Completed, order.Partial):
            # one notification per execution: record that execution (its last bit), so an
            # order filled over several bars is recorded once per fill, never cumulatively
            bits = order.executed.exbits
            if bits:
                bit = bits[-1]
                dt, size, price = bit.dt, abs(float(bit.size)), float(bit.price)
                comm = float(bit.closedcomm) + float(bit.openedcomm)
            else:
                ex = order.executed
                dt, size, price, comm = ex.dt, abs(float(ex.size)), float(ex.price), float(ex.comm)
            self._rec_fills.append(
                (
                    bar_times(order.data, [dt])[0],
                    "buy" if order.isbuy() else "sell",
                    size,
                    price,
                    size * price,
                    comm,
                )
            )
        elif order.status in (order.Margin, order.Rejected):
            self._rec_rejected.append(
                (bar_time(self.data), "buy" if order.isbuy() else "sell", order.getstatusname())
            )
            logger.warning(
                "%s: order %s at %s was %s (not enough cash?)",
                self._label(),
                "buy" if order.isbuy() else "sell",
                bar_time(self.data).isoformat(),
                order.getstatusname(),
            )

    def notify_trade(self, trade: bt.Trade) -> None:
        key = trade.ref
        size = abs(float(trade.size))
        self._rec_trade_size[key] = max(self._rec_trade_size.get(key, 0.0), size)
        if trade.justopened:
            self._rec_trade_size[key] = size
        if trade.isclosed:
            biggest = self._rec_trade_size.pop(key, 0.0)
            exit_price = _exit_price(trade, biggest)
            self._rec_trades.append(
                (
                    *bar_times(trade.data, [trade.dtopen, trade.dtclose]),
                    "long" if trade.long else "short",
                    biggest,
                    float(trade.price),
                    exit_price,
                    float(trade.pnl),
                    float(trade.pnlcomm),
                    float(trade.commission),
                    int(trade.barlen),
                )
            )

    # --- results ---------------------------------------------------------------------------
    def _record_bar(self) -> None:
        self._rec_equity.append(
            (float(self.data.datetime[0]), float(self.broker.getvalue()), float(self.position.size))
        )

    def _label(self) -> str:
        return self.p.label or type(self).__name__

    def record(self) -> StrategyRecord:
        """Everything recorded so far, as a :class:`StrategyRecord`."""
        index = bar_times(self.data, [t for t, _, _ in self._rec_equity])
        name = self._label()
        equity = pd.Series([v for _, v, _ in self._rec_equity], index=index, name=name)
        position = pd.Series([p for _, _, p in self._rec_equity], index=index, name=name)
        trades = pd.DataFrame(self._rec_trades, columns=list(TRADE_COLUMNS))
        fills = pd.DataFrame(self._rec_fills, columns=list(FILL_COLUMNS))
        return StrategyRecord(
            name, equity, trades, fills, position, rejected_orders=len(self._rec_rejected)
        )


def _exit_price(trade: bt.Trade, size: float) -> float:
    """Average exit price implied by a closed trade's gross PnL and average entry price.

    Exact for a trade opened and closed in one fill each; an average where it was resized.
    """
    if size == 0.0:
        return float("nan")
    sign = 1.0 if trade.long else -1.0
    return float(trade.price) + sign * float(trade.pnl) / size
