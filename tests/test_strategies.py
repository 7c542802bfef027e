"""Strategies on real Backtrader: next-bar fills, fractional sizes, costs, warm-up, no look-ahead."""

from __future__ import annotations

import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.strategies.baselines import BuyAndHold, SMACross
from lstm_backtrader.strategies.costs import DEFAULT_FEE, DEFAULT_SLIPPAGE
from lstm_backtrader.strategies.forecast import ForecastStrategy, PersistenceSignal
from lstm_backtrader.strategies.indicators import LastReturn, SeriesForecast
from lstm_backtrader.strategies.runner import make_cerebro, run_strategy
from tests.conftest import make_candles


def _flat_candles(n: int, price: float = 60_000.0) -> pd.DataFrame:
    """Candles whose open is ``price`` and whose range leaves room for slippage."""
    c = make_candles(n, seed=3, price=price)
    c["open"] = price
    c["close"] = price * (1 + 0.001 * np.sin(np.arange(n)))
    c["high"] = np.maximum(c["open"], c["close"]) * 1.01
    c["low"] = np.minimum(c["open"], c["close"]) * 0.99
    return c


def test_fractional_btc_trade_with_fees_and_slippage() -> None:
    candles = _flat_candles(10)
    rec = run_strategy(candles, BuyAndHold, cash=10_000.0)
    assert len(rec.fills) == 1
    fill = rec.fills.iloc[0]
    # decided at the close of bar 0, filled at the open of bar 1 with slippage against us
    assert fill["time"] == candles.index[1]
    assert fill["price"] == pytest.approx(60_000.0 * (1 + DEFAULT_SLIPPAGE))
    expected_size = 0.99 * 10_000.0 / candles["close"].iloc[0]
    assert fill["size"] == pytest.approx(expected_size)
    assert 0 < fill["size"] < 1  # fractional: order_target_percent would have bought 0
    assert fill["commission"] == pytest.approx(DEFAULT_FEE * fill["size"] * fill["price"])
    assert rec.fees_paid == pytest.approx(fill["commission"])
    # equity at the last close = cash left + position marked at the close
    cash = 10_000.0 - fill["value"] - fill["commission"]
    assert rec.equity.iloc[-1] == pytest.approx(cash + fill["size"] * candles["close"].iloc[-1])
    assert rec.position.iloc[0] == 0.0 and rec.position.iloc[-1] == pytest.approx(fill["size"])


def test_costs_are_parameters() -> None:
    candles = _flat_candles(10)
    rec = run_strategy(candles, BuyAndHold, fee=0.0, slippage=0.0)
    assert rec.fills.iloc[0]["price"] == 60_000.0
    assert rec.fees_paid == 0.0


def test_orders_fill_on_the_next_open() -> None:
    candles = make_candles(120, seed=5)
    forecasts = pd.Series(np.where(np.arange(120) % 10 < 5, 0.02, -0.02), index=candles.index)
    rec = run_strategy(candles, ForecastStrategy, forecasts=forecasts, slippage=0.0)
    assert len(rec.fills) > 10
    for _, fill in rec.fills.iterrows():
        pos = candles.index.get_loc(fill["time"])
        assert fill["price"] == pytest.approx(candles["open"].iloc[pos])
        decided = pos - 1  # the forecast that triggered it is the previous bar's
        want_long = forecasts.iloc[decided] > 0
        assert (fill["side"] == "buy") == want_long


def test_no_order_before_warm_up_ends() -> None:
    candles = make_candles(200, seed=1)
    rec = run_strategy(candles, SMACross, fast=10, slow=50)
    assert len(rec.fills) > 0
    assert rec.fills["time"].min() >= candles.index[50]  # slow SMA defined at bar 49
    forecasts = pd.Series(0.05, index=candles.index)
    forecasts.iloc[:30] = np.nan
    rec = run_strategy(candles, ForecastStrategy, forecasts=forecasts)
    assert rec.fills["time"].min() == candles.index[31]  # first forecast at 30, filled at 31
    assert len(rec.equity) == len(candles)  # equity is recorded during warm-up too


def test_cost_aware_entry_threshold() -> None:
    candles = make_candles(60, seed=2)
    small = pd.Series(0.002, index=candles.index)  # below 2 × (0.1% + 0.05%) = 0.3%
    assert run_strategy(candles, ForecastStrategy, forecasts=small).fills.empty
    assert not run_strategy(candles, ForecastStrategy, forecasts=small * 2).fills.empty
    assert not run_strategy(candles, ForecastStrategy, forecasts=small, entry=0.001).fills.empty


