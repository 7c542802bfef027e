"""Times of the data layer, in one place: :func:`parse_time` reads every date a user gives
(``--since``/``--until`` of every command, TOML ``[data] since/until``, sweep ``[[assets]]``)
with one-line errors naming the field and the accepted forms; the epoch-millisecond helpers
convert to and from the unit ccxt speaks (used by the exchange download to read its
``since``/``until`` arguments and to name times in messages).
"""

from __future__ import annotations

import logging
import numbers
from datetime import date, datetime

import pandas as pd

from lstm_backtrader.models.infra.errors import DataError, InputError

logger = logging.getLogger(__name__)

__all__ = ["ACCEPTED", "TimeLike", "fmt_ms", "ms_to_stamp", "parse_time", "stamp_to_ms", "to_ms"]

#: The forms :func:`parse_time` accepts, as error messages name them.
ACCEPTED = "a date like 2017-08-17 or a UTC time like 2017-08-17T12:00 (or with an offset, +02:00)"


def parse_time(value: object, field: str) -> pd.Timestamp:
    """A user-given date or time as a UTC timestamp (naive values are UTC).

    Parameters
    ----------
    value
        A string (``2017-08-17``, ``2017-08-17T12:00``, ``2017-08-17 12:00:00+02:00``), a
        date/datetime or a Timestamp.
    field
        What the value is (``"--since"``, ``"[data] until"``), named in the error.

    Raises
    ------
    InputError
        One line naming ``field``, the value and the accepted forms.
    """
    if isinstance(value, bool | numbers.Real) or value is None:
        raise InputError(f"{field} is {value!r}: use {ACCEPTED}")
    text = value.strip() if isinstance(value, str) else value
    if (isinstance(text, str) and not text) or text is pd.NaT:
        raise InputError(f"{field} is empty: use {ACCEPTED}")
    try:
        stamp = pd.Timestamp(text)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{field} is {value!r}, not a date: use {ACCEPTED}") from None
    if stamp is pd.NaT:
        raise InputError(f"{field} is {value!r}, not a date: use {ACCEPTED}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


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
        stamp = parse_time(value, name)
    except InputError as exc:
        raise DataError(str(exc)) from None
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
