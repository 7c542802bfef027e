"""The candles file the benchmark and sanity scripts read, shared by them.

``DEFAULT_CSV`` is the Binance BTC/USDT daily candles beside the repo (``../shared/data``);
:func:`csv_missing` prints the scripts' one error line when the file is absent (the caller
then exits 2); :func:`read_candles` reads it with a UTC ``timestamp`` index, float64 columns.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_CSV = DATA_DIR / "btc_usdt_1d_binance.csv"


def csv_missing(path: Path, what: str = "candles") -> bool:
    """True (after the error line on stderr) when ``path`` is not a file."""
    if path.is_file():
        return False
    print(
        f"error: {path} not found; put the Binance BTC/USDT {what} there "
        "(shared/data beside the repo) or pass --csv PATH",
        file=sys.stderr,
    )
    return True


def read_candles(path: Path) -> Any:
    """The candles CSV as a float64 DataFrame indexed by its UTC ``timestamp`` column."""
    import pandas as pd

    df = pd.read_csv(path)
    df.index = pd.DatetimeIndex(pd.to_datetime(df.pop("timestamp"), utc=True), name="timestamp")
    return df.astype("float64")