def test_short_side_and_exit() -> None:
    candles = make_candles(60, seed=4)
    f = pd.Series(-0.01, index=candles.index)
    assert run_strategy(candles, ForecastStrategy, forecasts=f).fills.empty  # long-only default
    rec = run_strategy(candles, ForecastStrategy, forecasts=f, allow_short=True)
    assert rec.fills.iloc[0]["side"] == "sell" and rec.position.iloc[-1] < 0
    f.iloc[40:] = 0.01
    rec = run_strategy(candles, ForecastStrategy, forecasts=f, allow_short=True)
    assert rec.trades.iloc[0]["side"] == "short"
    assert rec.trades.iloc[0]["exit_time"] == candles.index[41]
    assert rec.position.iloc[-1] > 0  # flipped long


def test_stop_loss_fires_at_the_stop_price() -> None:
    candles = _flat_candles(20)
    candles.loc[candles.index[8], ["low"]] = 60_000.0 * 0.8  # a 20% wick on bar 8
    f = pd.Series(0.05, index=candles.index)
    rec = run_strategy(candles, ForecastStrategy, forecasts=f, stop_loss=0.1, slippage=0.0)
    entry = rec.fills.iloc[0]
    stop_fill = rec.fills.iloc[1]
    assert stop_fill["time"] == candles.index[8]
    assert stop_fill["side"] == "sell"
    assert stop_fill["price"] == pytest.approx(entry["price"] * 0.9)


def test_vol_targeting_scales_the_position() -> None:
    candles = make_candles(100, seed=6)  # ~2% daily vol ≈ 38% annualised
    f = pd.Series(0.05, index=candles.index)
    full = run_strategy(candles, ForecastStrategy, forecasts=f)
    half = run_strategy(candles, ForecastStrategy, forecasts=f, vol_target=0.19, vol_window=30)
    # no estimate before 30 returns exist: first decision at bar 30, filled at bar 31
    assert half.fills.iloc[0]["time"] == candles.index[31]
    log_ret = np.diff(np.log(candles["close"].iloc[:31].to_numpy()))
    expected = 0.19 / (np.std(log_ret, ddof=1) * math.sqrt(365))
    assert 0.2 < expected < 1.0
    equity = half.equity.iloc[30]
    size = expected * 0.99 * equity / candles["close"].iloc[30]
    assert half.fills.iloc[0]["size"] == pytest.approx(size)
    assert half.fills.iloc[0]["size"] < full.fills.iloc[0]["size"]


def test_cheat_on_close_is_refused() -> None:
    cerebro = make_cerebro(make_candles(30))
    cerebro.broker.set_coc(True)
    cerebro.addstrategy(BuyAndHold)
    with pytest.raises(ValueError, match="cheat-on-close"):
        cerebro.run()


@pytest.mark.parametrize("strategy", [SMACross, PersistenceSignal, BuyAndHold])
def test_truncation_invariance_at_strategy_level(strategy: type) -> None:
    """Altering every bar after T changes no order, fill or equity value up to T."""
    candles = make_candles(300, seed=7)
    t_cut = 200
    altered = candles.copy()
    noise = make_candles(300, seed=99, price=3_000.0)
    altered.iloc[t_cut + 1 :] = noise.iloc[t_cut + 1 :].to_numpy()
    a = run_strategy(candles, strategy)
    b = run_strategy(altered, strategy)
    cutoff = candles.index[t_cut]
    pd.testing.assert_series_equal(a.equity[:cutoff], b.equity[:cutoff])
    pd.testing.assert_series_equal(a.position[:cutoff], b.position[:cutoff])
    fa = a.fills[a.fills["time"] <= cutoff].reset_index(drop=True)
    fb = b.fills[b.fills["time"] <= cutoff].reset_index(drop=True)
    pd.testing.assert_frame_equal(fa, fb)
    assert not a.equity.equals(b.equity) or strategy is BuyAndHold


def _indicator_values(candles, indicator, runonce: bool, preload: bool, **kw) -> np.ndarray:
    class Probe(bt.Strategy):
        def __init__(self) -> None:
            self.ind = indicator(self.data, **kw)
            self.values: list[float] = []

        def prenext(self) -> None:
            self.values.append(float("nan"))

        def next(self) -> None:
            self.values.append(float(self.ind.forecast[0]))

    cerebro = make_cerebro(candles, runonce=runonce, preload=preload)
    cerebro.addstrategy(Probe)
    (strat,) = cerebro.run()
    return np.asarray(strat.values)


