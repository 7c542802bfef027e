"""The ``[paper]`` section of a run configuration: :class:`PaperConfig`, read beside the
backtest's own :class:`~lstm_backtrader.backtests.config.RunConfig` by :func:`load_paper_config`
(the same TOML file; ``lstm-bt backtest`` never sees ``[paper]``)."""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from lstm_backtrader.backtests.config import RunConfig, load_config_tables
from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["PaperConfig", "load_paper_config"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class PaperConfig:
    """Settings of a paper session (``[paper]``)."""

    name: str = "session"  # the session folder's name under state_dir
    state_dir: str = "paper"  # where session folders go
    poll_interval: float = 30.0  # seconds between polls while no new candle has closed
    cash: float | None = None  # starting cash; None = [strategy] cash
    max_retries: int = 5  # tries of one request before a poll counts as an outage
    retrain: str = "async"  # "async": train new folds in another process; "sync": at their bar

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InputError(
                f"[paper] name is {self.name!r}: use letters, digits, '.', '_' or '-' "
                "(a folder name, at most 64 characters)"
            )
        if not self.state_dir:
            raise InputError("[paper] state_dir is empty: give a folder")
        if not (math.isfinite(self.poll_interval) and self.poll_interval >= 0):
            raise InputError(f"[paper] poll_interval is {self.poll_interval}: use seconds >= 0")
        if self.cash is not None and not (math.isfinite(self.cash) and self.cash > 0):
            raise InputError(f"[paper] cash is {self.cash}: use a positive amount")
        if self.max_retries < 1:
            raise InputError(f"[paper] max_retries is {self.max_retries}: use at least 1")
        if self.retrain not in ("async", "sync"):
            raise InputError(f"[paper] retrain is {self.retrain!r}: use 'async' or 'sync'")

    @property
    def folder(self) -> Path:
        """The session folder, ``state_dir/name``."""
        return Path(self.state_dir) / self.name


_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "state_dir": (str,),
    "poll_interval": (int, float),
    "cash": (int, float),
    "max_retries": (int,),
    "retrain": (str,),
}


def paper_section(values: Any, source: str) -> PaperConfig:
    """A :class:`PaperConfig` from the ``[paper]`` table, every name and type checked."""
    if not isinstance(values, dict):
        raise InputError(f"{source}: [paper] must be a table of fields")
    known = [f.name for f in fields(PaperConfig)]
    built: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise InputError(f"{source}: unknown field [paper] {key}; known: {', '.join(known)}")
        kinds = _TYPES[key]
        if isinstance(value, bool) or not isinstance(value, kinds):
            want = (
                "a string" if kinds == (str,) else "an integer" if kinds == (int,) else "a number"
            )
            raise InputError(f"{source}: [paper] {key} is {value!r}: expected {want}")
        built[key] = float(value) if float in kinds else value
    try:
        return PaperConfig(**built)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def load_paper_config(path: str | Path | None) -> tuple[RunConfig, PaperConfig]:
    """The run configuration and the ``[paper]`` section of a TOML file (``None``: defaults)."""
    run, tables = load_config_tables(path)
    return run, paper_section(tables.get("paper", {}), str(path))
