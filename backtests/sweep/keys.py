"""Identities: the trial id, the trial cache key and the sweep id, all hashes of canonical JSON.

A trial is identified by its run configuration without ``[data]`` and the hash of its
candles (so a data file may move without recomputing anything); its cache key adds the trial
schema, the fold-cache version and the installed library versions.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lstm_backtrader.backtests.config import RunConfig
from lstm_backtrader.backtests.sweep.spec import SweepConfig

logger = logging.getLogger(__name__)

__all__ = ["TRIAL_SCHEMA", "config_doc", "sweep_id_for", "trial_cache_key", "trial_id_for"]

#: Layout of the trial cache files. Part of every trial cache key: bump on incompatible
#: changes, and when the strategies, costs or statistics change.
TRIAL_SCHEMA = "lstm-bt.trial/2"


def config_doc(config: RunConfig) -> dict[str, Any]:
    """The trial's canonical config without ``[data]`` (the data hash identifies the data,
    wherever the file lives).

    Parameters
    ----------
    config
        A trial's (or the sweep base's) run configuration.

    Returns
    -------
    dict
        :meth:`RunConfig.to_dict` without its ``data`` section.
    """
    doc = config.to_dict()
    doc.pop("data")
    return doc


def trial_id_for(config: RunConfig, data_hash: str) -> str:
    """Short hash (12 hex) of the canonical trial config (without ``[data]``) and the data.

    Parameters
    ----------
    config
        The trial's run configuration.
    data_hash
        :func:`lstm_backtrader.models.features.hash_candles` of its candles.

    Returns
    -------
    str
        12 lowercase hex digits; the name of the trial's cache file.
    """
    text = json.dumps({"config": config_doc(config), "data": data_hash}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _library_versions() -> dict[str, str]:
    from lstm_backtrader.backtests.run import package_versions

    return package_versions()


def trial_cache_key(config: RunConfig, data_hash: str) -> str:
    """Full SHA-256 a cached trial must match: config, data and installed library versions
    (a library upgrade recomputes the trial, as the fold cache does).

    Parameters
    ----------
    config
        The trial's run configuration.
    data_hash
        :func:`lstm_backtrader.models.features.hash_candles` of its candles.

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    from lstm_backtrader.models.foldstore import CACHE_VERSION

    doc = {
        "schema": TRIAL_SCHEMA,
        "folds": CACHE_VERSION,  # training changed => its trials are recomputed too
        "config": config_doc(config),
        "data": data_hash,
        "libraries": _library_versions(),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def sweep_id_for(sweep: SweepConfig, trial_ids: Sequence[str]) -> str:
    """``<sweep file stem>-<8 hex of the trial ids>``: the same sweep gets the same folder.

    Parameters
    ----------
    sweep
        The sweep (its file name gives the readable part).
    trial_ids
        Every trial id, in trial order.

    Returns
    -------
    str
        The stem with anything but letters, digits, ``-`` and ``_`` replaced by ``-``.
    """
    digest = hashlib.sha256("\n".join(trial_ids).encode()).hexdigest()[:8]
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in Path(sweep.path).stem)
    return f"{stem or 'sweep'}-{digest}"