@pytest.mark.parametrize("indicator", [LastReturn, SeriesForecast])
def test_indicators_identical_under_runonce_and_preload(indicator) -> None:
    candles = make_candles(80, seed=8)
    kw = {}
    if indicator is SeriesForecast:
        series = pd.Series(np.random.default_rng(0).normal(0, 0.01, 80), index=candles.index)
        kw = {"series": series.iloc[5:]}
    runs = [
        _indicator_values(candles, indicator, runonce, preload, **kw)
        for runonce, preload in [(True, True), (False, True), (False, False)]
    ]
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0], other)
    expected = (
        np.log(candles["close"]).diff().to_numpy()
        if indicator is LastReturn
        else kw["series"].reindex(candles.index).to_numpy()
    )
    np.testing.assert_allclose(runs[0], expected, rtol=0, atol=1e-12, equal_nan=True)


def test_strategies_record_what_reports_need() -> None:
    candles = make_candles(250, seed=9)
    rec = run_strategy(candles, SMACross, fast=5, slow=20, label="SMA cross")
    assert rec.name == "SMA cross"
    assert rec.equity.index.equals(candles.index)
    assert rec.returns.iloc[0] == 0.0
    np.testing.assert_allclose(rec.returns.iloc[1:], rec.equity.pct_change().iloc[1:])
    closed = rec.trades
    assert len(closed) >= 3
    assert (closed["exit_time"] > closed["entry_time"]).all()
    assert rec.fees_paid == pytest.approx(rec.fills["commission"].sum())
    np.testing.assert_allclose(closed["pnl_net"], closed["pnl"] - closed["commission"])
    assert 0 < rec.exposure < 1


def test_trade_from_and_bar_progress() -> None:
    candles = make_candles(120, seed=10)
    seen: list[tuple[int, int]] = []
    rec = run_strategy(candles, BuyAndHold, trade_from=candles.index[60],
                       on_bar=lambda done, total: seen.append((done, total)))  # fmt: skip
    assert rec.fills.iloc[0]["time"] == candles.index[61]
    assert seen[-1] == (120, 120) and len(seen) == 120
    since = rec.since(candles.index[60])
    assert since.equity.index[0] == candles.index[60] and len(since.fills) == 1


def test_an_open_that_gaps_past_the_cash_fills_what_the_cash_allows(caplog) -> None:
    """Decided at close 60,000 with 99% of equity; the next open gaps up 2%: the whole size
    no longer fits. It used to be rejected for margin (a missed trade); now the affordable part
    fills like a quote-amount market order, the rest is cancelled, nothing is rejected."""
    candles = _flat_candles(6)
    candles.iloc[0, candles.columns.get_loc("close")] = 60_000.0
    candles.iloc[1, candles.columns.get_loc("open")] = 61_200.0
    candles.iloc[1, candles.columns.get_loc("high")] = 62_000.0
    with caplog.at_level("WARNING"):
        rec = run_strategy(candles, BuyAndHold, cash=10_000.0)
    assert "Margin" not in caplog.text and rec.rejected_orders == 0
    assert len(rec.fills) == 1  # the rest was cancelled, not filled a bar later
    fill = rec.fills.iloc[0]
    price = 61_200.0 * (1 + DEFAULT_SLIPPAGE)
    assert fill["time"] == candles.index[1] and fill["price"] == pytest.approx(price)
    affordable = 10_000.0 / (price * (1 + DEFAULT_FEE))
    assert fill["size"] == pytest.approx(affordable, rel=1e-8)
    assert fill["size"] < 0.99 * 10_000.0 / 60_000.0  # less than decided: the open moved
    assert rec.position.iloc[-1] == pytest.approx(fill["size"])
    cash_left = 10_000.0 - fill["value"] - fill["commission"]
    assert -1e-6 < cash_left < 1e-3  # spent (almost) exactly the cash, never overdrawn


def test_rejected_orders_are_counted() -> None:
    """A broker that refuses (here: cash too small for the minimum) is counted, not hidden."""

    class Greedy(BuyAndHold):
        def decide(self) -> None:
            if not self._bought:
                self.buy(size=10.0)  # far beyond the cash: margin at submission
                self._bought = True

    rec = run_strategy(_flat_candles(5), Greedy, cash=10_000.0)
    assert rec.rejected_orders == 1 and len(rec.fills) == 0


