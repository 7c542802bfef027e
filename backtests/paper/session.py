"""A paper trading session: the backtest's LSTM strategy on a live feed, with a paper broker,
an order log and event-sourced state (``docs/paper.md``).

:class:`PaperSession` opens (or resumes) ``state_dir/name/``, replays the journalled candles
through Backtrader, checks the replayed account against ``state.json`` when it passes that bar,
and then goes on with new candles from the source: each journalled before the strategy sees it,
each bar committed (order log, state, equity, status page) after the strategy ran.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import backtrader as bt
import pandas as pd

from lstm_backtrader.backtests.config import RunConfig
from lstm_backtrader.backtests.paper.config import PaperConfig
from lstm_backtrader.backtests.paper.journal import (
    Journal,
    OrderLog,
    read_state,
    test_point,
    write_state,
)
from lstm_backtrader.backtests.paper.sources import ExchangeSource, ReplaySource, frame_candles
from lstm_backtrader.backtests.paper.status import write_status
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.infra.fileio import atomic_write, atomic_write_text
from lstm_backtrader.strategies.feeds import bar_time, bar_times
from lstm_backtrader.strategies.livefeed import Candle, LiveCandleFeed

logger = logging.getLogger(__name__)

__all__ = ["PaperResult", "PaperSession", "STATE_MISMATCH"]

#: The start of the error raised when the replayed account differs from ``state.json``.
STATE_MISMATCH = "replayed state differs from"
EQUITY_COLUMNS = ("value", "cash", "position", "close", "forecast", "fold", "age", "buy_hold")


@dataclass(frozen=True)
class PaperResult:
    """What a session run leaves behind (the folder holds it all too)."""

    folder: Path
    equity: pd.DataFrame  # by bar open time: EQUITY_COLUMNS
    orders: list[dict[str, Any]]  # the whole order log
    new_bars: int  # bars delivered by the source in this run
    replayed_bars: int  # bars re-run from the journal
    health: list[dict[str, Any]]
    trade_from: pd.Timestamp


class _SessionSource:
    """The journalled candles first, then the live source's; stops after ``max_bars`` new."""

    def __init__(self, journal: Journal, inner: Any, max_bars: int | None) -> None:
        self.replay = deque(journal.candles)
        self.inner, self.max_bars, self.new = inner, max_bars, 0

    def done(self) -> bool:
        return self.max_bars is not None and self.new >= self.max_bars

    def next_candle(self) -> Candle | None:
        if self.replay:
            return self.replay.popleft()
        if self.done():
            return None
        candle = self.inner.next_candle()
        if candle is not None:
            self.new += 1
        return candle

    def finished(self) -> bool:
        return not self.replay and (self.done() or self.inner.finished())


