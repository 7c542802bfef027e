"""Parameter sweeps behind ``lstm-bt sweep``: many walk-forward backtests, one honest table.

A sweep file (TOML, see ``configs/sweep.toml``) names a base run configuration, a grid (or an
explicit list) of overrides of ``[model]``, ``[walkforward]`` and ``[strategy]`` fields, the
model seeds and optionally several assets. Every combination is a **trial**: a full
walk-forward backtest (:func:`lstm_backtrader.backtests.run.simulate`) scored with the same
statistics as a run folder (:func:`lstm_backtrader.backtests.report.stats.strategy_row`,
:func:`~lstm_backtrader.backtests.report.stats. sharpe_significance`,
:func:`lstm_backtrader.backtests.run.forecast_diagnostics`).

The results land in one table ranked by Sharpe ratio, where each trial's Deflated Sharpe Ratio
is computed with the **true number of trials** ``N`` of the sweep and the variance ``V`` of the
trials' per-bar Sharpe ratios (Bailey & López de Prado 2014)::

    DSR = PSR(SR₀),  SR₀ = √V · ((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)))

and the spread over seeds of each group of trials that differ only by seed (mean ± std of
Sharpe, CAGR and the forecast RMSE ratio vs persistence, as Qlib reports).

Trials are independent: they run through :func:`lstm_backtrader.models.infra.executor.make_executor`
(serial, local processes or Dask) as the module-level :func:`run_trial` applied to a picklable
:class:`TrialTask`; only plain dicts come back. A finished trial is cached as
``<cache_dir>/trials/<trial_id>.json`` (keyed on its config, the data hash and the installed
library versions), so a rerun only computes the missing trials; each trial also shares the
fold-model cache (``cache_dir``) with ``lstm-bt backtest``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import platform
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstm_backtrader.backtests.config import (
    DataConfig,
    RunConfig,
    StrategyConfig,
    WalkForwardSpec,
    load_config,
)
from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

__all__ = [
    "CSV_COLUMNS",
    "Asset",
    "SweepConfig",
    "SweepResult",
    "Trial",
    "TrialTask",
    "expand_trials",
    "load_sweep",
    "run_sweep",
    "run_trial",
    "seed_spread",
    "sweep_id_for",
    "trial_id_for",
]

#: Layout of the trial cache files and of ``sweep.json``; bump on incompatible changes.
#: Part of every trial cache key: bump when the strategies, costs or statistics change.
TRIAL_SCHEMA = "lstm-bt.trial/2"
SWEEP_SCHEMA = "lstm-bt.sweep/1"

#: Top-level keys a sweep file may hold.
SWEEP_KEYS: tuple[str, ...] = (
    *("title", "base", "seeds", "mode", "grid", "trials", "assets"),
    *("data", "model", "walkforward", "strategy"),
)
#: Sections a grid / list key may vary (``data`` varies through ``[[assets]]``).
VARIABLE_SECTIONS = ("model", "walkforward", "strategy")

#: Columns of ``sweep.csv`` before and after the varied-parameter columns, in order.
CSV_COLUMNS: tuple[str, ...] = (
    "rank",
    "trial_id",
    "asset",
    # <one column per varied parameter, named section.field>
    "seed",
    "sharpe",
    "psr",
    "dsr",
    "cagr",
    "max_drawdown",
    "rmse_ratio",
    "direction_acc",
    "always_up_rate",
    "bh_sharpe",
    "beats_bh",
    "sortino",
    "volatility",
    "total_return",
    "calmar",
    "n_trades",
    "win_rate",
    "exposure",
    "fees_paid",
    "final_equity",
    "rmse",
    "baseline_rmse",
    "dm_p_value",
    "direction_p_value",
    "ic",
    "sharpe_per_bar",
    "n_returns",
    "skew",
    "kurtosis",
    "n_trials",
    "var_trials_sr",
    "expected_max_sharpe",
    "expected_max_sharpe_annualised",
    "periods_per_year",
    "bh_cagr",
    "oos_start",
    "oos_end",
    "oos_bars",
    "folds",
    "group",
    "params",
    "cached",
    "seconds",
)
_PARAMS_AFTER = "asset"  # the varied-parameter columns follow this one

#: What :func:`seed_spread` summarises: CSV column → label.
SPREAD_METRICS: tuple[tuple[str, str], ...] = (
    ("sharpe", "Sharpe"),
    ("cagr", "CAGR"),
    ("rmse_ratio", "RMSE ratio vs persistence"),
)


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Asset:
    """One data set the trials run on: a display name and a ``[data]`` configuration."""

    name: str
    data: DataConfig


@dataclass(frozen=True)
class SweepConfig:
    """A parsed sweep file.

    Attributes
    ----------
    path
        The sweep file (errors and the page name it).
    title
        Page heading.
    base
        The run configuration every trial starts from (``base`` file + inline sections).
    seeds
        ``model.seed`` values; every parameter combination runs once per seed.
    mode
        ``'grid'`` (cartesian product of :attr:`grid`) or ``'list'`` (:attr:`trials`).
    grid
        ``(section.field, values)`` pairs, in file order.
    trials
        Explicit override sets (``mode = 'list'``), each ``(section.field, value)`` pairs.
    assets
        The data sets; each trial runs on every asset.
    raw
        The sweep file as parsed (for the page and ``sweep.json``).
    """

    path: str
    title: str
    base: RunConfig
    seeds: tuple[int, ...]
    mode: str = "grid"
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    trials: tuple[tuple[tuple[str, Any], ...], ...] = ()
    assets: tuple[Asset, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def param_keys(self) -> tuple[str, ...]:
        """The ``section.field`` keys the sweep varies (file order, no duplicates)."""
        if self.mode == "grid":
            return tuple(k for k, _ in self.grid)
        seen: dict[str, None] = {}
        for overrides in self.trials:
            for key, _ in overrides:
                seen.setdefault(key, None)
        return tuple(seen)

    def combinations(self) -> list[tuple[tuple[str, Any], ...]]:
        """The parameter override sets, before seeds and assets multiply them."""
        if self.mode == "list":
            return list(self.trials)
        keys = [k for k, _ in self.grid]
        return [
            tuple(zip(keys, combo, strict=True))
            for combo in itertools.product(*(values for _, values in self.grid))
        ]


@dataclass(frozen=True)
class Trial:
    """One walk-forward backtest of the sweep (before its data is loaded).

    Attributes
    ----------
    index
        Position in the sweep (assets, then parameter combinations, then seeds).
    asset
        Name of the :class:`Asset` it runs on.
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