def test_stop_loss_never_outlives_its_position() -> None:
    """Entry, then an exit decided on the very next bar (the stop placed at the entry fill is
    not accepted by the broker yet, so a plain cancel misses it): the stop and the exit are one
    OCO group, so a long-only strategy never goes short, its equity stays positive, and no stop
    is left resting once flat. (A resting orphan stop used to sell positions that no longer
    existed and drive equity negative on real 2h data.)"""
    candles = make_candles(600, seed=8, freq="2h")
    rec = run_strategy(
        candles, PersistenceSignal, stop_loss=0.01, vol_target=0.5, periods_per_year=4380
    )
    assert len(rec.fills) > 50
    assert (rec.position >= 0).all(), rec.position[rec.position < 0].head()
    assert (rec.equity > 0).all()
    # every sell closes (at most) what is held: the position never drops below zero
    held = 0.0
    for _, fill in rec.fills.iterrows():
        held += fill["size"] if fill["side"] == "buy" else -fill["size"]
        assert held > -1e-12


def test_stop_and_exit_at_the_same_open_sell_once() -> None:
    """The stop (placed at the entry fill) and the next bar's exit both want to sell at the same
    open, which gaps below the stop: exactly one sell fills."""
    candles = _flat_candles(8)
    forecasts = pd.Series([0.05, 0.05, -0.05, -0.05, -0.05, -0.05, -0.05, -0.05],
                          index=candles.index)  # fmt: skip
    candles.iloc[3, candles.columns.get_loc("open")] = 50_000.0  # gap far below a 1% stop
    candles.iloc[3, candles.columns.get_loc("low")] = 49_000.0
    rec = run_strategy(candles, ForecastStrategy, forecasts=forecasts, stop_loss=0.01, entry=0.0)
    sides = rec.fills["side"].tolist()
    assert sides == ["buy", "sell"], rec.fills
    assert rec.position.iloc[-1] == 0.0


def test_a_partly_filled_entry_still_gets_its_stop() -> None:
    """The entry's open gaps up so the cash fills only part of it: the stop-loss is placed
    for what was bought (it used to be skipped: the cancelled remainder hid the fill)."""
    candles = _flat_candles(8, price=100.0)
    candles.iloc[0, candles.columns.get_loc("close")] = 100.0
    candles.iloc[1:] = candles.iloc[1:] * [1.05, 1.05, 1.05, 1.05, 1.0]  # +5%: stake won't fit
    candles.iloc[4, candles.columns.get_loc("low")] = 50.0  # crashes through a 5% stop
    forecasts = pd.Series(0.05, index=candles.index)
    rec = run_strategy(candles, ForecastStrategy, forecasts=forecasts, stop_loss=0.05, entry=0.0,
                       exit=-1.0)  # fmt: skip
    assert rec.fills["side"].tolist()[:2] == ["buy", "sell"], rec.fills
    buy, stop = rec.fills.iloc[0], rec.fills.iloc[1]
    assert buy["size"] < 0.99 * 10_000.0 / 100.0  # partly filled
    assert stop["time"] == candles.index[4] and stop["size"] == pytest.approx(buy["size"])
    assert stop["price"] < 105.0 * 0.96  # the stop, not a later exit


def test_long_to_short_flip_is_sized_from_flat_not_doubled() -> None:
    candles = _flat_candles(10)
    forecasts = pd.Series([0.05, 0.05, -0.05, -0.05, -0.05, -0.05, 0.0, 0.0, 0.0, 0.0],
                          index=candles.index)  # fmt: skip
    rec = run_strategy(candles, ForecastStrategy, forecasts=forecasts, allow_short=True, entry=0.0,
                       exit=0.0)  # fmt: skip
    long_size = rec.position.max()
    assert long_size > 0 and rec.position.min() < 0
    # a short of one stake, never the long plus a stake (2x leverage)
    assert abs(rec.position.min()) == pytest.approx(long_size, rel=0.05)
    value = rec.equity * 0 + 10_000.0
    assert (rec.position.abs() * candles["close"].reindex(rec.position.index) <= 1.02 * value).all()


def test_fills_over_several_bars_are_recorded_once_each() -> None:
    """A user's own volume filler fills an order over several bars: each execution is one
    fill row (not the cumulative size again), and nothing is cancelled."""

    class Half:
        def __call__(self, order, price, ago):
            return min(abs(order.executed.remsize), abs(order.size) / 2)

    candles = _flat_candles(6)
    cerebro = make_cerebro(candles)
    cerebro.broker.set_filler(Half())
    cerebro.addstrategy(BuyAndHold)
    (strat,) = cerebro.run()
    rec = strat.record()
    assert len(rec.fills) == 2 and rec.fills["side"].tolist() == ["buy", "buy"]
    assert rec.fills["size"].iloc[0] == pytest.approx(rec.fills["size"].iloc[1])
    assert rec.fills["size"].sum() == pytest.approx(rec.position.iloc[-1])
