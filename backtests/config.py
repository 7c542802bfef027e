"""The run configuration of ``lstm-bt backtest``: frozen dataclasses, read from TOML.

Every field has a default (see ``configs/example.toml``, which lists them all); a TOML file
overrides some, CLI flags override the file. An unknown or ill-typed field is a one-line
:class:`~lstm_backtrader.models.infra.errors.InputError` naming it (``[walkforward]
retrain_every``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from lstm_backtrader.backtests.data.times import parse_time
from lstm_backtrader.backtests.data.validate import timeframe_delta
from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.conformal import IntervalSpec
from lstm_backtrader.models.factory import build_forecaster
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.targets import REALIZED_VAR
from lstm_backtrader.strategies.costs import DEFAULT_FEE, DEFAULT_SLIPPAGE, DEFAULT_STAKE

logger = logging.getLogger(__name__)

#: A fold needs at least this many labelled training windows (a walk-forward whose folds have
#: fewer fails in its first fit, minutes in: refused when the config is read instead).
MIN_TRAIN_WINDOWS = 20


#: Where an exogenous series comes from (``[[data.features]] source``).
FEATURE_SOURCES: tuple[str, ...] = ("file", "exchange", "funding")


@dataclass(frozen=True)
class FeatureSeriesConfig:
    """One ``[[data.features]]`` entry: an exogenous series joined as-of onto the candles
    (see :mod:`lstm_backtrader.backtests.data.exogenous`).

    ``source`` "file" reads a candle file (``path``), "exchange" downloads candles of
    ``symbol`` / ``timeframe`` through ccxt, "funding" the funding-rate history of the
    perpetual ``symbol`` (e.g. ``BTC/USDT:USDT``); both cached like the main candles.
    """

    name: str = ""  # column prefix: eth gives eth_log_return, eth_hl_range, ...
    source: str = "file"  # "file", "exchange" or "funding"
    path: str | None = None  # candle file, for source = "file"
    exchange: str = "binance"  # ccxt exchange id, for "exchange" and "funding"
    symbol: str | None = None  # ccxt symbol, for "exchange" and "funding"
    timeframe: str = "1d"  # candle timeframe, for source = "exchange"
    max_age_bars: int = 2  # a value older than this many of its own bars is NaN

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "a").isalnum() or not self.name.islower():
            raise InputError(
                f"name is {self.name!r}: use lower-case letters, digits and _ (a column prefix)"
            )
        if self.source not in FEATURE_SOURCES:
            raise InputError(
                f"source is {self.source!r}: use {', '.join(map(repr, FEATURE_SOURCES))}"
            )
        if self.source == "file" and not self.path:
            raise InputError("path is missing: source = 'file' needs a candle file path")
        if self.source != "file" and not self.symbol:
            raise InputError(f"symbol is missing: source = {self.source!r} needs a ccxt symbol")
        if self.max_age_bars < 1:
            raise InputError(f"max_age_bars is {self.max_age_bars}: use an integer >= 1")
        if self.source == "exchange":
            try:
                timeframe_delta(self.timeframe)
            except InputError as exc:
                raise InputError(f"timeframe: {exc}") from None


@dataclass(frozen=True)
class DataConfig:
    """Where the candles come from: the embedded sample, a file, or an exchange via ccxt."""

    source: str = "sample"  # "sample", "file" or "exchange"
    path: str | None = None  # candle file, for source = "file"
    sample: str = "1d"  # embedded sample timeframe, for source = "sample"
    exchange: str = "binance"  # ccxt exchange id, for source = "exchange"
    symbol: str = "BTC/USDT"
    timeframe: str = "1d"
    since: str | None = None  # first date (UTC) to download / use
    until: str | None = None  # end date (UTC, exclusive)
    intrabar: str | None = None  # higher-frequency candle file: the column realized_var
    #: exogenous series joined onto the candles (``[[data.features]]``); none by default
    features: tuple[FeatureSeriesConfig, ...] = ()

    def __post_init__(self) -> None:
        if self.intrabar is not None and not self.intrabar.strip():
            raise InputError("[data] intrabar is empty: name a higher-frequency candle file")
        names = [f.name for f in self.features]
        for k, name in enumerate(names, 1):
            if name in names[: k - 1]:
                raise InputError(f"[[data.features]] #{k} name: {name!r} is used twice")
        if self.source not in ("sample", "file", "exchange"):
            raise InputError(
                f"[data] source is {self.source!r}: use 'sample', 'file' or 'exchange'"
            )
        if self.source == "file" and not self.path:
            raise InputError("[data] path is missing: source = 'file' needs a candle file path")
        since = None if self.since is None else parse_time(self.since, "[data] since")
        until = None if self.until is None else parse_time(self.until, "[data] until")
        if since is not None and until is not None and until <= since:
            raise InputError(
                f"[data] until ({self.until}) is not after since ({self.since}): the range is empty"
            )


@dataclass(frozen=True)
class StrategyConfig:
    """Trading rules and costs shared by the LSTM strategy and the baselines."""

    cash: float = 10_000.0  # starting cash (quote currency)
    fee: float = DEFAULT_FEE  # commission per side (Binance spot taker 0.1%)
    slippage: float = DEFAULT_SLIPPAGE  # adverse price move per fill (0.05%)
    stake: float = DEFAULT_STAKE  # fraction of equity in a full position
    entry: float | None = None  # forecast needed to go long; None = round-trip cost
    exit: float = 0.0  # back to flat below this forecast
    allow_short: bool = False  # trade the short side too
    vol_target: float | None = None  # annualised volatility target; None = off
    vol_window: int = 30  # bars of realised volatility
    stop_loss: float | None = None  # stop distance from entry, fraction; None = off
    sma_fast: int = 20  # SMA-cross baseline, fast window
    sma_slow: int = 50  # SMA-cross baseline, slow window
    target_vol: float = 0.5  # target volatility: annualised volatility the exposure aims at
    max_leverage: float = 1.0  # target volatility: exposure cap (1.0: never borrow)
    rebalance_band: float = 0.1  # the targets' strategies: no trade while |target - held| <= band
    prob_threshold: float = 0.5  # direction: P(up after costs) a long needs
    kelly_multiplier: float = 1.0  # direction / interval gate: share of the Kelly fraction
    max_fraction: float = 1.0  # direction / interval gate: exposure cap

    def __post_init__(self) -> None:
        if not (self.cash > 0 and math.isfinite(self.cash)):
            raise InputError(f"[strategy] cash is {self.cash}: use a positive amount")
        for name in ("fee", "slippage"):
            if not 0 <= getattr(self, name) < 0.1:
                raise InputError(f"[strategy] {name} is {getattr(self, name)}: use 0 <= x < 0.1")
        if not 0 < self.stake <= 1:
            raise InputError(f"[strategy] stake is {self.stake}: use 0 < stake <= 1")
        if self.sma_fast < 1:
            raise InputError(f"[strategy] sma_fast is {self.sma_fast}: use an integer >= 1")
        if self.sma_fast >= self.sma_slow:
            raise InputError(
                f"[strategy] sma_fast ({self.sma_fast}) must be below sma_slow ({self.sma_slow})"
            )
        if self.vol_window < 2:
            raise InputError(
                f"[strategy] vol_window is {self.vol_window}: volatility needs >= 2 returns"
            )
        if self.vol_target is not None and not self.vol_target > 0:
            raise InputError(
                f"[strategy] vol_target is {self.vol_target}: use a positive annualised "
                "volatility (e.g. 0.5) or leave it out"
            )
        if self.stop_loss is not None and not 0 < self.stop_loss < 1:
            raise InputError(
                f"[strategy] stop_loss is {self.stop_loss}: use 0 < stop_loss < 1 or leave it out"
            )
        for name in ("entry", "exit"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise InputError(f"[strategy] {name} is {value}: use a finite number")
        for name in ("target_vol", "max_leverage", "kelly_multiplier", "max_fraction"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise InputError(f"[strategy] {name} is {value}: use a positive number")
        if self.max_leverage > 10:
            raise InputError(f"[strategy] max_leverage is {self.max_leverage}: use at most 10")
        if not (0 <= self.rebalance_band < 1):
            raise InputError(
                f"[strategy] rebalance_band is {self.rebalance_band}: use 0 <= band < 1"
            )
        if not (0 <= self.prob_threshold < 1):
            raise InputError(
                f"[strategy] prob_threshold is {self.prob_threshold}: use 0 <= threshold < 1"
            )

    @property
    def round_trip_cost(self) -> float:
        """``2 × (fee + slippage)``: the log return a long must beat to pay its costs."""
        return 2.0 * (self.fee + self.slippage)


#: ``[strategy]`` settings of the direction and volatility targets' strategies.
TARGET_STRATEGY_FIELDS: tuple[str, ...] = (
    "target_vol", "max_leverage", "rebalance_band", "prob_threshold", "kelly_multiplier",
    "max_fraction",
)  # fmt: skip
_STRATEGY_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(StrategyConfig)}


@dataclass(frozen=True)
class RunConfig:
    """Everything one ``lstm-bt backtest`` run depends on."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ForecasterConfig = field(default_factory=ForecasterConfig)
    walkforward: WalkForwardSpec = field(default_factory=WalkForwardSpec)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    intervals: IntervalSpec = field(default_factory=IntervalSpec)  # level 0: off

    def __post_init__(self) -> None:
        # settings that are fine alone but impossible together: refused before any training
        spec, model = self.walkforward, self.model
        check_intrabar_use(self.data, model)
        gap = spec.gap_for(model.horizon)  # refuses gap < horizon
        context = int(build_forecaster(model).context_bars)
        # windows with a label inside a fold's training slice of train_bars - (gap - h) bars
        windows = spec.train_bars - (gap - model.horizon) - model.horizon - context + 1
        if windows < MIN_TRAIN_WINDOWS:
            raise InputError(
                f"[walkforward] train_bars is {spec.train_bars}: with lookback {model.lookback}, "
                f"horizon {model.horizon} and gap {gap} a fold has {max(windows, 0)} labelled "
                f"training windows; use train_bars >= {MIN_TRAIN_WINDOWS + context - 1 + gap} "
                "or a shorter lookback"
            )

    def check_data(self, n_bars: int, what: str, *, whole: bool = True) -> None:
        """Refuse a configuration the data cannot hold, before any training.

        Parameters
        ----------
        n_bars, what
            The data's length and its name (for the message).
        whole
            The run's whole data (not a cut of it, as the look-ahead audit reruns): the refit
            interval must fit its out-of-sample bars too.

        Raises
        ------
        InputError
            When the first forecast bar (``train_bars``) does not fit in the ``n_bars`` bars of
            ``what``, or (``whole``) the refit interval is longer than its out-of-sample bars.
        """
        spec = self.walkforward
        if n_bars <= spec.train_bars + 1:
            raise InputError(
                f"[walkforward] train_bars is {spec.train_bars} but {what} has only {n_bars} "
                "bars: lower train_bars or use more data"
            )
        out_of_sample = n_bars - spec.train_bars
        if whole and spec.retrain_every > out_of_sample:
            raise InputError(
                f"[walkforward] retrain_every is {spec.retrain_every} but {what} has only "
                f"{out_of_sample} out-of-sample bars after train_bars {spec.train_bars}: use at "
                f"most {out_of_sample} (one model for the whole out-of-sample period)"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable dict (for manifests and the report page). The settings of
        the direction/volatility strategies are left out of a return run while at their
        defaults (so its manifests and sweep trial ids are those of before the targets), and
        so is ``[intervals]`` while off (level 0)."""
        strategy = dataclasses.asdict(self.strategy)
        if self.model.target == "return":
            for name in TARGET_STRATEGY_FIELDS:
                if strategy[name] == _STRATEGY_DEFAULTS[name]:
                    del strategy[name]
        data = dataclasses.asdict(self.data)
        if data["intrabar"] is None:  # left out while unset: run ids of before stay
            del data["intrabar"]
        if not self.data.features:
            del data["features"]  # runs without exogenous series keep their manifests and ids
        return {
            "data": data,
            "model": self.model.to_dict(),
            "walkforward": self.walkforward.to_dict(),
            "strategy": strategy,
            **({"intervals": dataclasses.asdict(self.intervals)} if self.intervals.on else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> RunConfig:
        """Build from nested sections, checking every name and type."""
        sections = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(sections))
        if unknown:
            raise InputError(
                f"{source}: unknown section [{unknown[0]}]; known: {', '.join(sections)}"
            )
        built: dict[str, Any] = {}
        for name, fld in sections.items():
            section = data.get(name, {})
            if not isinstance(section, dict):
                raise InputError(f"{source}: [{name}] must be a table of fields")
            built[name] = _build_section(_section_type(fld), section, name, source)
        model = built["model"]
        if model.target == "direction" and "direction_threshold" not in data.get("model", {}):
            # "up" means "a long would have paid its round-trip costs" unless given explicitly
            cost = built["strategy"].round_trip_cost
            built["model"] = model.replace(direction_threshold=cost)
        try:
            return cls(**built)
        except InputError as exc:
            raise InputError(f"{source}: {exc}") from None

    def with_overrides(self, overrides: dict[str, dict[str, Any]]) -> RunConfig:
        """A copy with ``{section: {field: value}}`` changed (CLI flags), validated. A
        direction threshold that follows the round-trip cost keeps following it."""
        merged = self.to_dict()
        model = self.model
        if (
            model.target == "direction"
            and model.direction_threshold == self.strategy.round_trip_cost
            and "direction_threshold" not in overrides.get("model", {})
        ):
            del merged["model"]["direction_threshold"]
        for section, values in overrides.items():
            given = {k: v for k, v in values.items() if v is not None}
            merged.setdefault(section, {}).update(given)
        return RunConfig.from_dict(merged, source="command line")


def check_intrabar_use(data: DataConfig, model: ForecasterConfig) -> None:
    """``[model] vol_estimator = "realized"`` needs ``[data] intrabar``; an intrabar file that
    neither the target nor a feature reads is logged as unused (it still costs a load)."""
    realized = model.target == "volatility" and model.vol_estimator == "realized"
    if realized and data.intrabar is None:
        raise InputError(
            "[model] vol_estimator 'realized' needs [data] intrabar: a higher-frequency candle "
            "file of the same market (e.g. 2h candles under daily bars)"
        )
    if data.intrabar is not None and not realized and REALIZED_VAR not in model.features:
        logger.info(
            "[data] intrabar %s: its realized_var column is unused (vol_estimator is %r and no "
            "feature reads realized_var)",
            data.intrabar,
            model.vol_estimator if model.target == "volatility" else None,
        )


def _section_type(fld: dataclasses.Field[Any]) -> type:
    factory = fld.default_factory  # type: ignore[misc]
    return factory if isinstance(factory, type) else type(factory())


def _build_section(kind: type, values: dict[str, Any], section: str, source: str) -> Any:
    values = _checked_fields(kind, values, f"[{section}]", source)
    try:
        return kind(**values)
    except InputError as exc:
        msg = str(exc)
        raise InputError(
            f"{source}: {msg}" if msg.startswith("[") else f"{source}: [{section}] {msg}"
        ) from None


def _checked_fields(kind: type, values: dict[str, Any], where: str, source: str) -> dict[str, Any]:
    """``values`` of a table for the dataclass ``kind``: an unknown key or a value of the wrong
    type is one line naming ``where`` (``[model]``, ``[[data.features]] #2``) and the key."""
    hints = typing.get_type_hints(kind)
    known = {f.name for f in fields(kind)}
    for key, value in values.items():
        if key not in known:
            raise InputError(
                f"{source}: unknown field {where} {key}; known: {', '.join(sorted(known))}"
            )
        values = {**values, key: _coerce(value, hints[key], f"{where} {key}", source)}
    return values


def _coerce(value: Any, hint: Any, name: str, source: str) -> Any:
    """Check a TOML value against a field's type hint (ints are accepted for floats)."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        if option is type(None) and value is None:
            return None
        origin = typing.get_origin(option)
        if origin is tuple and isinstance(value, dict):
            return value  # a table of keyword arguments: its owner checks the values
        if origin is tuple and isinstance(value, list | tuple):
            (item, *_) = typing.get_args(option)
            if dataclasses.is_dataclass(item):
                return tuple(_build_entry(item, v, name, k, source) for k, v in enumerate(value, 1))
            if all(isinstance(v, item) and not isinstance(v, bool) for v in value):
                return tuple(value)
        elif option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        elif (
            option is int
            and isinstance(value, int)
            and not isinstance(value, bool)
            or option in (str, bool)
            and isinstance(value, option)
        ):
            return value
    expected = " or ".join(_type_name(o) for o in options)
    raise InputError(f"{source}: {name} is {value!r}: expected {expected}")


def _build_entry(kind: type, value: Any, name: str, k: int, source: str) -> Any:
    """Entry ``k`` (from 1) of an array of tables (``[[data.features]]``), checked like a
    section; errors name ``[[data.features]] #k field``."""
    if isinstance(value, kind):
        return value
    where = f"[[{name.strip('[]').replace('] ', '.')}]] #{k}"
    if not isinstance(value, dict):
        raise InputError(f"{source}: {where} must be a table of fields")
    value = _checked_fields(kind, value, where, source)
    try:
        return kind(**value)
    except InputError as exc:
        raise InputError(f"{source}: {where} {exc}") from None


def _type_name(hint: Any) -> str:
    if hint is type(None):
        return "nothing (leave it out)"
    origin = typing.get_origin(hint)
    if origin is tuple:
        return f"a list of {typing.get_args(hint)[0].__name__}"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(
        hint, str(hint)
    )


#: Tables of a run's TOML that other commands read (``lstm-bt paper``'s ``[paper]``).
COMMAND_TABLES: tuple[str, ...] = ("paper",)


def load_config(path: str | Path | None = None) -> RunConfig:
    """Read a TOML run configuration (``None``: all defaults)."""
    return load_config_tables(path)[0]


def load_config_tables(path: str | Path | None) -> tuple[RunConfig, dict[str, Any]]:
    """A TOML run configuration and the :data:`COMMAND_TABLES` it holds (raw, by name; the
    command reading one checks it)."""
    if path is None:
        return RunConfig(), {}
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: config file not found")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{p}: not a UTF-8 text file") from None
    tables = {name: data.pop(name) for name in COMMAND_TABLES if name in data}
    model = data.get("model")
    if isinstance(model, dict):  # user code named by a file path: relative to this file
        for name in CODE_FIELDS:
            if name in model:
                model[name] = resolve_code_path(model[name], p.parent)
    return RunConfig.from_dict(data, source=str(p)), tables


#: Model fields that name user code by ``"path/to/file.py:name"`` (relative to their TOML file).
CODE_FIELDS: tuple[str, ...] = ("builder", "estimator")


def resolve_code_path(spec: Any, folder: Path) -> Any:
    """``"file.py:name"`` with a relative file made absolute against ``folder`` (the TOML
    file's); anything else as it is."""
    if not isinstance(spec, str) or ":" not in spec:
        return spec
    module, _, name = spec.rpartition(":")
    if module.endswith(".py") and not Path(module).expanduser().is_absolute():
        return f"{(folder / module).resolve()}:{name}"
    return spec
