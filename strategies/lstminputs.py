"""What ``LSTMForecast`` (:mod:`lstm_backtrader.strategies.lstm`) is given, checked: its feed
(a data feed, with the extra lines its model reads), its parameters (a fixed model or
walk-forward) and a fixed model's file. Each problem is one :class:`InputError` line.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import backtrader as bt

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.features import FEATURE_REGISTRY
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.persist import sidecar_path
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.strategies.bartail import OHLCV

logger = logging.getLogger(__name__)

WALKFORWARD_ONLY = ("forecaster", "schedule", "cache_dir", "progress", "intervals", "walkforward")


def check_feed(data: Any) -> None:
    """The indicator reads OHLCV and times: it needs a data feed, not one of its lines."""
    lines = getattr(data, "lines", None)
    missing = [n for n in ("datetime", *OHLCV) if not hasattr(lines, n)]
    if missing:
        single = isinstance(data, bt.LineSingle | bt.lineseries.LineSeriesStub)
        what = "a single line" if single else f"a {type(data).__name__} without {missing[0]!r}"
        raise InputError(
            f"LSTMForecast needs a data feed with open, high, low, close and volume lines; it "
            f"got {what}: pass the feed, LSTMForecast(self.data, ...) or "
            "LSTMForecast(self.datas[i], ...), not one of its lines such as self.data.close"
        )


def feed_columns(data: Any, forecaster: Any) -> tuple[str, ...]:
    """OHLCV, then the feed's extra lines the forecaster reads: its features that are columns
    (not registered features) and the columns its target reads beyond OHLCV (e.g. a
    realised-variance column); a one-line InputError when the feed lacks one."""
    from lstm_backtrader.models.targets import label_columns

    names = [str(f) for f in getattr(forecaster, "features", ()) if f not in FEATURE_REGISTRY]
    config = getattr(forecaster, "config", None)
    if config is not None:
        names += [str(c) for c in label_columns(config)]
    extra = tuple(dict.fromkeys(n for n in names if n not in OHLCV))
    have = tuple(data.lines.getlinealiases())
    for name in extra:
        if name not in have:
            raise InputError(
                f"LSTMForecast: the model reads the column {name!r}, which feed "
                f"{data._name or type(data).__name__!r} has no line for (its lines: "
                f"{', '.join(have)}); build the feed with candles_feed(frame) from a frame with "
                f"that column, or add a line {name!r} to your feed class"
            )
    if extra and getattr(data, "resampling", 0):
        raise InputError(
            f"LSTMForecast: the model reads the column {extra[0]!r}, but feed "
            f"{data._name or type(data).__name__!r} is resampled or replayed, and Backtrader "
            "builds only OHLCV when it resamples (extra lines come out NaN, or stale under "
            "replay); resample the candle frame (each extra column as it should be "
            "aggregated) yourself and feed the result"
        )
    return (*OHLCV, *extra)


def check_mode(p: Any) -> str:
    """``'fixed'`` or ``'walkforward'`` from the parameters, or a one-line InputError."""
    from lstm_backtrader.models.walkforward import WalkForward

    given = [name for name in WALKFORWARD_ONLY if getattr(p, name) is not None]
    if p.model is not None:
        if given:
            raise InputError(
                f"LSTMForecast got model= and {given[0]}=: pass model= alone for a fixed model, "
                "or forecaster= and schedule= (or walkforward=) alone to train walk-forward"
            )
        return "fixed"
    if p.walkforward is not None:
        if not isinstance(p.walkforward, WalkForward):
            raise InputError(
                f"LSTMForecast(walkforward=...) is a {type(p.walkforward).__name__}: pass a "
                "WalkForward(forecaster, schedule, cache_dir=...), or forecaster= and schedule="
            )
        if len(given) > 1:
            others = [n for n in given if n != "walkforward"]
            raise InputError(
                f"LSTMForecast got walkforward= and {others[0]}=: the WalkForward already holds "
                "its forecaster, schedule, cache and progress; pass it alone"
            )
        return "walkforward"
    if p.schedule is not None and not isinstance(p.schedule, WalkForwardSpec):
        raise InputError(
            f"LSTMForecast(schedule=...) is a {type(p.schedule).__name__}: pass a "
            "WalkForwardSpec, e.g. WalkForwardSpec(train_bars=730, retrain_every=30)"
        )
    if p.forecaster is None:
        raise InputError(
            "LSTMForecast needs model= (a fixed, fitted model or its .keras path) or "
            "forecaster= with schedule= (walk-forward training)"
        )
    if isinstance(p.forecaster, dict | str | Path):
        raise InputError(
            f"LSTMForecast(forecaster=...) is a {type(p.forecaster).__name__}: pass a "
            "ForecasterConfig(...) or an unfitted forecaster such as LSTMForecaster(lookback=60)"
            "; a saved model goes to model="
        )
    return "walkforward"


def load_fixed(model: Any) -> Any:
    """The fixed model: a fitted forecaster, or loaded from the path ``save`` wrote."""
    if isinstance(model, str | Path):
        path = Path(model)
        if not path.exists() and not sidecar_path(path).exists():
            raise InputError(
                f"LSTMForecast(model={str(model)!r}): {path} not found; pass the path of the "
                ".keras file LSTMForecaster.save wrote, or a fitted forecaster"
            )
        from lstm_backtrader.models.factory import load_forecaster

        return load_forecaster(path)
    if isinstance(model, ForecasterConfig) or not hasattr(model, "predict_last"):
        raise InputError(
            f"LSTMForecast(model=...) is a {type(model).__name__}: pass a fitted forecaster or "
            "the .keras path of a saved one; to train walk-forward, pass it as forecaster="
        )
    if not hasattr(model, "train_range_"):
        raise InputError(
            f"LSTMForecast(model=...) is an unfitted {type(model).__name__}: fit it first, or "
            "pass it as forecaster= with schedule= to train it walk-forward"
        )
    return model


__all__ = ["WALKFORWARD_ONLY", "check_feed", "check_mode", "feed_columns", "load_fixed"]
