"""Where a paper session's candles come from: an exchange polled through ccxt, or a file replayed
as if live. Both hand out closed candles one at a time, in order
(:class:`~lstm_backtrader.strategies.livefeed.CandleSource`), after a given open time.

* :class:`ExchangeSource` polls the exchange through the data layer's
  :func:`~lstm_backtrader.backtests.data.exchange_download.download` (retries, backoff, the
  exchange's own clock: a candle whose close is after that clock is never kept). Each poll asks
  from the last delivered candle on, so a revision of that candle is seen: it is recorded as a
  data-health event, never delivered again. A poll that fails after its retries is an outage
  (logged, recorded); the next poll tries again, and what closed meanwhile is delivered bar by
  bar, in order.
* :class:`ReplaySource` releases a candle frame's bars one every ``bar / speed`` seconds.

Both stop handing out candles once :meth:`request_stop` was called (a signal, ``--max-bars``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pandas as pd

from lstm_backtrader.backtests.data.exchange_client import Redactor
from lstm_backtrader.backtests.data.exchange_download import download
from lstm_backtrader.backtests.data.times import fmt_ms
from lstm_backtrader.backtests.data.validate import timeframe_delta
from lstm_backtrader.strategies.livefeed import Candle

logger = logging.getLogger(__name__)

__all__ = ["ExchangeSource", "ReplaySource", "frame_candles"]


def frame_candles(frame: pd.DataFrame) -> list[Candle]:
    """A candle frame's rows as :class:`Candle` objects (open times in ms)."""
    opens = pd.DatetimeIndex(frame.index).as_unit("ms").asi8
    cols = frame[["open", "high", "low", "close", "volume"]].to_numpy("float64")
    return [Candle(int(t), *(float(x) for x in row)) for t, row in zip(opens, cols, strict=True)]


class _Stoppable:
    """The stop flag and the interruptible wait both sources share."""

    def __init__(self) -> None:
        self._stop = threading.Event()

    def request_stop(self) -> None:
        """Hand out no more candles (the bar in progress is finished by the session)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            self._stop.wait(seconds)


class ReplaySource(_Stoppable):
    """A candle frame replayed as if live: bars after ``after_ms`` close one every
    ``bar length / speed`` seconds (the first one at once), on a clock that starts when the
    first one is asked for (after the journal's replay); a bar loop that falls behind (a
    synchronous training) then gets the bars that have closed meanwhile at once, in order — as
    from an exchange after an outage.

    Parameters
    ----------
    candles
        The candles (a validated candle frame).
    after_ms
        Open time of the last candle already delivered (``None``: none).
    speed
        How many times faster than real time.
    """

    def __init__(self, candles: pd.DataFrame, after_ms: int | None, speed: float) -> None:
        super().__init__()
        items = frame_candles(candles)
        self._queue = deque(c for c in items if after_ms is None or c.open_ms > after_ms)
        bar = pd.Series(candles.index[1:] - candles.index[:-1]).mode().min()
        self.interval = float(pd.Timedelta(bar).total_seconds()) / float(speed)
        self._next_at: float | None = None  # the replayed clock starts with the first request
        self.health: list[dict[str, Any]] = []

    def next_candle(self) -> Candle | None:
        if self.stopping or not self._queue:
            return None
        if self._next_at is None:
            self._next_at = time.monotonic()
        self.wait(self._next_at - time.monotonic())
        if self.stopping:
            return None
        self._next_at += self.interval  # the replayed clock, not the loop's pace
        return self._queue.popleft()

    def finished(self) -> bool:
        return self.stopping or not self._queue


class ExchangeSource(_Stoppable):
    """Closed candles of ``symbol`` polled from a ccxt exchange (see the module docstring).

    Parameters
    ----------
    exchange
        A ccxt exchange object (built by
        :func:`~lstm_backtrader.backtests.data.exchange_client.build_exchange`).
    symbol, timeframe
        What to poll.
    last
        The last candle already delivered (the journal's last): polling starts there.
    poll_interval
        Seconds between two polls while no new candle has closed.
    max_retries, retry_backoff
        As for :func:`~lstm_backtrader.backtests.data.exchange.fetch_ohlcv`, per poll.
    sleep
        The wait between retries (tests pass a fake).
    """

    def __init__(
        self,
        exchange: Any,
        symbol: str,
        timeframe: str,
        last: Candle,
        *,
        poll_interval: float = 30.0,
        max_retries: int = 5,
        retry_backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.ex, self.symbol, self.timeframe = exchange, symbol, timeframe
        self.step_ms = int(timeframe_delta(timeframe).total_seconds() * 1000)
        self.last = last
        self.poll_interval = float(poll_interval)
        self.max_retries, self.retry_backoff, self._sleep = max_retries, retry_backoff, sleep
        self.label = f"{getattr(exchange, 'id', 'exchange')} {symbol} {timeframe}"
        self._redact = Redactor(exchange, None)
        self._buffer: deque[Candle] = deque()
        self._last_poll: float | None = None
        self.health: list[dict[str, Any]] = []
        self.polls = 0

    def _event(self, kind: str, at_ms: int, detail: str) -> None:
        event = {"kind": kind, "bar": fmt_ms(at_ms), "detail": detail,
                 "seen": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")}  # fmt: skip
        self.health.append(event)
        logger.warning("%s: %s at %s: %s", self.label, kind, event["bar"], detail)

    def next_candle(self) -> Candle | None:
        if self.stopping:
            return None
        if not self._buffer:
            if self._last_poll is not None:
                self.wait(self._last_poll + self.poll_interval - time.monotonic())
                if self.stopping:
                    return None
            self.poll()
        if not self._buffer:
            return None
        candle = self._buffer.popleft()
        self.last = candle
        return candle

    def finished(self) -> bool:
        return self.stopping

    def poll(self) -> int:
        """Ask the exchange once for what closed after the last delivered candle; returns how
        many new candles were queued."""
        self._last_poll = time.monotonic()
        self.polls += 1
        last_ms = self.last.open_ms
        dl = download(
            self.ex, self.symbol, self.timeframe, step_ms=self.step_ms, start_ms=last_ms,
            until_ms=None, first_new_ms=last_ms + self.step_ms, page=None, label=self.label,
            redact=self._redact, progress=None, max_retries=self.max_retries,
            retry_backoff=self.retry_backoff, sleep=self._sleep,
        )  # fmt: skip
        if dl.failure is not None and dl.frame.empty:
            reason = self._redact(f"{type(dl.failure).__name__}: {dl.failure}")
            self._event("outage", last_ms + self.step_ms, f"poll failed, retried later ({reason})")
            return 0
        got = frame_candles(dl.frame)
        new = [c for c in got if c.open_ms > last_ms]
        for c in got:
            if c.open_ms == last_ms and c.values() != self.last.values():
                self._event(
                    "revised", last_ms,
                    f"served again with other values {c.values()} (delivered {self.last.values()});"
                    " not delivered again",
                )  # fmt: skip
        expected = last_ms + self.step_ms
        for c in new:
            if c.open_ms > expected:
                n = (c.open_ms - expected) // self.step_ms
                self._event("missing", expected, f"{n} candle(s) not served by the exchange")
            expected = c.open_ms + self.step_ms
        if len(new) > 1:
            self._event("late", new[0].open_ms, f"{len(new)} closed candles at once: caught up "
                        "bar by bar")  # fmt: skip
        if dl.failure is not None:
            self._event("outage", expected, f"poll stopped early ({dl.failure}); rest later")
        self._buffer.extend(new)
        return len(new)
