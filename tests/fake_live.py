"""The loopback fake exchange with what a live session meets beyond
:class:`tests.fake_binance.FakeBinance`'s faults: a candle revised after it was served, and a
clock that a background thread moves forward (a live session blocks its caller)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd

from tests.fake_binance import FakeBinance

_COLS = {"open": 1, "high": 2, "low": 3, "close": 4, "volume": 5}


class FakeLive(FakeBinance):
    """:class:`FakeBinance` whose served candles can be revised and whose clock can tick."""

    def revise(
        self, when: pd.Timestamp, symbol: str = "BTCUSDT", interval: str = "1d", **values: float
    ) -> None:
        """Serve the candle opening at ``when`` with other values from now on."""
        rows = self._rows[(symbol, interval)]
        at = np.flatnonzero(rows[:, 0].astype("int64") == int(when.value // 1_000_000))
        assert len(at) == 1, f"no candle opens at {when}"
        with self._lock:
            for name, value in values.items():
                rows[at[0], _COLS[name]] = value

    def tick(self, step_ms: int, until_ms: int, every: float) -> threading.Thread:
        """Move the clock ``step_ms`` forward every ``every`` seconds until ``until_ms``
        (in a daemon thread, which is returned)."""

        def run() -> None:
            while self.now_ms < until_ms and not self._stopping.wait(every):
                self.now_ms = min(until_ms, self.now_ms + step_ms)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


def make_fake(candles: pd.DataFrame, now: pd.Timestamp, **kwargs: Any) -> FakeLive:
    """A started :class:`FakeLive` serving ``candles`` as BTCUSDT 1d, its clock at ``now``."""
    fake = FakeLive({("BTCUSDT", "1d"): candles}, now_ms=int(now.value // 1_000_000),
                    forming=False, **kwargs)  # fmt: skip
    return fake.start()
