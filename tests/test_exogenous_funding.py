"""Funding-rate history through ccxt's real binance code against the loopback fake
(/fapi/v1/exchangeInfo, /fapi/v1/fundingRate): paged, faults retried, cached, joined."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.backtests.data.exogenous import ExogenousSeries, join_exogenous
from lstm_backtrader.backtests.data.funding import fetch_funding_rates, funding_cache_path
from lstm_backtrader.models.infra.errors import DataError
from tests.conftest import make_candles
from tests.fake_binance import make_exchange

SYMBOL = "BTC/USDT:USDT"


def _fetch(fake: Any, cache: Path, **kw: Any) -> pd.DataFrame:
    return fetch_funding_rates(make_exchange(fake, futures=True), SYMBOL, cache_dir=cache,
                               sleep=lambda s: None, **kw)  # fmt: skip


def test_pages_through_the_history_and_caches_it(fake: Any, tmp_path: Path) -> None:
    got = _fetch(fake, tmp_path, since="2020-01-01", limit=100)
    expected = fake.funding[fake.funding.index.as_unit("ms").asi8 <= fake.now_ms]
    np.testing.assert_array_equal(got["funding_rate"].to_numpy(), expected["funding_rate"])
    assert (got.index == expected.index.as_unit("us")).all()  # the ms jitter kept
    first = len(fake.funding_requests())
    assert first >= 4  # 360 events in pages of 100, then the empty page at the end
    assert funding_cache_path("binance", SYMBOL, tmp_path).exists()
    again = _fetch(fake, tmp_path, since="2020-01-01", limit=100)
    pd.testing.assert_frame_equal(again, got)
    newer = fake.funding_requests()[first:]
    assert len(newer) == 1 and int(newer[0].params["startTime"]) > expected.index[-1].value // 10**6


@pytest.mark.parametrize("kind", ["empty", "429", "malformed", "500"])
def test_faulty_pages_are_retried(fake: Any, tmp_path: Path, kind: str) -> None:
    fake.add_fault(kind, path="/fapi/v1/fundingRate", after=1, times=2)
    got = _fetch(fake, tmp_path, since="2020-01-01", limit=100)
    assert len(got) == 360
    assert sum(r.fault == kind for r in fake.funding_requests()) == 2


def test_endless_empty_pages_give_up_with_one_line(fake: Any, tmp_path: Path) -> None:
    fake.add_fault("empty", path="/fapi/v1/fundingRate", after=1, times=None)
    with pytest.raises(DataError, match=r"funding: gave up after 3 tries at .*empty page"):
        _fetch(fake, tmp_path, since="2020-01-01", limit=100, max_retries=3)
    assert len(pd.read_parquet(funding_cache_path("binance", SYMBOL, tmp_path))) == 100  # kept


def test_unknown_symbol_and_range(fake: Any, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not listed"):
        fetch_funding_rates(make_exchange(fake, futures=True), "ETH/USDT:USDT", cache_dir=tmp_path)
    last = fake.funding.index[-1]
    with pytest.raises(DataError, match="no funding events"):
        _fetch(fake, tmp_path, since=last + pd.Timedelta("30D"))


def test_downloaded_funding_joins_onto_daily_candles(fake: Any, tmp_path: Path) -> None:
    rates = _fetch(fake, tmp_path, since="2020-01-01")
    start = rates.index[0].floor("1D") + pd.Timedelta("2D")
    main = make_candles(60, start=str(start.date()))
    joined, (report,) = join_exogenous(main, [ExogenousSeries("fund", "funding", rates)])
    col = joined["fund_funding_rate"]
    for t in (0, 17, 59):
        close = main.index[t] + pd.Timedelta("1D")
        known = rates[rates.index <= close]  # an event stamped a few ms after 00:00: not yet
        assert col.iloc[t] == known["funding_rate"].iloc[-1]
        assert known.index[-1] <= close
    assert report.stale == 0 and report.no_coverage == 0


def test_config_entries_download_and_cache_through_the_data_layer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """[[data.features]] exchange + funding entries, through the loader the run uses, against
    the fake (ccxt objects built by the project's builder are pointed at it)."""
    from lstm_backtrader.backtests.config import FeatureSeriesConfig
    from lstm_backtrader.backtests.data import exchange as exchange_module
    from lstm_backtrader.backtests.data import funding as funding_module
    from lstm_backtrader.backtests.data.exogenous_load import add_exogenous
    from tests.fake_binance import FakeBinance, generate_candles

    eth = generate_candles(400, start="2024-01-01", seed=7, price=2000.0)
    series = {("BTCUSDT", "1d"): generate_candles(400, start="2024-01-01", seed=1),
              ("ETHUSDT", "1d"): eth}  # fmt: skip
    monkeypatch.setenv("LSTM_BT_CACHE_DIR", str(tmp_path))
    with FakeBinance(series) as fake:
        monkeypatch.setattr(exchange_module, "build_exchange", lambda *a: make_exchange(fake))
        monkeypatch.setattr(
            funding_module, "build_exchange", lambda *a: make_exchange(fake, futures=True)
        )
        main = make_candles(100, start="2024-10-20")
        entries = [
            FeatureSeriesConfig(name="eth", source="exchange", symbol="ETH/USDT"),
            FeatureSeriesConfig(name="fund", source="funding", symbol=SYMBOL),
        ]
        joined, info = add_exogenous(main, entries)
        assert info["exogenous_columns"] == [
            "eth_log_return", "eth_hl_range", "eth_log_volume_change", "fund_funding_rate"
        ]  # fmt: skip
        assert (tmp_path / "binance" / "ETH-USDT_1d.parquet").exists()
        assert funding_cache_path("binance", SYMBOL, tmp_path).exists()
        # the downloads started a few bars before the main data: no NaN at its start
        assert joined[info["exogenous_columns"]].iloc[0].notna().all()
        d = eth.index.get_loc(main.index[5])  # the ETH bar of the same day closes with it
        assert joined["eth_hl_range"].iloc[5] == pytest.approx(np.log(eth.high / eth.low).iloc[d])
        assert fake.funding_requests() and fake.kline_requests()


def test_binance_by_id_loads_only_the_futures_markets_of_the_symbol() -> None:
    from lstm_backtrader.backtests.data.exchange_client import build_exchange
    from lstm_backtrader.backtests.data.funding import funding_market_options

    for symbol, kind in (("BTC/USDT:USDT", "linear"), ("BTC/USD:BTC", "inverse")):
        ex = build_exchange("binance", funding_market_options("binance", symbol, None))
        assert ex.options["fetchMarkets"]["types"] == [kind]  # no request made here
    given = {"options": {"fetchMarkets": {"types": ["spot"]}}}
    assert funding_market_options("binance", "BTC/USDT:USDT", given) == given
