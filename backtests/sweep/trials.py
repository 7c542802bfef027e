"""The work a sweep plans: its trials (assets × parameter combinations × seeds), each a
complete, validated run configuration, and every asset's candles, loaded once per sweep."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lstm_backtrader.backtests.config import RunConfig
from lstm_backtrader.backtests.sweep.spec import VARIABLE_SECTIONS, Asset, SweepConfig, freeze
from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["LoadedAsset", "Trial", "expand_trials", "load_assets"]


def _show(value: Any) -> str:
    """A parameter value as the table and the page print it (TOML-like: ``[4, 4]``, ``true``)."""
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Trial:
    """One walk-forward backtest of the sweep (before its data is loaded).

    Attributes
    ----------
    index
        Position in the sweep (assets, then parameter combinations, then seeds).
    asset
        Name of the :class:`~lstm_backtrader.backtests.sweep.spec.Asset` it runs on.
    params
        The effective value of every varied key, ``(section.field, value)`` (lists as tuples).
    seed
        ``model.seed``.
    config
        The complete run configuration (its ``data`` is the asset's).
    """

    index: int
    asset: str
    params: tuple[tuple[str, Any], ...]
    seed: int
    config: RunConfig

    @property
    def params_label(self) -> str:
        """``model.units=[4], strategy.entry=0.0`` (empty when nothing varies)."""
        return ", ".join(f"{k}={_show(v)}" for k, v in self.params)

    @property
    def group(self) -> str:
        """The trials sharing this label differ only by seed."""
        return f"{self.asset} | {self.params_label}" if self.params else self.asset


def _effective(config: RunConfig, key: str) -> Any:
    section, name = key.split(".", 1)
    return getattr(getattr(config, section), name)


def expand_trials(sweep: SweepConfig) -> list[Trial]:
    """Every trial of the sweep: assets × parameter combinations × seeds, in that order.

    Each trial's :class:`RunConfig` is the base with the asset's data and the combination's
    overrides applied through :meth:`RunConfig.with_overrides` (so every value is type-checked
    and validated); an invalid combination is an :class:`InputError` naming it.

    Parameters
    ----------
    sweep
        From :func:`~lstm_backtrader.backtests.sweep.spec.load_sweep`.

    Returns
    -------
    list of Trial
        Numbered from 0 in that order.

    Raises
    ------
    InputError
        A combination the run configuration rejects (file, ``[grid]`` or ``[[trials]]``,
        the combination and the reason on one line).
    """
    out: list[Trial] = []
    keys = sweep.param_keys
    where = "[grid]" if sweep.mode == "grid" else "[[trials]]"
    for asset in sweep.assets:
        base = RunConfig(
            data=asset.data,
            model=sweep.base.model,
            walkforward=sweep.base.walkforward,
            strategy=sweep.base.strategy,
        )
        for combo in sweep.combinations():
            overrides: dict[str, dict[str, Any]] = {s: {} for s in VARIABLE_SECTIONS}
            for key, value in combo:
                section, name = key.split(".", 1)
                overrides[section][name] = list(value) if isinstance(value, tuple) else value
            for seed in sweep.seeds:
                overrides["model"]["seed"] = seed
                try:
                    cfg = base.with_overrides(overrides)
                except InputError as exc:
                    msg = str(exc).removeprefix("command line: ")
                    label = ", ".join(f"{k}={_show(v)}" for k, v in combo) or "the base"
                    raise InputError(f"{sweep.path}: {where} {label}: {msg}") from None
                params = tuple((k, freeze(_effective(cfg, k))) for k in keys)
                out.append(Trial(len(out), asset.name, params, seed, cfg))
    return out


@dataclass(frozen=True)
class LoadedAsset:
    """An asset with its data, loaded once for all the trials that run on it.

    Attributes
    ----------
    asset
        The asset as the sweep file names it.
    candles
        Its candle frame.
    source
        Where the candles came from (:func:`lstm_backtrader.backtests.simulation.load_candles`).
    data_hash
        :func:`lstm_backtrader.models.features.hash_candles` of the candles: part of every
        trial id and cache key.
    """

    asset: Asset
    candles: pd.DataFrame
    source: dict[str, Any]
    data_hash: str


def load_assets(sweep: SweepConfig) -> dict[str, LoadedAsset]:
    """Load and hash every asset of the sweep, keyed by asset name (in sweep order).

    Parameters
    ----------
    sweep
        From :func:`~lstm_backtrader.backtests.sweep.spec.load_sweep`.

    Returns
    -------
    dict of str to LoadedAsset

    Raises
    ------
    InputError
        An asset whose data cannot be loaded (the sweep file and the asset name it).
    """
    from lstm_backtrader.backtests.simulation import load_candles
    from lstm_backtrader.models.features import hash_candles

    out: dict[str, LoadedAsset] = {}
    for asset in sweep.assets:
        try:
            candles, source = load_candles(asset.data)
        except InputError as exc:
            raise InputError(f"{sweep.path}: asset {asset.name!r}: {exc}") from None
        out[asset.name] = LoadedAsset(asset, candles, source, hash_candles(candles))
    return out
