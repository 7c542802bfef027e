"""What a paper session recorded, as the inputs of a backtest that reproduces it.

``lstm-bt backtest --from-paper paper/<name>`` runs :func:`paper_inputs`: the session's own
configuration (``session.json``, with the session's starting cash), the candles the strategy saw
(``journal.jsonl``) and, for ``retrain = "async"``, when each fold's model took over
(``switches.jsonl``). The backtest over them makes the session's forecasts, orders and equity
bar for bar.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lstm_backtrader.backtests.config import RunConfig
from lstm_backtrader.backtests.data.cache import INDEX_UNIT
from lstm_backtrader.backtests.paper.journal import Journal, read_json_doc
from lstm_backtrader.backtests.paper.retrain import read_switches
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.schedule import ModelSwitches
from lstm_backtrader.strategies.livefeed import Candle

logger = logging.getLogger(__name__)

__all__ = ["PaperInputs", "journal_frame", "paper_inputs"]


@dataclass(frozen=True)
class PaperInputs:
    """A paper session's configuration, candles and model switches (see the module doc)."""

    config: RunConfig
    candles: pd.DataFrame
    switches: ModelSwitches | None  # None: every fold on its first bar ("sync")
    source: dict[str, Any]  # for the run's manifest


def journal_frame(candles: list[Candle]) -> pd.DataFrame:
    """Journalled candles as a candle frame (UTC open times, OHLCV columns)."""
    index = pd.DatetimeIndex(
        [pd.Timestamp(c.open_ms, unit="ms", tz="UTC") for c in candles], name="timestamp"
    ).as_unit(INDEX_UNIT)  # the loaders' and the live feed's unit: the same fold-cache keys
    values = [c.values() for c in candles]
    return pd.DataFrame(values, index=index, columns=["open", "high", "low", "close", "volume"])


def paper_inputs(folder: str | Path) -> PaperInputs:
    """The inputs of the backtest reproducing the session in ``folder``.

    Raises
    ------
    InputError
        ``folder`` is not a session folder, or one of its files is damaged (named).
    """
    folder = Path(folder)
    path = folder / "session.json"
    if not path.is_file():
        raise InputError(f"{folder}: not a paper session folder (no session.json)")
    session = read_json_doc(path)
    try:
        config = RunConfig.from_dict(session["config"], source=str(path))
        cash = float(session["cash"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: corrupt ({' '.join(str(exc).split())[:100]})") from None
    config = dataclasses.replace(config, strategy=dataclasses.replace(config.strategy, cash=cash))
    journal = Journal(folder / "journal.jsonl")
    if not len(journal):
        raise InputError(f"{folder / 'journal.jsonl'}: no candle journalled yet")
    switches = read_switches(folder) if session.get("retrain") == "async" else None
    source = {
        "source": "paper session",
        "folder": str(folder),
        "candles": len(journal),
        "retrain": session.get("retrain", "sync"),
        "switches": None if switches is None else len(switches.times),
    }
    return PaperInputs(config, journal_frame(journal.candles), switches, source)