class PaperSession:
    """One paper session (see the module docstring).

    Parameters
    ----------
    config, paper
        The run configuration and its ``[paper]`` section.
    replay
        Candles to replay as if live (``--replay``; ``None``: poll ``exchange``).
    speed
        Replay speed (times real time).
    exchange
        The ccxt exchange to poll (live mode; ``None``: built from ``[data]``).
    cache_dir
        The fold cache root (``None``: the default one).
    data_cache_dir
        The candle cache of the warm-up download (``None``: the default one).
    max_bars
        Stop after this many new bars (``None``: run until stopped).
    sleep
        The wait between a poll's retries (tests pass a fake).
    """

    def __init__(
        self,
        config: RunConfig,
        paper: PaperConfig,
        *,
        replay: pd.DataFrame | None = None,
        replay_name: str = "replay",
        speed: float = 1.0,
        exchange: Any = None,
        cache_dir: Path | None = None,
        data_cache_dir: Path | None = None,
        max_bars: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config, self.paper, self.folder = config, paper, paper.folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.cache_dir, self.max_bars, self._sleep = cache_dir, max_bars, sleep
        self._data_cache = data_cache_dir
        self.cash = paper.cash if paper.cash is not None else config.strategy.cash
        if replay is not None:
            config.check_data(len(replay), replay_name)
            step = pd.Series(replay.index[1:] - replay.index[:-1]).mode().min()
            self.bar = pd.Timedelta(step)
            source_id = {"kind": "replay", "file": replay_name, "sha256": _frame_hash(replay)}
        else:
            from lstm_backtrader.backtests.data.exchange_client import build_exchange
            from lstm_backtrader.backtests.data.validate import timeframe_delta

            d = config.data
            if d.source != "exchange":
                raise InputError(
                    f"[data] source is {d.source!r}: a live paper session polls an exchange "
                    "(source = 'exchange'); replay a file with --replay FILE"
                )
            exchange = build_exchange(d.exchange) if exchange is None else exchange
            self.bar = timeframe_delta(d.timeframe)
            source_id = {"kind": "exchange", "exchange": d.exchange, "symbol": d.symbol,
                         "timeframe": d.timeframe}  # fmt: skip
        self.replay_frame, self.speed, self.exchange = replay, speed, exchange
        self.session = self._open(source_id)
        self.journal = Journal(self.folder / "journal.jsonl")
        self.orders = OrderLog(self.folder / "orders.jsonl")
        self.saved_state = read_state(self.folder / "state.json")
        self.source: Any = None
        self.switches: Any = None  # LiveSwitches with [paper] retrain = "async"

    # --- opening ---------------------------------------------------------------------------
    def _open(self, source_id: dict[str, Any]) -> dict[str, Any]:
        identity = {"config": self.config.to_dict(), "cash": self.cash, "source": source_id}
        if self.paper.retrain != "sync":  # sessions of before async retraining resume as "sync"
            identity["retrain"] = self.paper.retrain
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        path = self.folder / "session.json"
        if path.exists():
            try:
                known = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                raise InputError(f"{path}: not valid JSON") from None
            if known.get("identity_sha256") != digest:
                raise InputError(
                    f"{path}: this session was started with another configuration or source; "
                    f"use another [paper] name or the original config"
                )
            return known
        doc = {"identity_sha256": digest, **identity, "bar": str(self.bar),
               "created_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")}  # fmt: skip
        atomic_write_text(path, json.dumps(doc, indent=1, sort_keys=True))
        return doc

    def _warm_up(self) -> None:
        """Journal the warm-up candles of a new session (one fsync)."""
        if len(self.journal):
            return
        train = self.config.walkforward.train_bars
        if self.replay_frame is not None:
            warm = self.replay_frame.iloc[:train]
        else:
            from lstm_backtrader.backtests.data.exchange import fetch_ohlcv

            d = self.config.data
            warm = fetch_ohlcv(self.exchange, d.symbol, d.timeframe, since=d.since,
                               cache_dir=self._data_cache, sleep=self._sleep)  # fmt: skip
        logger.info("%s: warm-up of %d candles journalled", self.folder, len(warm))
        self.journal.append(frame_candles(warm), warmup=True)

    def _trade_from(self) -> pd.Timestamp:
        train = self.config.walkforward.train_bars
        if self.replay_frame is not None:
            return pd.Timestamp(self.replay_frame.index[train])
        if len(self.journal) > train:
            return self.journal.candles[train].open_time
        return self.journal.candles[0].open_time + train * self.bar

    def request_stop(self) -> None:
        """Stop after the bar in progress (signal handlers call this)."""
        if self.source is not None:
            self.source.inner.request_stop()
        self._stop_early = True

    _stop_early = False

    # --- running ---------------------------------------------------------------------------
    def run(self) -> PaperResult:
        """Replay the journal, then run on new candles until stopped; returns the result."""
        from lstm_backtrader.backtests.data.validate import timeframe_label
        from lstm_backtrader.backtests.simulation import (
            default_cache_dir,
            make_walkforward,
            strategy_params,
        )
        from lstm_backtrader.models.metrics import periods_per_year

        self._warm_up()
        last = self.journal.candles[-1]
        if self.replay_frame is not None:
            inner: Any = ReplaySource(self.replay_frame, last.open_ms, self.speed)
        else:
            d, p = self.config.data, self.paper
            inner = ExchangeSource(self.exchange, d.symbol, d.timeframe, last,
                                   poll_interval=p.poll_interval, max_retries=p.max_retries,
                                   sleep=self._sleep)  # fmt: skip
        self.source = _SessionSource(self.journal, inner, self.max_bars)
        if self._stop_early:
            inner.request_stop()
        saved = self.saved_state
        trade_from = pd.Timestamp(saved["trade_from"]) if saved else self._trade_from()
        ppy = periods_per_year(timeframe_label(self.bar))
        costs, rules = strategy_params(self.config, trade_from, ppy)
        wf = make_walkforward(self.config, Path(self.cache_dir or default_cache_dir()))
        self.switches = None
        if self.paper.retrain == "async":
            from lstm_backtrader.backtests.paper.retrain import LiveSwitches

            warm = self.journal.warmup
            until = self.journal.candles[warm - 1].open_ms * 1_000_000 if warm else -1
            self.switches = LiveSwitches(self.folder, until)
            wf = wf.replace(switches=self.switches)
        recorder = _Recorder(self, trade_from)
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.broker.setcash(self.cash)
        cerebro.broker.set_coc(False)
        cerebro.broker.set_coo(False)
        feed = LiveCandleFeed(source=self.source, bar=self.bar, on_candle=recorder.on_candle)
        cerebro.adddata(feed, name=str(self.session["source"].get("symbol", "candles")))
        target, base = self.config.model.target, None
        if target == "return":  # the backtest's strategies: simulation.simulate
            params = {**costs, **rules}
        else:
            from lstm_backtrader.backtests import targets

            base = targets.strategy_class(target)
            params = {
                **costs,
                **targets.target_strategy_params(self.config, ppy),
                "walkforward": wf,
            }
        cerebro.addstrategy(paper_strategy(wf, recorder, base), **params)
        try:
            cerebro.run()
        finally:
            if self.switches is not None:
                self.switches.close()
        equity = recorder.frame()
        return PaperResult(self.folder, equity, list(self.orders.records), self.source.new,
                           recorder.n_start, recorder.health, trade_from)  # fmt: skip


