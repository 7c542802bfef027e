"""The trial cache: one strict-JSON file per finished trial, ``<cache_dir>/trials/<id>.json``.

A file holds the trial's result and the full cache key it was computed under
(:func:`~lstm_backtrader.backtests.sweep.keys.trial_cache_key`); a file with another key,
another schema or unreadable content is a miss, so the trial is recomputed.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lstm_backtrader.backtests.sweep.keys import TRIAL_SCHEMA

logger = logging.getLogger(__name__)

__all__ = ["plain_scalar", "read_cached_trial", "write_cached_trial"]


def _trial_path(cache_dir: str | Path, trial_id: str) -> Path:
    return Path(cache_dir) / "trials" / f"{trial_id}.json"


def plain_scalar(value: Any) -> Any:
    """A result value as strict JSON stores it: numpy scalars → Python, NaN and ±inf → ``None``.

    Parameters
    ----------
    value
        Any value of a trial result.

    Returns
    -------
    Any
        A finite ``float``, an ``int``, a ``bool``, ``None`` or ``value`` unchanged.
    """
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def read_cached_trial(cache_dir: str | Path, trial_id: str, key: str) -> dict[str, Any] | None:
    """The cached result of a trial, or ``None`` when absent, stale (key mismatch) or corrupt.

    Parameters
    ----------
    cache_dir
        Root of the cache (the file is in its ``trials`` folder).
    trial_id
        :func:`~lstm_backtrader.backtests.sweep.keys.trial_id_for` of the trial.
    key
        :func:`~lstm_backtrader.backtests.sweep.keys.trial_cache_key` the file must hold.

    Returns
    -------
    dict or None
        The result as :func:`write_cached_trial` stored it.
    """
    path = _trial_path(cache_dir, trial_id)
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("schema") != TRIAL_SCHEMA or doc.get("key") != key:
            logger.info("trial cache %s: stale (config or library versions changed)", path)
            return None
        result = doc["result"]
        if not isinstance(result, dict):
            raise TypeError("result is not a table")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        logger.warning("trial cache %s: unreadable (%s); recomputing", path, exc)
        return None
    return result


def write_cached_trial(
    cache_dir: str | Path, trial_id: str, key: str, result: Mapping[str, Any]
) -> Path:
    """Store a trial result atomically (strict JSON, non-finite floats as ``null``).

    Parameters
    ----------
    cache_dir
        Root of the cache (the file goes to its ``trials`` folder).
    trial_id
        :func:`~lstm_backtrader.backtests.sweep.keys.trial_id_for` of the trial.
    key
        Its :func:`~lstm_backtrader.backtests.sweep.keys.trial_cache_key`.
    result
        What :func:`~lstm_backtrader.backtests.sweep.runner.run_trial` returned.

    Returns
    -------
    Path
        The file written.
    """
    from lstm_backtrader.models.infra.fileio import atomic_write_text

    doc = {
        "schema": TRIAL_SCHEMA,
        "trial_id": trial_id,
        "key": key,
        "result": {k: plain_scalar(v) for k, v in result.items()},
    }
    text = json.dumps(doc, indent=1, sort_keys=True, allow_nan=False)
    return atomic_write_text(_trial_path(cache_dir, trial_id), text + "\n")