@dataclass(frozen=True)
class TrialTask:
    """What a worker needs to run one trial: picklable, nothing Keras or backtrader inside.

    Attributes
    ----------
    trial_id
        :func:`trial_id_for` of the config and the data.
    key
        Full cache key (config, data hash, library versions); stored in the cache file.
    config
        The trial's run configuration.
    candles
        The asset's candle frame.
    cache_dir
        Fold-model cache root (``''``: no cache, neither folds nor trial result).
    """

    trial_id: str
    key: str
    config: RunConfig
    candles: pd.DataFrame
    cache_dir: str = ""


def _show(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"{path}: sweep file not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None


def _flatten_overrides(table: Any, where: str) -> list[tuple[str, Any]]:
    """``{"model.units": v}`` or ``{"model": {"units": v}}`` → ``[("model.units", v)]``."""
    if not isinstance(table, dict):
        raise InputError(f"{where} must be a table of section.field = value")
    out: list[tuple[str, Any]] = []
    for key, value in table.items():
        if isinstance(value, dict) and "." not in key:
            out.extend((f"{key}.{sub}", v) for sub, v in value.items())
        else:
            out.append((key, value))
    return out


def _check_key(key: str, where: str) -> tuple[str, str]:
    """``section.field`` → ``(section, field)``, naming ``where`` on any problem."""
    section, dot, name = key.partition(".")
    if not dot or not name or "." in name:
        raise InputError(f"{where} key {key!r}: write it as section.field, e.g. 'model.units'")
    if section == "data":
        raise InputError(f"{where} key {key!r}: vary the data with [[assets]] tables instead")
    kinds = {
        "model": ForecasterConfig,
        "walkforward": WalkForwardSpec,
        "strategy": StrategyConfig,
    }
    if section not in kinds:
        raise InputError(
            f"{where} key {key!r}: unknown section {section!r}; known: "
            + ", ".join(VARIABLE_SECTIONS)
        )
    known = sorted(f.name for f in fields(kinds[section]))
    if name not in known:
        raise InputError(
            f"{where} key {key!r}: unknown field [{section}] {name}; known: {', '.join(known)}"
        )
    if key == "model.seed":
        raise InputError(f"{where} key 'model.seed': list the seeds in 'seeds = [...]' instead")
    return section, name


def _resolve(path_text: str, root: Path) -> str:
    p = Path(path_text).expanduser()
    return str(p if p.is_absolute() else root / p)


def _asset_name(data: DataConfig) -> str:
    if data.source == "sample":
        return f"sample {data.sample}"
    if data.source == "file":
        return Path(str(data.path)).name
    return f"{data.exchange} {data.symbol} {data.timeframe}"


def _parse_assets(raw: Any, path: Path, base: RunConfig) -> tuple[Asset, ...]:
    if raw is None:
        return (Asset(_asset_name(base.data), base.data),)
    if not isinstance(raw, list) or not raw:
        raise InputError(f"{path}: 'assets' must be [[assets]] tables (one or more)")
    assets: list[Asset] = []
    for i, table in enumerate(raw, start=1):
        where = f"{path}: [[assets]] #{i}"
        if not isinstance(table, dict):
            raise InputError(f"{where} must be a table")
        table = dict(table)
        name = table.pop("name", None)
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise InputError(f"{where} name must be a non-empty string")
        if "source" not in table:
            if "path" in table:
                table["source"] = "file"
            elif {"exchange", "symbol"} & set(table):
                table["source"] = "exchange"
            else:
                table["source"] = "sample"
        if isinstance(table.get("path"), str):
            table["path"] = _resolve(table["path"], path.parent)
        data = RunConfig.from_dict({"data": table}, source=where).data
        assets.append(Asset(name.strip() if name else _asset_name(data), data))
    names = [a.name for a in assets]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise InputError(f"{path}: two [[assets]] are named {dup!r}; give each a unique name")
    return tuple(assets)


def _parse_seeds(raw: Any, path: Path, base: RunConfig) -> tuple[int, ...]:
    if raw is None:
        return (base.model.seed,)
    if (
        not isinstance(raw, list)
        or not raw
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in raw)
    ):
        raise InputError(f"{path}: seeds is {raw!r}: use a non-empty list of integers")
    if len(set(raw)) != len(raw):
        raise InputError(f"{path}: seeds {raw!r} repeat a value")
    return tuple(raw)


