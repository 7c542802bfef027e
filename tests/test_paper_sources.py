"""The paper session's candle sources (backtests/paper/sources.py) against the loopback fake
exchange through ccxt's real code, the test moving the exchange's clock: the still-forming candle
is never delivered, an outage is retried and caught up bar by bar, a revised candle is reported
and not delivered again; a whole live session equals the backtest over the bars it saw."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.backtests.paper.sources import ExchangeSource, ReplaySource, frame_candles
from tests.conftest import make_candles
from tests.fake_binance import make_exchange
from tests.fake_live import make_fake

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DAY = pd.Timedelta(days=1)
CANDLES = make_candles(100, seed=5).round(2)  # the fake serves 8 decimals


def bar(k: int) -> pd.Timestamp:
    return CANDLES.index[k]


def candle(k: int):  # noqa: ANN201 - a Candle
    return frame_candles(CANDLES.iloc[[k]])[0]


def source_after(ex: object, k: int) -> ExchangeSource:
    return ExchangeSource(ex, "BTC/USDT", "1d", candle(k), poll_interval=0.0, max_retries=2,
                          retry_backoff=0.0, sleep=lambda s: None)  # fmt: skip


def test_forming_candle_outage_catch_up_and_revision() -> None:
    fake = make_fake(CANDLES, bar(52) + pd.Timedelta(hours=10))  # bar 52 is forming
    try:
        src = source_after(make_exchange(fake), 50)
        got = src.next_candle()
        assert got == candle(51)  # exact values, parsed by ccxt from the fake's strings
        served = [int(r.params["startTime"]) for r in fake.kline_requests()]
        assert served == [int(bar(50).value // 1_000_000)]  # bars 50..52 asked, 52 forming
        assert src.next_candle() is None  # the forming candle never comes out
        assert src.health == []

        fake.add_fault("503", times=None)  # an outage while three candles close
        fake.set_now(bar(55) + pd.Timedelta(hours=10))
        assert src.next_candle() is None
        assert [h["kind"] for h in src.health] == ["outage"]
        assert "503" in src.health[0]["detail"] or "Unavailable" in src.health[0]["detail"]
        fake.clear_faults()
        caught_up = [src.next_candle() for _ in range(3)]
        assert caught_up == [candle(52), candle(53), candle(54)]  # in order, one per bar
        assert src.health[-1]["kind"] == "late" and src.next_candle() is None

        fake.revise(bar(54), close=float(CANDLES["close"].iloc[54]) * 1.01)
        fake.add_fault("429", times=1)  # retried within the poll (Retry-After honoured)
        fake.add_fault("empty", times=1)
        fake.set_now(bar(56) + pd.Timedelta(hours=10))
        assert src.next_candle() == candle(55)
        revised = [h for h in src.health if h["kind"] == "revised"]
        assert len(revised) == 1 and revised[0]["bar"].startswith(str(bar(54).date()))
        assert src.next_candle() is None  # the revised candle is not delivered again
    finally:
        fake.stop()


def test_replay_source_paces_bars_and_stops_on_request() -> None:
    src = ReplaySource(CANDLES, int(bar(95).value // 1_000_000), speed=86_400 / 0.05)
    assert src.next_candle() == candle(96)
    assert src.next_candle() == candle(97)  # waited ~0.05 s
    src.request_stop()
    assert src.next_candle() is None and src.finished()


def test_live_session_through_ccxt_equals_the_backtest_of_its_bars(tmp_path: Path) -> None:
    from lstm_backtrader.backtests.paper.config import load_paper_config
    from lstm_backtrader.backtests.paper.journal import Journal
    from lstm_backtrader.backtests.paper.session import PaperSession
    from lstm_backtrader.backtests.simulation import simulate
    from tests.test_paper_session import write_config

    config = write_config(tmp_path, "live")
    config.write_text(config.read_text() + "\n[data]\nsource = 'exchange'\n")
    cfg, paper = load_paper_config(config)
    paper = dataclasses.replace(paper, poll_interval=0.02)
    offset = pd.Timedelta(hours=10)  # a candle is always forming
    fake = make_fake(CANDLES, bar(60) + offset)  # 60 closed candles: the warm-up
    try:
        session = PaperSession(cfg, paper, exchange=make_exchange(fake),
                               cache_dir=tmp_path / "folds", data_cache_dir=tmp_path / "data",
                               max_bars=8, sleep=lambda s: None)  # fmt: skip
        fake.tick(int(DAY.value // 1_000_000), int((bar(70) + offset).value // 1_000_000), 0.15)
        result = session.run()
    finally:
        fake.stop()
    # the warm-up is what had closed when the session fetched it (the clock already ticks)
    warm = result.replayed_bars
    assert result.new_bars == 8 and 60 <= warm <= 62
    journal = Journal(result.folder / "journal.jsonl")
    seen = CANDLES.iloc[: warm + 8]
    assert journal.candles == frame_candles(seen)  # no forming candle, none twice
    sim = simulate(seen, cfg, cache_dir=tmp_path / "folds")
    paper_eq = result.equity[result.equity.index >= result.trade_from]
    np.testing.assert_array_equal(
        paper_eq["value"].to_numpy(), sim.records["LSTM"].equity.to_numpy()
    )
    assert "Data health" in (result.folder / "index.html").read_text()


def test_live_async_session_through_ccxt_switches_history_folds_at_once(tmp_path: Path) -> None:
    """retrain = "async" live: the folds that begin on warm-up bars (history) switch on their
    first bar; a fold beginning on a live bar trains in the worker; the backtest from the
    session's record equals it."""
    import json

    from lstm_backtrader.backtests.paper.config import load_paper_config
    from lstm_backtrader.backtests.paper.record import paper_inputs
    from lstm_backtrader.backtests.paper.session import PaperSession
    from lstm_backtrader.backtests.simulation import simulate
    from tests.test_paper_session import write_config

    config = write_config(tmp_path, "live", retrain="async")
    config.write_text(config.read_text() + "\n[data]\nsource = 'exchange'\n")
    cfg, paper = load_paper_config(config)
    paper = dataclasses.replace(paper, poll_interval=0.02)
    offset = pd.Timedelta(hours=10)
    fake = make_fake(CANDLES, bar(60) + offset)  # warm-up: 60 closed candles, folds 0 and 1
    try:
        session = PaperSession(cfg, paper, exchange=make_exchange(fake),
                               cache_dir=tmp_path / "folds", data_cache_dir=tmp_path / "data",
                               max_bars=20, sleep=lambda s: None)  # fmt: skip
        fake.tick(int(DAY.value // 1_000_000), int((bar(85) + offset).value // 1_000_000), 0.2)
        result = session.run()
    finally:
        fake.stop()
    records = [json.loads(line)["r"] for line in (result.folder / "switches.jsonl").open()]
    assert [(r["fold"], r["how"], r["t"] == r["first"]) for r in records[:2]] == [
        (0, "history", True), (1, "history", True)
    ]  # fmt: skip
    state = json.loads((result.folder / "state.json").read_text())
    assert len(records) + len(state["training"]) == 3  # fold 2 begins on a live bar (70)
    assert all(r["how"] == "async" and r["t"] > r["first"] for r in records[2:])
    inputs = paper_inputs(result.folder)
    sim = simulate(inputs.candles, inputs.config, cache_dir=tmp_path / "folds",
                   switches=inputs.switches)  # fmt: skip
    paper_eq = result.equity[result.equity.index >= result.trade_from]
    np.testing.assert_array_equal(
        paper_eq["value"].to_numpy(), sim.records["LSTM"].equity.to_numpy()
    )
