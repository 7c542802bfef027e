"""``lstm-bt paper``: a paper trading session (``docs/paper.md``).

The session runs until stopped (Ctrl-C, SIGTERM: the bar in progress is finished and committed
first), until ``--max-bars`` new bars, or until a ``--replay`` file is exhausted. Running the same
command again resumes it.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from lstm_backtrader.backtests.cli.common import CacheOpt, out
from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["paper"]


def paper(
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML run configuration with [paper].")
    ] = None,
    replay: Annotated[
        Path | None, typer.Option(help="Replay this candle file as if live (no exchange).")
    ] = None,
    speed: Annotated[float, typer.Option(help="Replay speed, times real time.")] = 1.0,
    max_bars: Annotated[int | None, typer.Option(help="Stop after this many new bars.")] = None,
    cache_dir: CacheOpt = None,
) -> None:
    """Paper trading: the backtest's strategy on live closed candles; resumes where it stopped."""
    if not speed > 0:
        raise InputError(f"--speed is {speed}: use a positive factor (3600 = an hour a second)")
    if max_bars is not None and max_bars < 1:
        raise InputError(f"--max-bars is {max_bars}: use at least 1")
    from lstm_backtrader.backtests.paper.config import load_paper_config

    cfg, paper_cfg = load_paper_config(config)
    frame = None
    if replay is not None:
        from lstm_backtrader.backtests.data.files import load_ohlcv

        frame = load_ohlcv(replay)
    from lstm_backtrader.backtests.paper.session import PaperSession

    session = PaperSession(
        cfg,
        paper_cfg,
        replay=frame,
        replay_name=replay.name if replay is not None else "replay",
        speed=speed,
        cache_dir=cache_dir,
        max_bars=max_bars,
    )

    def on_signal(signum: int, _frame: Any) -> None:
        logger.warning("%s: stopping after the current bar", signal.Signals(signum).name)
        session.request_stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = session.run()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    last, when = result.equity.iloc[-1], result.equity.index[-1].isoformat()
    out.print(
        f"paper session {result.folder}: {result.replayed_bars} bar(s) from the journal (warm-up "
        f"and earlier runs), {result.new_bars} new; last bar {when}, value "
        f"{last['value']:.2f}, position {last['position']:.6g}"
    )
    out.print(f"status: {result.folder / 'index.html'}")
