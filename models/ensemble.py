"""Seed ensembles: the members' seeds and the combination of their forecasts.

A config with ``ensemble = k`` runs k member walk-forwards, each a config with ``ensemble = 1``
and the seed :func:`member_seed` (member 0 keeps the config's seed, so its folds are those of
a single-network run, and are shared with it in the fold cache). Members are independent
chains: when folds warm start, member i warm starts from member i of the previous fold.
The forecast per bar is the members' mean, the spread their standard deviation combined with
each member's own Monte-Carlo dropout spread by the law of total variance
(:func:`combine`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

#: First spawn-key word of the members' SeedSequences.
ENSEMBLE_DOMAIN = 0x454E

#: Member seeds stay below this (the network adds small offsets to its seed per layer).
SEED_LIMIT = 2**31 - 2**16


def member_seed(seed: int, member: int) -> int:
    """The seed of ensemble member ``member``: ``seed`` itself for member 0, otherwise the
    first 32-bit word of ``numpy.random.SeedSequence(seed, spawn_key=(ENSEMBLE_DOMAIN,
    member))`` modulo :data:`SEED_LIMIT` (independent streams, reproducible anywhere)."""
    if member == 0:
        return int(seed)
    seq = np.random.SeedSequence(int(seed), spawn_key=(ENSEMBLE_DOMAIN, int(member)))
    return int(seq.generate_state(1, dtype=np.uint32)[0]) % SEED_LIMIT


def member_params(params: dict[str, Any], member: int) -> dict[str, Any]:
    """A forecaster's parameters (``get_params()``) for one member: its seed, one network."""
    return {**params, "seed": member_seed(int(params["seed"]), member), "ensemble": 1}


def combine(
    forecasts: list[np.ndarray], spreads: list[np.ndarray | None]
) -> tuple[np.ndarray, np.ndarray]:
    """Members' mean and spread per bar.

    The spread is ``sqrt(mean_i(spread_i**2) + var_i(forecast_i))`` (``ddof=0``; a member
    without a spread contributes 0 within), i.e. the standard deviation of the members'
    forecasts, widened by their own Monte-Carlo dropout spreads when they have one.
    """
    f = np.vstack([np.asarray(x, dtype="float64") for x in forecasts])
    within = np.vstack(
        [
            np.zeros(f.shape[1]) if s is None else np.asarray(s, dtype="float64") ** 2
            for s in spreads
        ]
    )
    mean = f.mean(axis=0)
    return mean, np.sqrt(within.mean(axis=0) + f.var(axis=0))


def combine_folds(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The ensemble's fold table: member 0's rows (boundaries, model hash), with the times
    summed over members, the validation loss averaged, and ``cached`` when every
    member's fold came from the cache."""
    out = tables[0].copy()
    if len(out) == 0:
        return out
    for col in ("seconds", "fit_seconds", "predict_seconds"):
        out[col] = sum(t[col].to_numpy(dtype="float64") for t in tables)
    out["val_loss"] = np.mean([t["val_loss"].to_numpy(dtype="float64") for t in tables], axis=0)
    out["cached"] = np.logical_and.reduce([t["cached"].to_numpy(dtype=bool) for t in tables])
    return out
