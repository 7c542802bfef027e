"""Epoch-millisecond times (UTC), the unit ccxt speaks, to and from pandas timestamps.

Used by the exchange download (:mod:`lstm_backtrader.backtests.data.exchange`) to read its
``since``/``until`` arguments and to name times in messages.
"""

from __future__ import annotations

import logging
import numbers
from datetime import date, datetime

import pandas as pd

from lstm_backtrader.models.infra.errors import DataError

logger = logging.getLogger(__name__)

__all__ = ["TimeLike", "fmt_ms", "ms_to_stamp", "stamp_to_ms", "to_ms"]

#: What ``since``/``until`` accept: a date string, date, datetime, Timestamp or epoch ms.
TimeLike = str | date | datetime | pd.Timestamp | int | float | None


def to_ms(value: TimeLike, *, name: str) -> int | None:
    """Epoch milliseconds (UTC) of a date string, datetime, Timestamp or epoch-ms number.

    Parameters
    ----------
    value
        The time; naive dates and datetimes are read as UTC, numbers as epoch milliseconds.
    name
        The argument's name, for the error message.

    Returns
    -------
    int or None
        Epoch milliseconds, or ``None`` when ``value`` is ``None``.

    Raises
    ------
    DataError
        ``value`` is a bool, NaT or not a time.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise DataError(f"{name}={value!r} is not a time: use a date like 2021-01-31 or epoch ms")
    if isinstance(value, numbers.Real) and not isinstance(value, pd.Timestamp):
        return int(value)
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise DataError(
            f"{name}={value!r} is not a time: use a date like 2021-01-31, a timestamp or epoch ms"
        ) from None
    if stamp is pd.NaT:
        raise DataError(f"{name} is empty (NaT): use a date like 2021-01-31")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp_to_ms(stamp)


def stamp_to_ms(stamp: pd.Timestamp) -> int:
    """Epoch milliseconds of a timestamp (whatever its unit: ``.value`` is always in ns)."""
    return int(pd.Timestamp(stamp).as_unit("ns").value // 1_000_000)


def ms_to_stamp(ms: int) -> pd.Timestamp:
    """The UTC timestamp of epoch milliseconds ``ms``."""
    return pd.Timestamp(ms, unit="ms", tz="UTC")


def fmt_ms(ms: int) -> str:
    """``ms`` as ``YYYY-MM-DD``, or ``YYYY-MM-DD HH:MM`` when it is not midnight (UTC)."""
    stamp = ms_to_stamp(ms)
    if stamp.hour == stamp.minute == stamp.second == 0:
        return stamp.strftime("%Y-%m-%d")
    return stamp.strftime("%Y-%m-%d %H:%M")