def _freeze(value: Any) -> Any:
    """Lists (TOML arrays) → tuples, so values hash and compare."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate a sweep file (see ``configs/sweep.toml`` for the format).

    Parameters
    ----------
    path
        The TOML sweep file. ``base`` and asset ``path`` entries are relative to its folder.

    Returns
    -------
    SweepConfig

    Raises
    ------
    InputError
        One line naming the file and the key: unknown key or field, empty grid list, a value
        of the wrong type, duplicate seeds or asset names, a missing base file.
    """
    p = Path(path)
    doc = _read_toml(p)
    unknown = [k for k in doc if k not in SWEEP_KEYS]
    if unknown:
        raise InputError(f"{p}: unknown key {unknown[0]!r}; known: {', '.join(SWEEP_KEYS)}")

    base_ref = doc.get("base")
    if base_ref is not None and not isinstance(base_ref, str):
        raise InputError(f"{p}: base must be the path of a run config (a string)")
    try:
        base = load_config(_resolve(base_ref, p.parent) if base_ref else None)
    except InputError as exc:
        raise InputError(f"{p}: base = {base_ref!r}: {exc}") from None
    inline = {s: doc[s] for s in ("data", "model", "walkforward", "strategy") if s in doc}
    if inline:
        merged = base.to_dict()
        for section, values in inline.items():
            if not isinstance(values, dict):
                raise InputError(f"{p}: [{section}] must be a table of fields")
            values = dict(values)
            if section == "data" and isinstance(values.get("path"), str):
                values["path"] = _resolve(values["path"], p.parent)
            merged[section].update(values)
        base = RunConfig.from_dict(merged, source=str(p))

    mode = doc.get("mode", "grid")
    if mode not in ("grid", "list"):
        raise InputError(f"{p}: mode is {mode!r}: use 'grid' or 'list'")
    grid: list[tuple[str, tuple[Any, ...]]] = []
    trials: list[tuple[tuple[str, Any], ...]] = []
    if mode == "grid":
        if "trials" in doc:
            raise InputError(f"{p}: [[trials]] needs mode = 'list' (mode is 'grid')")
        for key, values in _flatten_overrides(doc.get("grid", {}), f"{p}: [grid]"):
            _check_key(key, f"{p}: [grid]")
            if not isinstance(values, list):
                raise InputError(f"{p}: [grid] {key} must be a list of values, got {values!r}")
            if not values:
                raise InputError(f"{p}: [grid] {key} is an empty list: give at least one value")
            frozen = tuple(_freeze(v) for v in values)
            if len(set(map(repr, frozen))) != len(frozen):
                raise InputError(f"{p}: [grid] {key} repeats a value: {values!r}")
            grid.append((key, frozen))
    else:
        if "grid" in doc:
            raise InputError(f"{p}: [grid] needs mode = 'grid' (mode is 'list')")
        raw_trials = doc.get("trials")
        if not isinstance(raw_trials, list) or not raw_trials:
            raise InputError(f"{p}: mode = 'list' needs one or more [[trials]] tables")
        for i, table in enumerate(raw_trials, start=1):
            where = f"{p}: [[trials]] #{i}"
            pairs = _flatten_overrides(table, where)
            for key, _ in pairs:
                _check_key(key, where)
            trials.append(tuple((k, _freeze(v)) for k, v in pairs))

    title = doc.get("title", f"Sweep {p.stem}")
    if not isinstance(title, str):
        raise InputError(f"{p}: title must be a string")
    return SweepConfig(
        path=str(p),
        title=title,
        base=base,
        seeds=_parse_seeds(doc.get("seeds"), p, base),
        mode=mode,
        grid=tuple(grid),
        trials=tuple(trials),
        assets=_parse_assets(doc.get("assets"), p, base),
        raw=doc,
    )


