"""Sweep files: read and validate a TOML sweep file into a :class:`SweepConfig`.

A sweep file (see ``configs/sweep.toml``) names a base run configuration (a ``base`` file and
inline ``[data]`` / ``[model]`` / ``[walkforward]`` / ``[strategy]`` tables), the model seeds,
a ``[grid]`` (or a ``[[trials]]`` list) of ``section.field`` overrides and optionally several
``[[assets]]``. Every problem is one :class:`InputError` line naming the file and the key.
"""

from __future__ import annotations

import itertools
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from lstm_backtrader.backtests.config import (
    CODE_FIELDS,
    DataConfig,
    RunConfig,
    StrategyConfig,
    load_config,
    resolve_code_path,
)
from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.conformal import IntervalSpec
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.schedule import WalkForwardSpec

logger = logging.getLogger(__name__)

__all__ = [
    "SWEEP_KEYS",
    "VARIABLE_SECTIONS",
    "Asset",
    "SweepConfig",
    "freeze",
    "load_sweep",
]

#: Top-level keys a sweep file may hold.
SWEEP_KEYS: tuple[str, ...] = (
    *("title", "base", "seeds", "mode", "grid", "trials", "assets"),
    *("data", "model", "walkforward", "strategy", "intervals"),
)
#: Sections a grid / list key may vary (``data`` varies through ``[[assets]]``).
VARIABLE_SECTIONS = ("model", "walkforward", "strategy", "intervals")


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


def freeze(value: Any) -> Any:
    """Lists (TOML arrays) → tuples, recursively, so values hash and compare.

    Parameters
    ----------
    value
        A value as parsed from TOML or read from a config.

    Returns
    -------
    Any
        ``value`` with every list turned into a tuple.
    """
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


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
        "intervals": IntervalSpec,
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


def _resolve_data_paths(table: dict[str, Any], root: Path) -> dict[str, Any]:
    """A ``[data]`` table with its candle file and its ``[[data.features]]`` files made
    absolute against ``root`` (the sweep file's folder)."""
    table = dict(table)
    if isinstance(table.get("path"), str):
        table["path"] = _resolve(table["path"], root)
    entries = table.get("features")
    if isinstance(entries, list):
        table["features"] = [
            {**e, "path": _resolve(e["path"], root)}
            if isinstance(e, dict) and isinstance(e.get("path"), str)
            else e
            for e in entries
        ]
    return table


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
        table = _resolve_data_paths(table, path.parent)
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


def _parse_base(doc: Mapping[str, Any], p: Path) -> RunConfig:
    """The ``base`` run config (relative to the sweep file) with the inline sections on top."""
    base_ref = doc.get("base")
    if base_ref is not None and not isinstance(base_ref, str):
        raise InputError(f"{p}: base must be the path of a run config (a string)")
    try:
        base = load_config(_resolve(base_ref, p.parent) if base_ref else None)
    except InputError as exc:
        raise InputError(f"{p}: base = {base_ref!r}: {exc}") from None
    inline = {
        s: doc[s] for s in ("data", "model", "walkforward", "strategy", "intervals") if s in doc
    }
    if inline:
        merged = base.to_dict()
        for section, values in inline.items():
            if not isinstance(values, dict):
                raise InputError(f"{p}: [{section}] must be a table of fields")
            values = dict(values)
            if section == "data":
                values = _resolve_data_paths(values, p.parent)
            if section == "model":
                for name in CODE_FIELDS:
                    if name in values:
                        values[name] = resolve_code_path(values[name], p.parent)
            merged.setdefault(section, {}).update(values)
        base = RunConfig.from_dict(merged, source=str(p))
    return base


def _code_value(key: str, value: Any, folder: Path) -> Any:
    """A ``model.builder``/``model.estimator`` value with its file made absolute against the
    sweep file's folder (workers run elsewhere); any other value as it is."""
    section, _, name = key.partition(".")
    if section == "model" and name in CODE_FIELDS:
        return resolve_code_path(value, folder)
    return value


def _parse_grid(doc: Mapping[str, Any], p: Path) -> list[tuple[str, tuple[Any, ...]]]:
    """``mode = 'grid'``: the ``[grid]`` lists, in file order."""
    if "trials" in doc:
        raise InputError(f"{p}: [[trials]] needs mode = 'list' (mode is 'grid')")
    grid: list[tuple[str, tuple[Any, ...]]] = []
    for key, values in _flatten_overrides(doc.get("grid", {}), f"{p}: [grid]"):
        _check_key(key, f"{p}: [grid]")
        if not isinstance(values, list):
            raise InputError(f"{p}: [grid] {key} must be a list of values, got {values!r}")
        if not values:
            raise InputError(f"{p}: [grid] {key} is an empty list: give at least one value")
        frozen = tuple(freeze(_code_value(key, v, p.parent)) for v in values)
        if len(set(map(repr, frozen))) != len(frozen):
            raise InputError(f"{p}: [grid] {key} repeats a value: {values!r}")
        grid.append((key, frozen))
    return grid


def _parse_trials(doc: Mapping[str, Any], p: Path) -> list[tuple[tuple[str, Any], ...]]:
    """``mode = 'list'``: the ``[[trials]]`` override sets."""
    if "grid" in doc:
        raise InputError(f"{p}: [grid] needs mode = 'grid' (mode is 'list')")
    raw_trials = doc.get("trials")
    if not isinstance(raw_trials, list) or not raw_trials:
        raise InputError(f"{p}: mode = 'list' needs one or more [[trials]] tables")
    trials: list[tuple[tuple[str, Any], ...]] = []
    for i, table in enumerate(raw_trials, start=1):
        where = f"{p}: [[trials]] #{i}"
        pairs = _flatten_overrides(table, where)
        for key, _ in pairs:
            _check_key(key, where)
        trials.append(tuple((k, freeze(_code_value(k, v, p.parent))) for k, v in pairs))
    return trials


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
    base = _parse_base(doc, p)

    mode = doc.get("mode", "grid")
    if mode not in ("grid", "list"):
        raise InputError(f"{p}: mode is {mode!r}: use 'grid' or 'list'")
    grid = _parse_grid(doc, p) if mode == "grid" else []
    trials = _parse_trials(doc, p) if mode == "list" else []

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
