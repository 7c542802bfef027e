"""Shared fixtures: the real BTC data beside the repo, and small synthetic candle frames."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
BTC_1D = SHARED_DATA / "btc_usdt_1d_binance.csv"
BTC_2H = SHARED_DATA / "btc_usdt_2h_binance.csv"


def make_candles(
    n: int = 300,
    *,
    seed: int = 0,
    freq: str = "1D",
    start: str = "2020-01-01",
    price: float = 10_000.0,
) -> pd.DataFrame:
    """A valid synthetic candle frame (geometric random walk) with ``n`` bars."""
    rng = np.random.default_rng(seed)
    rets = rng.normal(0.0005, 0.02, n)
    close = price * np.exp(np.cumsum(rets))
    open_ = np.concatenate([[price], close[:-1]])
    spread = np.abs(rng.normal(0, 0.01, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.lognormal(7, 0.5, n)
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


def splice_candles(base: pd.DataFrame, t: int, seed: int = 99) -> pd.DataFrame:
    """``base`` with every bar after position t replaced by other valid candles."""
    from lstm_backtrader.backtests.data.validate import validate_ohlcv

    tail = make_candles(len(base) - t - 1, seed=seed, price=float(base["close"].iloc[t]) * 1.25)
    tail.index = base.index[t + 1 :]
    return validate_ohlcv(pd.concat([base.iloc[: t + 1], tail]), source="spliced")


@pytest.fixture
def candles() -> pd.DataFrame:
    """300 synthetic daily candles."""
    return make_candles()


@pytest.fixture(scope="session")
def btc_1d_path() -> Path:
    """Path of the real Binance BTC/USDT daily candles in ../shared/data (skips when absent)."""
    if not BTC_1D.exists():
        pytest.skip(f"real BTC data not found at {BTC_1D} (only present beside the dev repo)")
    return BTC_1D


@pytest.fixture(scope="session")
def btc_1d_raw(btc_1d_path: Path) -> pd.DataFrame:
    """The real daily candles as a candle frame, read with plain pandas (no project loader)."""
    df = pd.read_csv(btc_1d_path)
    df.index = pd.DatetimeIndex(pd.to_datetime(df.pop("timestamp"), utc=True), name="timestamp")
    return df.astype("float64")


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach the network: any socket to a non-loopback host fails loudly."""
    from tests.fake_binance import guard_loopback

    guard_loopback(monkeypatch)


@pytest.fixture
def fake() -> Iterator[Any]:
    """A running loopback fake Binance (``tests.fake_binance.FakeBinance``)."""
    from tests.fake_binance import FakeBinance

    with FakeBinance() as server:
        yield server


@pytest.fixture
def ex(fake: Any) -> Any:
    """A real ``ccxt.binance`` pointed at :func:`fake`."""
    from tests.fake_binance import make_exchange

    return make_exchange(fake)


@pytest.fixture(autouse=True, scope="session")
def _private_default_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Commands run without ``--cache-dir`` use a session folder, never the user's cache."""
    old = os.environ.get("LSTM_BT_FOLD_CACHE")
    os.environ["LSTM_BT_FOLD_CACHE"] = str(tmp_path_factory.mktemp("default-cache"))
    yield
    if old is None:
        os.environ.pop("LSTM_BT_FOLD_CACHE", None)
    else:
        os.environ["LSTM_BT_FOLD_CACHE"] = old