def _effective(config: RunConfig, key: str) -> Any:
    section, name = key.split(".", 1)
    return getattr(getattr(config, section), name)


def expand_trials(sweep: SweepConfig) -> list[Trial]:
    """Every trial of the sweep: assets × parameter combinations × seeds, in that order.

    Each trial's :class:`RunConfig` is the base with the asset's data and the combination's
    overrides applied through :meth:`RunConfig.with_overrides` (so every value is type-checked
    and validated); an invalid combination is an :class:`InputError` naming it.
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
                params = tuple((k, _freeze(_effective(cfg, k))) for k in keys)
                out.append(Trial(len(out), asset.name, params, seed, cfg))
    return out


# --------------------------------------------------------------------------- identities


def _config_doc(config: RunConfig) -> dict[str, Any]:
    """The trial's canonical config without ``[data]`` (the data hash identifies the data,
    wherever the file lives)."""
    doc = config.to_dict()
    doc.pop("data")
    return doc


def trial_id_for(config: RunConfig, data_hash: str) -> str:
    """Short hash (12 hex) of the canonical trial config (without ``[data]``) and the data."""
    text = json.dumps({"config": _config_doc(config), "data": data_hash}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _library_versions() -> dict[str, str]:
    from lstm_backtrader.backtests.run import package_versions

    return package_versions()


def trial_cache_key(config: RunConfig, data_hash: str) -> str:
    """Full SHA-256 a cached trial must match: config, data and installed library versions
    (a library upgrade recomputes the trial, as the fold cache does)."""
    from lstm_backtrader.models.walkforward import CACHE_VERSION

    doc = {
        "schema": TRIAL_SCHEMA,
        "folds": CACHE_VERSION,  # training changed => its trials are recomputed too
        "config": _config_doc(config),
        "data": data_hash,
        "libraries": _library_versions(),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def sweep_id_for(sweep: SweepConfig, trial_ids: Sequence[str]) -> str:
    """``<sweep file stem>-<8 hex of the trial ids>``: the same sweep gets the same folder."""
    digest = hashlib.sha256("\n".join(trial_ids).encode()).hexdigest()[:8]
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in Path(sweep.path).stem)
    return f"{stem or 'sweep'}-{digest}"


# --------------------------------------------------------------------------- one trial


def _trial_path(cache_dir: str | Path, trial_id: str) -> Path:
    return Path(cache_dir) / "trials" / f"{trial_id}.json"


def _finite(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def read_cached_trial(cache_dir: str | Path, trial_id: str, key: str) -> dict[str, Any] | None:
    """The cached result of a trial, or ``None`` when absent, stale (key mismatch) or corrupt."""
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
    """Store a trial result atomically (strict JSON, non-finite floats as ``null``)."""
    from lstm_backtrader.models.infra.fileio import atomic_write_text

    doc = {
        "schema": TRIAL_SCHEMA,
        "trial_id": trial_id,
        "key": key,
        "result": {k: _finite(v) for k, v in result.items()},
    }
    text = json.dumps(doc, indent=1, sort_keys=True, allow_nan=False)
    return atomic_write_text(_trial_path(cache_dir, trial_id), text + "\n")


def run_trial(task: TrialTask) -> dict[str, Any]:
    """Run one trial: walk-forward forecasts, the LSTM strategy and buy-and-hold, scored.

    Module-level so process and Dask executors can pickle it. Returns plain floats, ints and
    strings (per-bar Sharpe moments included, so the sweep can deflate every trial with the
    final ``N`` and ``V`` without the return series). The result is also written to the
    trial cache when ``task.cache_dir`` is set (a killed sweep resumes from it).
    """
    from lstm_backtrader.backtests.data.validate import describe_ohlcv
    from lstm_backtrader.backtests.report.stats import sharpe_significance, strategy_row
    from lstm_backtrader.backtests.run import (
        BASELINE_NAMES,
        MODEL_NAME,
        default_cache_dir,
        forecast_diagnostics,
        simulate,
    )
    from lstm_backtrader.models.metrics import periods_per_year

    start = time.perf_counter()
    # no folder given (a remote Dask worker): this machine's own default fold cache
    cache = Path(task.cache_dir) if task.cache_dir else default_cache_dir()
    sim = simulate(task.candles, task.config, cache_dir=cache)
    ppy = periods_per_year(describe_ohlcv(task.candles).timeframe)
    lstm, bh = sim.records[MODEL_NAME], sim.records[BASELINE_NAMES[0]]
    row, bh_row = strategy_row(lstm, ppy), strategy_row(bh, ppy)
    sig = sharpe_significance(lstm, ppy)  # N = 1 here: the sweep deflates with the true N
    fm = forecast_diagnostics(sim)
    fc = fm.to_dict() if fm is not None else {}
    directional = fc.get("directional") or {}
    dm = fc.get("dm_vs_baseline") or {}
    ic = fc.get("ic") or {}
    folds = sim.folds
    result: dict[str, Any] = {
        "sharpe": row["sharpe"],
        "psr": sig.psr,
        "cagr": row["cagr"],
        "max_drawdown": row["max_drawdown"],
        "rmse_ratio": fc.get("rmse_ratio"),
        "direction_acc": directional.get("accuracy"),
        "always_up_rate": directional.get("always_up_rate"),
        "bh_sharpe": bh_row["sharpe"],
        "bh_cagr": bh_row["cagr"],
        "sortino": row["sortino"],
        "volatility": row["volatility"],
        "total_return": row["total_return"],
        "calmar": row["calmar"],
        "n_trades": row["n_trades"],
        "win_rate": row["win_rate"],
        "exposure": row["exposure"],
        "fees_paid": row["fees_paid"],
        "final_equity": row["final_equity"],
        "rmse": fc.get("rmse"),
        "baseline_rmse": fc.get("baseline_rmse"),
        "dm_p_value": dm.get("p_value"),
        "direction_p_value": directional.get("p_value"),
        "ic": ic.get("ic"),
        "sharpe_per_bar": sig.sharpe_per_bar,
        "n_returns": sig.n,
        "skew": sig.skew,
        "kurtosis": sig.kurtosis,
        "periods_per_year": ppy,
        "oos_start": sim.oos_start.isoformat(),
        "oos_end": lstm.equity.index[-1].isoformat(),
        "oos_bars": len(lstm.equity),
        "folds": len(folds),
        "seconds": round(time.perf_counter() - start, 3),
    }
    result = {k: _finite(v) for k, v in result.items()}
    if task.cache_dir:
        try:
            write_cached_trial(task.cache_dir, task.trial_id, task.key, result)
        except OSError as exc:  # the client stores the result anyway
            logger.warning("trial %s: cannot write the trial cache (%s)", task.trial_id, exc)
    return result


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class _LoadedAsset:
    asset: Asset
    candles: pd.DataFrame
    source: dict[str, Any]
    data_hash: str


def _load_assets(sweep: SweepConfig) -> dict[str, _LoadedAsset]:
    from lstm_backtrader.backtests.run import load_candles
    from lstm_backtrader.models.features import hash_candles

    out: dict[str, _LoadedAsset] = {}
    for asset in sweep.assets:
        try:
            candles, source = load_candles(asset.data)
        except InputError as exc:
            raise InputError(f"{sweep.path}: asset {asset.name!r}: {exc}") from None
        out[asset.name] = _LoadedAsset(asset, candles, source, hash_candles(candles))
    return out


def _csv_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return json.dumps(list(value))
    return value


def _table(
    trials: Sequence[Trial],
    ids: Sequence[str],
    results: Sequence[Mapping[str, Any]],
    cached: Sequence[bool],
    param_keys: Sequence[str],
) -> pd.DataFrame:
    """The ranked trial table: DSR with N = number of trials and V = variance of their
    per-bar Sharpe ratios (finite ones, ddof = 1, as
    :func:`lstm_backtrader.backtests.report.stats.trial_sharpe_variance`)."""
    from lstm_backtrader.models.metrics import dsr_from_moments, expected_max_sharpe

    rows = []
    for trial, tid, res, hit in zip(trials, ids, results, cached, strict=True):
        row: dict[str, Any] = {"trial_id": tid, "asset": trial.asset}
        row.update({k: _csv_value(v) for k, v in trial.params})
        row["seed"] = trial.seed
        row.update({k: (np.nan if v is None else v) for k, v in res.items()})
        row.update(group=trial.group, params=trial.params_label, cached=bool(hit))
        if hit:
            row["seconds"] = 0.0
        rows.append(row)
    df = pd.DataFrame(rows)
    text = ("rank", "trial_id", "asset", "group", "params", "cached", "oos_start", "oos_end")
    numeric = [c for c in CSV_COLUMNS if c in df and c not in (*text, "beats_bh")]
    for col in numeric:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    for col in ("seed", "n_trades", "n_returns", "oos_bars", "folds"):
        df[col] = df[col].astype("int64")

    n_trials = len(df)
    srs = df["sharpe_per_bar"].to_numpy(dtype="float64")
    finite = srs[np.isfinite(srs)]
    var = float(np.var(finite, ddof=1)) if len(finite) >= 2 else 0.0
    sr0 = expected_max_sharpe(n_trials, var)
    df["n_trials"] = n_trials
    df["var_trials_sr"] = var
    df["expected_max_sharpe"] = sr0
    df["expected_max_sharpe_annualised"] = sr0 * np.sqrt(df["periods_per_year"])
    df["dsr"] = [
        dsr_from_moments(sr, n, sk, ku, n_trials, var) if math.isfinite(sr) else math.nan
        for sr, n, sk, ku in zip(
            df["sharpe_per_bar"], df["n_returns"], df["skew"], df["kurtosis"], strict=True
        )
    ]
    df["beats_bh"] = df["sharpe"] > df["bh_sharpe"]

    df = df.sort_values("sharpe", ascending=False, na_position="last", kind="stable")
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    pos = CSV_COLUMNS.index(_PARAMS_AFTER) + 1
    cols = [*CSV_COLUMNS[:pos], *param_keys, *CSV_COLUMNS[pos:]]
    return df[cols].reset_index(drop=True)


def seed_spread(table: pd.DataFrame, param_keys: Sequence[str] = ()) -> pd.DataFrame:
    """Mean ± std (pandas, ddof = 1) across seeds of Sharpe, CAGR and RMSE ratio for every
    group of trials differing only by seed; sorted by mean Sharpe (NaN last).

    Columns: ``group``, ``asset``, the varied keys, ``params``, ``n_seeds``, ``seeds``, then
    ``<metric>_mean`` and ``<metric>_std`` for each of :data:`SPREAD_METRICS`.
    """
    grouped = table.groupby("group", sort=False)
    first = grouped[["asset", *param_keys, "params"]].first()
    out = first.copy()
    out["n_seeds"] = grouped["seed"].count()
    out["seeds"] = grouped["seed"].agg(lambda s: " ".join(str(v) for v in sorted(s)))
    for col, _ in SPREAD_METRICS:
        out[f"{col}_mean"] = grouped[col].mean()
        out[f"{col}_std"] = grouped[col].std()
    out = out.reset_index()
    out = out.sort_values("sharpe_mean", ascending=False, na_position="last", kind="stable")
    return out.reset_index(drop=True)


def _asset_rows(loaded: Mapping[str, _LoadedAsset], table: pd.DataFrame) -> list[dict[str, Any]]:
    from lstm_backtrader.backtests.data.validate import describe_ohlcv

    rows = []
    for name, la in loaded.items():
        report = describe_ohlcv(la.candles)
        sub = table[table["asset"] == name]
        bh = sorted({round(float(v), 10) for v in sub["bh_sharpe"] if math.isfinite(v)})
        best = sub["sharpe"].max() if len(sub) else math.nan
        rows.append(
            {
                "asset": name,
                "source": la.source.get("source"),
                "symbol": la.source.get("symbol") or la.source.get("file"),
                "timeframe": report.timeframe,
                "start": report.start,
                "end": report.end,
                "bars": report.bars,
                "sha256": la.data_hash,
                "bh_sharpe": bh[0] if len(bh) == 1 else None,
                "bh_sharpe_min": bh[0] if bh else None,
                "bh_sharpe_max": bh[-1] if bh else None,
                "best_sharpe": best,
                "trials_beating_bh": int(sub["beats_bh"].sum()),
                "trials": len(sub),
                "expected_max_sharpe_annualised": (
                    float(sub["expected_max_sharpe_annualised"].iloc[0]) if len(sub) else None
                ),
            }
        )
    return rows


def _records(frame: pd.DataFrame) -> dict[str, Any]:
    from lstm_backtrader.backtests.report.page import jsonable

    cols = [str(c) for c in frame.columns]
    return {
        "columns": cols,
        "rows": [
            {c: jsonable(v) for c, v in zip(cols, rec, strict=True)}
            for rec in frame.itertuples(index=False, name=None)
        ],
    }


def _notes(n_trials: int, var: float, sr0: float) -> list[str]:
    return [
        f"DSR = PSR(SR₀): the probability that a trial's true Sharpe ratio beats SR₀, the best "
        f"Sharpe ratio expected from N = {n_trials} zero-skill trials (every trial of this "
        f"sweep: all parameter sets, seeds and assets) whose per-bar Sharpe ratios have the "
        f"variance V = {var:.3g} observed here (SR₀ = {sr0:.4f} per bar; Bailey & López de "
        "Prado 2014). A top trial with DSR below 0.95 is not distinguishable from the luckiest "
        "of N random strategies.",
        "PSR(0) = probability that the true Sharpe ratio is above 0, not deflated (Bailey & "
        "López de Prado 2012, raw kurtosis).",
        "Seed spread: trials that differ only by model.seed form a group; mean ± std (ddof = 1) "
        "across seeds of Sharpe, CAGR and the forecast RMSE ratio vs persistence (< 1: the "
        "model beats a zero forecast), as Qlib reports. A difference between parameter sets "
        "smaller than the seed spread is noise.",
        "Buy & hold trades the same out-of-sample bars with the same costs: its Sharpe ratio per "
        "asset is the bar to beat.",
    ]


@dataclass(frozen=True)
class SweepResult:
    """What :func:`run_sweep` produced.

    Attributes
    ----------
    out_dir
        The folder holding ``sweep.csv``, ``seeds.csv``, ``sweep.json`` and ``index.html``.
    table
        The ranked trial table (``sweep.csv``).
    spread
        The seed-spread table (``seeds.csv``).
    summary
        Everything on the page (``sweep.json``).
    computed, cached
        Trials run now and trials reused from the trial cache.
    """

    out_dir: Path
    table: pd.DataFrame
    spread: pd.DataFrame
    summary: dict[str, Any]
    computed: int
    cached: int


def run_sweep(
    sweep: SweepConfig,
    *,
    out_dir: Path | None = None,
    reports_dir: Path = Path("reports") / "sweeps",
    cache_dir: Path | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_plan: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Run every trial of ``sweep`` (reusing cached ones) and write the sweep folder.

    Parameters
    ----------
    sweep
        From :func:`load_sweep`.
    out_dir
        Output folder; default ``reports_dir / <sweep id>`` (:func:`sweep_id_for`).
    reports_dir
        Parent of the default output folder.
    cache_dir
        Root of the fold cache and of the trial cache (``<cache_dir>/trials``); default
        :func:`lstm_backtrader.backtests.run.default_cache_dir`.
    workers, scheduler
        Passed to :func:`lstm_backtrader.models.infra.executor.make_executor`.
    progress
        ``progress(done, total)`` after each trial computed now.
    on_plan
        ``on_plan(n_trials, n_to_run)`` once the cached trials are known.

    Returns
    -------
    SweepResult
    """
    from lstm_backtrader.backtests.report.sweep_page import write_sweep_page
    from lstm_backtrader.backtests.run import default_cache_dir, package_versions
    from lstm_backtrader.models.infra.executor import make_executor
    from lstm_backtrader.models.infra.fileio import atomic_write, atomic_write_text

    if workers < 1:
        raise InputError(f"--workers is {workers}: use 1 or more")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    trials = expand_trials(sweep)  # validates every combination before any data is loaded
    loaded = _load_assets(sweep)
    ids = [trial_id_for(t.config, loaded[t.asset].data_hash) for t in trials]
    keys = [trial_cache_key(t.config, loaded[t.asset].data_hash) for t in trials]
    seen: dict[str, int] = {}
    for t, tid in zip(trials, ids, strict=True):
        if tid in seen:
            raise InputError(
                f"{sweep.path}: trials #{seen[tid] + 1} and #{t.index + 1} are identical (same "
                "config, seed and data); remove the duplicate so N counts distinct trials"
            )
        seen[tid] = t.index

    results: list[dict[str, Any] | None] = [
        read_cached_trial(cache, tid, key) for tid, key in zip(ids, keys, strict=True)
    ]
    cached = [r is not None for r in results]
    todo = [i for i, r in enumerate(results) if r is None]
    logger.info("sweep: %d trials, %d cached, %d to run", len(trials), len(trials) - len(todo),
                len(todo))  # fmt: skip
    if on_plan is not None:
        on_plan(len(trials), len(todo))
    executor_name = "none"
    if todo:
        # on a cluster the client's default cache folder may not exist on the workers: they
        # use their own default then, and the results are stored here below either way
        task_cache = "" if scheduler and cache_dir is None else str(cache)
        tasks = [
            TrialTask(ids[i], keys[i], trials[i].config, loaded[trials[i].asset].candles,
                      task_cache)
            for i in todo
        ]  # fmt: skip
        try:
            executor = make_executor(workers=workers, scheduler=scheduler)
        except NotImplementedError as exc:
            raise InputError(f"--workers {workers} / --scheduler {scheduler}: {exc}") from None
        with executor as ex:
            executor_name = ex.name
            computed = ex.map(run_trial, tasks, progress=progress)
        for i, res in zip(todo, computed, strict=True):
            results[i] = res
            if read_cached_trial(cache, ids[i], keys[i]) is None:  # e.g. a remote worker
                write_cached_trial(cache, ids[i], keys[i], res)

    keys_order = list(sweep.param_keys)
    table = _table(trials, ids, [r or {} for r in results], cached, keys_order)
    spread = seed_spread(table, keys_order)
    sweep_id = sweep_id_for(sweep, ids)
    out = Path(out_dir) if out_dir is not None else Path(reports_dir) / sweep_id
    n_trials = len(table)
    var = float(table["var_trials_sr"].iloc[0])
    sr0 = float(table["expected_max_sharpe"].iloc[0])
    base_ref = sweep.raw.get("base")
    summary = {
        "schema": SWEEP_SCHEMA,
        "title": sweep.title,
        "sweep_id": sweep_id,
        "sweep_file": sweep.path,
        "mode": sweep.mode,
        "param_keys": keys_order,
        "seeds": list(sweep.seeds),
        "grid": {k: [_csv_value(v) for v in vals] for k, vals in sweep.grid},
        "trials_list": [{k: _csv_value(v) for k, v in t} for t in sweep.trials],
        "base_file": base_ref,
        "base_config": _config_doc(sweep.base),
        "n_trials": n_trials,
        "var_trials_sr": var,
        "expected_max_sharpe": sr0,
        "computed": len(todo),
        "cached": n_trials - len(todo),
        "executor": executor_name,
        "assets": _asset_rows(loaded, table),
        "trials": _records(table),
        "seed_spread": _records(spread),
        "spread_metrics": [list(m) for m in SPREAD_METRICS],
        "notes": _notes(n_trials, var, sr0),
        "versions": package_versions(),
        "platform": f"{platform.system()} {platform.machine()}",
    }
    from lstm_backtrader.backtests.report.page import jsonable

    summary = jsonable(summary)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "sweep.csv", lambda p: table.to_csv(p, index=False))
    atomic_write(out / "seeds.csv", lambda p: spread.to_csv(p, index=False))
    atomic_write_text(
        out / "sweep.json",
        json.dumps(summary, indent=2, allow_nan=False, ensure_ascii=False) + "\n",
    )
    write_sweep_page(out / "index.html", summary)
    return SweepResult(out, table, spread, summary, len(todo), n_trials - len(todo))
