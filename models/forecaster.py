"""The forecaster protocol every forecaster implements (LSTM, baselines, a user's own), and the
hyperparameter plumbing the built-in ones share.

A forecaster is a scikit-learn-style estimator of ``target_fwd_ret_{h}``: its constructor only
stores hyperparameters (one frozen :class:`~lstm_backtrader.models.config.ForecasterConfig`),
:meth:`~Forecaster.fit` returns ``self``, fitted state ends in ``_``, and :func:`clone` gives an
unfitted copy with the same hyperparameters (what each walk-forward fold starts from).
No TensorFlow import here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import pandas as pd

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

F = TypeVar("F", bound="ConfiguredForecaster")


@runtime_checkable
class Forecaster(Protocol):
    """What the walk-forward engine, the indicator and the reports need of a forecaster."""

    @property
    def config(self) -> ForecasterConfig:
        """Hyperparameters; part of every fold-cache key."""
        ...

    @property
    def context_bars(self) -> int:
        """Bars of history one forecast needs (lookback + feature warm-up)."""
        ...

    def fit(self, candles: pd.DataFrame, **kwargs: Any) -> Forecaster:
        """Fit on every label inside ``candles``; returns ``self``."""
        ...

    def predict(self, candles: pd.DataFrame) -> pd.Series:
        """Forecast known at the close of each bar, indexed like ``candles`` (NaN where none)."""
        ...

    def predict_last(self, candles_tail: pd.DataFrame) -> float:
        """Forecast for the last bar of ``candles_tail`` (bar-by-bar path)."""
        ...

    def save(self, path: str | Path) -> Path:
        """Write the fitted forecaster (``.keras`` and/or its JSON sidecar); no pickle."""
        ...

    def model_hash(self) -> str:
        """SHA-256 identity of the fitted state."""
        ...

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Hyperparameters: ``type(self)(**get_params())`` is an unfitted copy (:func:`clone`)."""
        ...

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """Load what :meth:`save` wrote (each walk-forward fold's model is reloaded this way)."""
        ...


def clone(forecaster: Any) -> Any:
    """An unfitted forecaster with the same hyperparameters (scikit-learn's ``clone``)."""
    return type(forecaster)(**forecaster.get_params())


class ConfiguredForecaster:
    """Hyperparameters held in one frozen :class:`ForecasterConfig`, scikit-learn style.

    ``Cls(config=None, **params)``: ``params`` override fields of ``config`` (or of the
    defaults); they are validated at once. Every config field is readable as an attribute
    (``forecaster.lookback``); :meth:`get_params` / :meth:`set_params` work like scikit-learn's.
    Subclasses set :attr:`kind` and may narrow :attr:`param_names` to the fields they use.
    """

    kind: ClassVar[str] = ""
    #: Config fields this forecaster uses (``None``: every field but ``kind``).
    param_names: ClassVar[tuple[str, ...] | None] = None
    #: Whether ``fit`` accepts ``init_weights_from=`` (walk-forward warm start).
    supports_warm_start: ClassVar[bool] = False
    #: Distributions whose versions key the fold cache beside numpy and pandas.
    depends_on: ClassVar[tuple[str, ...]] = ()
    #: Config fields this kind sets unless given (e.g. ``target`` of a volatility baseline).
    default_params: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: ForecasterConfig | None = None, **params: Any) -> None:
        if config is not None and config.kind != self.kind:
            raise InputError(
                f"config kind is {config.kind!r}: {type(self).__name__} needs {self.kind!r}"
            )
        unknown = sorted(set(params) - set(self._names()))
        if unknown:
            raise InputError(
                f"{type(self).__name__} has no parameter {unknown[0]!r}; "
                f"known: {', '.join(self._names())}"
            )
        if config is None:
            config = ForecasterConfig(kind=self.kind, **{**self.default_params, **params})
        elif params:
            config = config.replace(**params)
        self.config = self._normalise(config)

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        if cls.param_names is not None:
            return cls.param_names
        return tuple(n for n in ForecasterConfig.field_names() if n != "kind")

    @classmethod
    def _normalise(cls, config: ForecasterConfig) -> ForecasterConfig:
        """The config as this forecaster sees it (fields it does not use at their defaults)."""
        if cls.param_names is None:
            return config
        return ForecasterConfig(kind=cls.kind, **{n: getattr(config, n) for n in cls.param_names})

    @classmethod
    def from_config(cls: type[F], config: ForecasterConfig) -> F:
        """An unfitted forecaster of ``config`` (which must be of this kind)."""
        return cls(config)

    def __getattr__(self, name: str) -> Any:
        # hyperparameters read through from the config (only called when normal lookup fails)
        config = self.__dict__.get("config")
        if config is not None and not name.startswith("_") and name in self._names():
            return getattr(config, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Hyperparameters as a dict (scikit-learn style)."""
        return {n: getattr(self.config, n) for n in self._names()}

    def set_params(self: F, **params: Any) -> F:
        """Change hyperparameters (validated); returns ``self``. Fitted state is kept until the
        next ``fit``."""
        unknown = sorted(set(params) - set(self._names()))
        if unknown:
            raise InputError(f"{type(self).__name__} has no parameter {unknown[0]!r}")
        self.config = self._normalise(self.config.replace(**params))
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
