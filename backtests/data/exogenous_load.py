"""Loading the ``[[data.features]]`` series of a run and joining them onto its candles.

Each entry is read by the loader its candles would use (:func:`~lstm_backtrader.backtests.
data.files.load_ohlcv` for a file, :func:`~lstm_backtrader.backtests.data.exchange.fetch_ohlcv`
for an exchange, :func:`~lstm_backtrader.backtests.data.funding.fetch_funding_rates` for
funding rates: validated, and downloads cached), then joined by
:func:`~lstm_backtrader.backtests.data.exogenous.join_exogenous`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from lstm_backtrader.backtests.data.exogenous import ExogenousSeries, join_exogenous
from lstm_backtrader.backtests.data.validate import timeframe_delta
from lstm_backtrader.models.infra.errors import InputError

if TYPE_CHECKING:
    from lstm_backtrader.backtests.config import FeatureSeriesConfig

logger = logging.getLogger(__name__)

__all__ = ["add_exogenous", "load_series"]

#: Exogenous downloads start this many of their bars before the main data (feature warm-up).
WARMUP_BARS = 4


def load_series(
    entry: FeatureSeriesConfig, k: int, since: pd.Timestamp | None, until: str | None
) -> ExogenousSeries:
    """Entry ``k`` (from 1) of ``[[data.features]]`` read and validated.

    ``since`` is the main data's first bar time (downloads start a few bars earlier), ``until``
    the ``[data] until`` date (exclusive).
    """
    where = f"[[data.features]] #{k} ({entry.name})"
    try:
        if entry.source == "file":
            from lstm_backtrader.backtests.data.files import load_ohlcv

            return ExogenousSeries(
                entry.name, "candles", load_ohlcv(entry.path), entry.max_age_bars
            )  # type: ignore[arg-type]
        start = None
        if since is not None:
            step = timeframe_delta(entry.timeframe) if entry.source == "exchange" else None
            start = since - WARMUP_BARS * (step or pd.Timedelta(hours=8))
        if entry.source == "exchange":
            from lstm_backtrader.backtests.data.exchange import fetch_ohlcv

            frame = fetch_ohlcv(
                entry.exchange, entry.symbol, entry.timeframe, since=start, until=until
            )  # type: ignore[arg-type]
            return ExogenousSeries(entry.name, "candles", frame, entry.max_age_bars)
        from lstm_backtrader.backtests.data.funding import fetch_funding_rates

        frame = fetch_funding_rates(entry.exchange, entry.symbol, since=start, until=until)  # type: ignore[arg-type]
        return ExogenousSeries(entry.name, "funding", frame, entry.max_age_bars)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def add_exogenous(
    candles: pd.DataFrame,
    entries: Sequence[FeatureSeriesConfig],
    *,
    until: str | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``candles`` with the joined columns of every entry, and the join's data quality.

    Returns
    -------
    (pandas.DataFrame, dict)
        The joined frame (the main columns unchanged) and ``{"exogenous": [report, ...]}``
        (empty dict without entries).
    """
    if not entries:
        return candles, {}
    series = [load_series(entry, k, candles.index[0], until) for k, entry in enumerate(entries, 1)]
    joined, reports = join_exogenous(candles, series)
    added = [c for c in joined.columns if c not in candles.columns]
    logger.info("joined %d exogenous column(s): %s", len(added), ", ".join(added))
    return joined, {"exogenous": [r.to_dict() for r in reports], "exogenous_columns": added}
