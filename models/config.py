"""Frozen, JSON-serialisable forecaster configurations (the one declaration of every
forecaster hyperparameter; :mod:`~lstm_backtrader.models.factory` builds forecasters from them).

A :class:`ForecasterConfig` is what travels between processes (walk-forward folds, later Dask
workers): plain numbers, strings and tuples, round-tripped exactly by
:meth:`ForecasterConfig.to_dict` / :meth:`ForecasterConfig.from_dict`. No TensorFlow import.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

#: Forecaster kinds :func:`~lstm_backtrader.models.factory.build_forecaster` knows.
KINDS: tuple[str, ...] = (
    "lstm", "keras", "sklearn", "persistence", "drift",
    "ewma", "har", "garch", "base_rate", "logistic",
)  # fmt: skip

#: What a forecaster may forecast (``target``): the forward return, the probability that it
#: exceeds ``direction_threshold``, or the log realised volatility (see
#: :mod:`~lstm_backtrader.models.targets`).
TARGETS: tuple[str, ...] = ("return", "direction", "volatility")

#: kind -> the targets it forecasts.
KIND_TARGETS: dict[str, tuple[str, ...]] = {
    "lstm": TARGETS,
    "keras": ("return",),
    "sklearn": ("return",),
    "persistence": ("return", "volatility"),
    "drift": ("return", "volatility"),
    "ewma": ("volatility",),
    "har": ("volatility",),
    "garch": ("volatility",),
    "base_rate": ("direction",),
    "logistic": ("direction",),
}

#: Per-bar variance estimators of the volatility target (``vol_estimator``): two range
#: estimators, and ``'realized'`` (the candle frame's ``realized_var`` column, summed from an
#: intrabar file: ``[data] intrabar``).
VOL_ESTIMATORS: tuple[str, ...] = ("garman_klass", "parkinson", "realized")

#: Fields used by one target only, left out of :meth:`ForecasterConfig.to_dict` with the
#: ``target`` itself while the target is ``'return'`` (so return configurations, and their
#: fold-cache keys, are those of before the targets existed).
TARGET_FIELDS: dict[str, str] = {
    "vol_estimator": "volatility",
    "direction_threshold": "direction",
}

#: Fields used by one kind only, left out of :meth:`ForecasterConfig.to_dict` while at their
#: default (so the configurations, and the fold-cache keys, of the other kinds never change).
PLUGIN_FIELDS: dict[str, str] = {
    "builder": "keras",
    "estimator": "sklearn",
    "estimator_params": "sklearn",
}

#: Uncertainty settings (seed ensemble, MC dropout), left out of :meth:`ForecasterConfig.to_dict`
#: while at their defaults (1 member, no MC dropout), so today's configurations and fold-cache
#: keys never change; the kinds that may use them (seeded networks; MC dropout: the LSTM only).
UNCERTAINTY_FIELDS: dict[str, tuple[str, ...]] = {
    "ensemble": ("lstm", "keras"),
    "mc_dropout": ("lstm",),
}

#: The target settings (kinds forecasting more than the return use them as hyperparameters).
TARGET_SETTINGS: tuple[str, ...] = ("target", "vol_estimator", "direction_threshold")

#: The hyperparameters of the stacked LSTM (kind ``'lstm'``); kind ``'keras'`` adds ``builder``
#: (and forecasts the return only: :data:`KIND_TARGETS`).
LSTM_FIELDS: tuple[str, ...] = (
    "lookback", "horizon", "features", "units", "dropout", "epochs", "batch_size",
    "learning_rate", "validation_fraction", "patience", "seed", *TARGET_SETTINGS,
    *UNCERTAINTY_FIELDS,
)  # fmt: skip

#: What a value of ``estimator_params`` may be (TOML scalars).
Scalar = int | float | str | bool

DEFAULT_FEATURES: tuple[str, ...] = ("log_return", "hl_range", "log_volume_change")


@dataclass(frozen=True)
class ForecasterConfig:
    """Hyperparameters of one forecaster (LSTM, a user's Keras network or scikit-learn
    regressor, or a baseline).

    Attributes
    ----------
    kind
        ``'lstm'``; ``'keras'`` (a Keras network from ``builder``, trained like the LSTM);
        ``'sklearn'`` (a scikit-learn regressor ``estimator`` on the flattened windows); the
        baselines ``'persistence'``, ``'drift'``; the volatility baselines ``'ewma'``,
        ``'har'``, ``'garch'`` and the direction baselines ``'base_rate'``, ``'logistic'``
        (:mod:`~lstm_backtrader.models.vol_baselines`,
        :mod:`~lstm_backtrader.models.direction_baselines`).
    lookback
        Bars per input window (the window ending at bar t holds bars t-lookback+1..t).
    horizon
        Forecast horizon h in bars: the target is ``log(close[t+h] / close[t])``.
    features
        Feature names: keys of :data:`lstm_backtrader.models.features.FEATURE_REGISTRY` or extra
        numeric columns of the candle frame (see
        :func:`lstm_backtrader.models.features.compute_features`).
    units
        LSTM units per stacked layer.
    dropout
        Dropout rate after each LSTM layer.
    epochs, batch_size, learning_rate
        Adam training settings (``epochs`` is the maximum; early stopping may end sooner).
    validation_fraction
        Share of the (chronologically last) training windows held out for early stopping.
    patience
        Early-stopping patience in epochs (best weights restored).
    seed
        Seed for every random number generator (weights, dropout, shuffling).
    builder
        Kind ``'keras'``: ``"package.module:function"`` or ``"path/to/file.py:function"``;
        ``function(lookback, n_features, seed)`` returns an uncompiled Keras model mapping
        windows ``(lookback, n_features)`` to one output (the standardised forward return),
        with every initializer and dropout seeded from ``seed``.
    estimator
        Kind ``'sklearn'``: ``"package.module:Class"`` of a scikit-learn regressor whose
        fitted state is arrays (linear models: no pickle is ever written).
    estimator_params
        Kind ``'sklearn'``: keyword arguments of ``estimator`` (a TOML table).
    target
        What is forecast at the close of bar t (:mod:`~lstm_backtrader.models.targets`):
        ``'return'`` (default: ``target_fwd_ret_{h}``), ``'direction'`` (the probability of
        ``target_fwd_up_{h}``: the next h-bar log return exceeds ``direction_threshold``) or
        ``'volatility'`` (``target_fwd_logvol_{h}``, log realised volatility of the next h
        bars). :data:`KIND_TARGETS` says which kinds forecast which targets.
    vol_estimator
        Target ``'volatility'``: the per-bar variance, ``'garman_klass'`` (default) or
        ``'parkinson'`` (range estimators on the bar itself), or ``'realized'`` (the sum of the
        squared intrabar log returns inside the bar: the candle frame's ``realized_var``
        column, joined from ``[data] intrabar``).
    direction_threshold
        Target ``'direction'``: the log return the next h bars must exceed to count as "up"
        (default 0.0). A backtest sets it to the round-trip trading cost, so "up" means "a long
        trade would have paid its costs".
    ensemble
        Seed ensemble: ``k >= 1`` networks per fold (default 1: one network, as before). Member
        0 uses ``seed``, member ``i >= 1`` the seed
        :func:`~lstm_backtrader.models.ensemble.member_seed` derives from ``seed`` with
        :class:`numpy.random.SeedSequence`; the walk-forward forecast is the members' mean,
        its ``spread`` their standard deviation (kinds ``'lstm'`` and ``'keras'``).
    mc_dropout
        Monte-Carlo dropout samples at inference (default 0: off; kind ``'lstm'`` with
        ``dropout > 0``): the walk-forward forecast is the mean of ``mc_dropout`` seeded,
        deterministic dropout passes, its ``spread`` their standard deviation
        (:mod:`~lstm_backtrader.models.mcdropout`).
    """

    kind: str = "lstm"
    lookback: int = 60
    horizon: int = 1
    features: tuple[str, ...] = DEFAULT_FEATURES
    units: tuple[int, ...] = (50, 50)
    dropout: float = 0.2
    epochs: int = 50
    batch_size: int = 128
    learning_rate: float = 1e-3
    validation_fraction: float = 0.1
    patience: int = 5
    seed: int = 42
    builder: str | None = None
    estimator: str | None = None
    estimator_params: tuple[tuple[str, Scalar], ...] = ()
    target: str = "return"
    vol_estimator: str = "garman_klass"
    direction_threshold: float = 0.0
    ensemble: int = 1
    mc_dropout: int = 0

    def __post_init__(self) -> None:
        # normalise lists (from JSON) to tuples so configs hash and compare equal
        object.__setattr__(self, "features", tuple(str(f) for f in self.features))
        object.__setattr__(self, "units", tuple(int(u) for u in self.units))
        params = self.estimator_params
        if isinstance(params, dict):
            params = params.items()
        try:
            pairs = tuple(sorted((str(k), v) for k, v in params))
        except (TypeError, ValueError):
            raise InputError(
                f"config field 'estimator_params' is {self.estimator_params!r}: use a table of "
                "keyword arguments"
            ) from None
        for key, value in pairs:
            if not isinstance(value, Scalar):  # type: ignore[arg-type]
                raise InputError(
                    f"config field 'estimator_params' {key} is {value!r}: use a number, string "
                    "or true/false"
                )
        object.__setattr__(self, "estimator_params", pairs)
        if self.kind not in KINDS:
            raise InputError(f"config field 'kind' is {self.kind!r}: use one of {', '.join(KINDS)}")
        for name, kind in PLUGIN_FIELDS.items():
            value = getattr(self, name)
            if self.kind == kind and not value and name != "estimator_params":
                raise InputError(f"config field {name!r} is missing: kind {kind!r} needs it")
            if self.kind != kind and value:
                raise InputError(
                    f"config field {name!r} is for kind {kind!r}, not {self.kind!r}: remove it"
                )
        self._check_target()
        self._check_uncertainty()
        for name in ("lookback", "horizon", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"config field {name!r} is {value!r}: use an integer >= 1")
        if not isinstance(self.patience, int) or self.patience < 0:
            raise InputError(f"config field 'patience' is {self.patience!r}: use an integer >= 0")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise InputError(f"config field 'seed' is {self.seed!r}: use an integer >= 0")
        if not self.features:
            raise InputError("config field 'features' is empty: name at least one feature")
        if len(set(self.features)) != len(self.features):
            raise InputError(f"config field 'features' repeats a name: {list(self.features)}")
        if self.kind == "lstm" and (not self.units or min(self.units) < 1):
            raise InputError(f"config field 'units' is {self.units!r}: use positive integers")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise InputError(f"config field 'dropout' is {self.dropout!r}: use 0 <= dropout < 1")
        if not 0.0 <= float(self.validation_fraction) < 0.5:
            raise InputError(
                f"config field 'validation_fraction' is {self.validation_fraction!r}: "
                "use 0 <= fraction < 0.5"
            )
        if not (float(self.learning_rate) > 0 and math.isfinite(float(self.learning_rate))):
            raise InputError(
                f"config field 'learning_rate' is {self.learning_rate!r}: use a positive number"
            )

    def _check_target(self) -> None:
        """``target``, ``vol_estimator`` and ``direction_threshold``: valid, and used."""
        if self.target not in TARGETS:
            raise InputError(
                f"config field 'target' is {self.target!r}: use one of {', '.join(TARGETS)}"
            )
        allowed = KIND_TARGETS[self.kind]
        if self.target not in allowed:
            raise InputError(
                f"config field 'target' is {self.target!r}: kind {self.kind!r} forecasts "
                f"{' or '.join(allowed)}"
            )
        if self.vol_estimator not in VOL_ESTIMATORS:
            raise InputError(
                f"config field 'vol_estimator' is {self.vol_estimator!r}: use one of "
                f"{', '.join(VOL_ESTIMATORS)}"
            )
        threshold = self.direction_threshold
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not math.isfinite(threshold)
        ):
            raise InputError(
                f"config field 'direction_threshold' is {threshold!r}: use a finite log return"
            )
        object.__setattr__(self, "direction_threshold", float(threshold))
        for name, target in TARGET_FIELDS.items():
            if self.target != target and getattr(self, name) != _DEFAULTS[name]:
                raise InputError(
                    f"config field {name!r} is for target {target!r}, not {self.target!r}: "
                    "remove it"
                )

    def _check_uncertainty(self) -> None:
        """``ensemble`` and ``mc_dropout``: integers in range, on a kind that uses them."""
        for name, low in (("ensemble", 1), ("mc_dropout", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise InputError(f"config field {name!r} is {value!r}: use an integer >= {low}")
            kinds = UNCERTAINTY_FIELDS[name]
            if value != _DEFAULTS[name] and self.kind not in kinds:
                raise InputError(
                    f"config field {name!r} is for kind {' or '.join(map(repr, kinds))}, "
                    f"not {self.kind!r}: remove it"
                )
        if self.mc_dropout == 1:
            raise InputError("config field 'mc_dropout' is 1: use 0 (off) or >= 2 samples")
        if self.mc_dropout and not float(self.dropout) > 0:
            raise InputError("config field 'mc_dropout' needs dropout > 0: set dropout or drop it")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (tuples become lists; a kind's own fields only when
        that kind uses them)."""
        out = asdict(self)
        out["features"] = list(self.features)
        out["units"] = list(self.units)
        out["estimator_params"] = dict(self.estimator_params)
        for name, kind in PLUGIN_FIELDS.items():
            if self.kind != kind:
                del out[name]
        for name, target in TARGET_FIELDS.items():
            if self.target != target:
                del out[name]
        if self.target == "return":
            del out["target"]
        for name in UNCERTAINTY_FIELDS:
            if getattr(self, name) == _DEFAULTS[name]:
                del out[name]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ForecasterConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`InputError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(
                f"config has unknown field(s) {', '.join(unknown)}: "
                f"known are {', '.join(sorted(known))}"
            )
        return cls(**data)

    def to_json(self) -> str:
        """Canonical JSON text (sorted keys): equal configs give equal text."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of every field, in declaration order."""
        return tuple(f.name for f in fields(cls))

    def replace(self, **changes: Any) -> ForecasterConfig:
        """A copy with some fields changed (validated)."""
        return ForecasterConfig.from_dict({**self.to_dict(), **changes})


_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(ForecasterConfig)}
