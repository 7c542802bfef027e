"""Frozen, JSON-serialisable forecaster configurations (the one declaration of every
forecaster hyperparameter; :mod:`~lstm_backtrader.models.factory` builds forecasters from them).

A :class:`ForecasterConfig` is what travels between processes (walk-forward folds, later Dask
workers): plain numbers, strings and tuples, round-tripped exactly by
:meth:`ForecasterConfig.to_dict` / :meth:`ForecasterConfig.from_dict`. No TensorFlow import.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields
from typing import Any

from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

#: Forecaster kinds :func:`~lstm_backtrader.models.factory.build_forecaster` knows.
KINDS: tuple[str, ...] = ("lstm", "persistence", "drift")

DEFAULT_FEATURES: tuple[str, ...] = ("log_return", "hl_range", "log_volume_change")


@dataclass(frozen=True)
class ForecasterConfig:
    """Hyperparameters of one forecaster (LSTM or baseline).

    Attributes
    ----------
    kind
        ``'lstm'``, ``'persistence'`` or ``'drift'``.
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

    def __post_init__(self) -> None:
        # normalise lists (from JSON) to tuples so configs hash and compare equal
        object.__setattr__(self, "features", tuple(str(f) for f in self.features))
        object.__setattr__(self, "units", tuple(int(u) for u in self.units))
        if self.kind not in KINDS:
            raise InputError(f"config field 'kind' is {self.kind!r}: use one of {', '.join(KINDS)}")
        for name in ("lookback", "horizon", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"config field {name!r} is {value!r}: use an integer >= 1")
        if not isinstance(self.patience, int) or self.patience < 0:
            raise InputError(f"config field 'patience' is {self.patience!r}: use an integer >= 0")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise InputError(f"config field 'seed' is {self.seed!r}: use an integer")
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
        if not float(self.learning_rate) > 0:
            raise InputError(
                f"config field 'learning_rate' is {self.learning_rate!r}: use a positive number"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (tuples become lists)."""
        out = asdict(self)
        out["features"] = list(self.features)
        out["units"] = list(self.units)
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