def _frame_hash(frame: pd.DataFrame) -> str:
    from lstm_backtrader.models.features import hash_candles

    return hash_candles(frame)


def paper_strategy(wf: Any, recorder: _Recorder, base: type | None = None) -> type:
    """The backtest's LSTM strategy (the return target's, or ``base``: the direction or
    volatility target's), logging every order it places and every fill."""
    from lstm_backtrader.strategies.forecast import ForecastStrategy
    from lstm_backtrader.strategies.lstm import LSTMForecast

    class PaperStrategy(base or ForecastStrategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.placed: list[bt.Order] = []
            self.filled: list[tuple[Any, ...]] = []
            super().__init__()

        def make_forecast(self) -> Any:
            if base is None:
                self.fc = LSTMForecast(self.data, walkforward=wf)
                return self.fc
            line = super().make_forecast()  # LSTMForecast of its walkforward parameter
            self.fc = self.indicator
            return line

        def buy(self, *args: Any, **kwargs: Any) -> bt.Order | None:
            order = super().buy(*args, **kwargs)
            if order is not None:
                self.placed.append(order)
            return order

        def sell(self, *args: Any, **kwargs: Any) -> bt.Order | None:
            order = super().sell(*args, **kwargs)
            if order is not None:
                self.placed.append(order)
            return order

        def notify_order(self, order: bt.Order) -> None:
            if order.status in (order.Completed, order.Partial) and order.executed.exbits:
                bit = order.executed.exbits[-1]
                self.filled.append((bar_times(order.data, [bit.dt])[0],
                                    "buy" if order.isbuy() else "sell", abs(float(bit.size)),
                                    float(bit.price),
                                    float(bit.closedcomm) + float(bit.openedcomm)))  # fmt: skip
            super().notify_order(order)

        def prenext(self) -> None:
            super().prenext()
            recorder.commit(self)

        def next(self) -> None:
            super().next()
            recorder.commit(self)

    return PaperStrategy


class _Recorder:
    """Journals candles as they are delivered and commits every bar (see the module doc)."""

    def __init__(self, session: PaperSession, trade_from: pd.Timestamp) -> None:
        self.s = session
        self.n_start = len(session.journal)  # bars up to here are replayed
        self.delivered = 0
        self.trade_from = trade_from
        self.rows: list[tuple[Any, ...]] = []
        self.health: list[dict[str, Any]] = list((session.saved_state or {}).get("health", []))
        self.last_fold: float | None = None
        self.bh_base: float | None = None

    def on_candle(self, candle: Candle) -> None:
        if self.delivered >= len(self.s.journal):
            if self.s.switches is not None:  # a finished training switches at this candle
                self.s.switches.poll(candle.open_ms * 1_000_000)
            self.s.journal.append([candle])
            test_point("journal")
        self.delivered += 1

    def commit(self, strat: Any) -> None:
        i = len(strat.data) - 1
        new = i >= self.n_start
        bar = bar_time(strat.data)
        iso = bar.isoformat()
        records = [
            {"id": f"{iso}/o{k}", "kind": "placed", "bar": iso,
             "side": "buy" if o.isbuy() else "sell", "size": abs(float(o.size)),
             "type": o.getordername(), "price": None if o.price is None else float(o.price)}
            for k, o in enumerate(strat.placed)
        ] + [
            {"id": f"{iso}/f{k}", "kind": "fill", "bar": iso, "time": t.isoformat(), "side": side,
             "size": size, "price": price, "value": size * price, "commission": comm}
            for k, (t, side, size, price, comm) in enumerate(strat.filled)
        ]  # fmt: skip
        strat.placed.clear()
        strat.filled.clear()
        fold = float(strat.fc.fold[0])
        if new and self.last_fold is not None and fold != self.last_fold:
            test_point("fold")  # a fold's model was trained or loaded; nothing committed yet
        self.last_fold = fold
        self.s.orders.add(records)
        if new:
            test_point("orders")
            if any(r["kind"] == "placed" for r in records):
                test_point("placed")  # an order logged, its fill (next bar) not yet
        close = float(strat.data.close[0])
        if self.bh_base is None and bar >= self.trade_from:
            self.bh_base = close
        bh = self.s.cash if self.bh_base is None else self.s.cash * close / self.bh_base
        broker = strat.broker
        row = (bar, float(broker.getvalue()), float(broker.getcash()), float(strat.position.size),
               close, float(strat.fc.forecast[0]), fold, float(strat.fc.age[0]), bh)  # fmt: skip
        self.rows.append(row)
        state = {
            "bar_seq": i, "bar": iso, "value": row[1], "cash": row[2], "position": row[3],
            "open_orders": len(list(broker.get_orders_open())),
        }  # fmt: skip
        saved = self.s.saved_state
        if saved is not None and saved.get("bar_seq") == i:
            self._check(saved, state)
        if i < self.n_start - 1:
            return  # replaying: the files already hold this bar
        source = self.s.source
        self.health.extend(source.inner.health)
        source.inner.health.clear()
        now = pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")
        state.update(orders_logged=len(self.s.orders.records), health=self.health[-50:],
                     trade_from=self.trade_from.isoformat(), committed_at=now,
                     retrain=self.s.paper.retrain, training=self._training())  # fmt: skip
        equity = self.frame()
        atomic_write(self.s.folder / "equity.csv", lambda p: equity.to_csv(p))
        write_state(self.s.folder / "state.json", state)
        write_status(self.s, equity, state, strat.fc.folds_)
        if new:
            test_point("commit")
            if source.done():
                logger.info("%s: %d new bar(s): stopping", self.s.folder, source.new)

    def _training(self) -> list[int]:
        """Folds being trained in the worker (not switched to yet)."""
        return [] if self.s.switches is None else self.s.switches.pending

    def _check(self, saved: dict[str, Any], state: dict[str, Any]) -> None:
        for key in ("bar", "value", "cash", "position", "open_orders"):
            if saved.get(key) != state[key]:
                raise InputError(
                    f"{self.s.folder / 'state.json'}: {STATE_MISMATCH} it at bar {state['bar']} "
                    f"({key} {state[key]!r} != {saved.get(key)!r}): the journal, the fold cache "
                    "or the code changed since; start a new session (another [paper] name)"
                )
        logger.info("%s: replay matches state.json at bar %s", self.s.folder, state["bar"])

    def frame(self) -> pd.DataFrame:
        index = pd.DatetimeIndex([r[0] for r in self.rows], name="timestamp")
        return pd.DataFrame([r[1:] for r in self.rows], index=index, columns=list(EQUITY_COLUMNS))
