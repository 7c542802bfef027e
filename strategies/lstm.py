"""``LSTMForecast``: the LSTM return forecast as an ordinary Backtrader indicator.

Two ways to get its models:

1. **fixed** — ``model=`` a fitted forecaster or a path saved by ``LSTMForecaster.save``: every
   forecast comes from that one model (a warning is logged where its training data overlaps the
   feed: those forecasts are in-sample);
2. **walk-forward** — ``forecaster=`` (an unfitted forecaster or a ``ForecasterConfig``) with
   ``schedule=`` (a :class:`~lstm_backtrader.models.schedule.WalkForwardSpec`), or a whole
   ``walkforward=`` :class:`~lstm_backtrader.models.walkforward.WalkForward`: at each bar the
   forecast comes from the latest model trained on bars strictly before it.

``once()`` (runonce, the default) computes everything in batched calls — one walk-forward run,
one batched predict per fold. ``next()`` (runonce=False, ``preload=False``, replay, live feeds)
works bar by bar: it trains a fold when the bar that starts it arrives (through the fold cache,
so the model is the very one ``once()`` would use) and forecasts each bar with the forecaster's
single-window ``predict_last`` (a compiled ``tf.function``, never ``model.predict`` per bar).
Both paths give the same values (tested to 1e-6).
"""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from lstm_backtrader.strategies.feeds import bar_times, feed_frame

logger = logging.getLogger(__name__)

_OHLCV = ("open", "high", "low", "close", "volume")


class LSTMForecast(bt.Indicator):
    """Forecast of the forward log return over the model's horizon, known at each bar's close.

    Lines
    -----
    forecast
        The predicted ``log(close[t+h] / close[t])`` (NaN where no model can forecast yet).
    fold
        The walk-forward fold whose model made the forecast (0 for a fixed model, -1 before
        the first model).
    age
        Bars since that model's training cutoff (0 on bars at or before it: for a fixed model
        those forecasts are in-sample, and a warning says so).
    """

    lines = ("forecast", "fold", "age")
    params = (
        ("model", None),  # fixed mode: a fitted forecaster or a path saved by .save()
        ("forecaster", None),  # walk-forward mode: an unfitted forecaster or a ForecasterConfig
        ("schedule", None),  # walk-forward mode: a WalkForwardSpec (None: its defaults)
        ("cache_dir", None),  # walk-forward: fold cache folder (None: a private temporary one)
        ("progress", None),  # walk-forward: progress(fold, n_folds, row) after each fold
        ("walkforward", None),  # walk-forward mode: a whole WalkForward engine instead
    )
    plotinfo = dict(subplot=True, plotname="LSTM forecast", plothlines=[0.0])
    plotlines = dict(
        forecast=dict(color="tab:blue", _name="forecast"),
        fold=dict(_plotskip=True),
        age=dict(_plotskip=True),
    )

    def __init__(self) -> None:
        self.result_: Any = None  # WalkForwardResult of the last walk-forward run
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if self.p.model is not None:
            self._mode = "fixed"
            self._model = self._load_fixed(self.p.model)
            self._cutoff = pd.Timestamp(self._model.train_range_[1])
            self._n_upto_cutoff: int | None = None
            self._warned_in_sample = False
            self.addminperiod(int(self._model.context_bars))
        else:
            self._mode = "walkforward"
            self._wf = self._make_walkforward()
            self._fold_model: Any = None
            self._fold: int = -1
            self._cutoff_pos: int = -1
            self.addminperiod(int(self._wf.schedule.train_bars) + 1)

    # ----------------------------------------------------------------------- set-up
    @staticmethod
    def _load_fixed(model: Any) -> Any:
        if isinstance(model, str | Path):
            from lstm_backtrader.models.factory import load_forecaster

            return load_forecaster(model)
        if not hasattr(model, "predict_last") or not hasattr(model, "train_range_"):
            raise TypeError("LSTMForecast(model=...) needs a fitted forecaster or a saved path")
        return model

    def _make_walkforward(self) -> Any:
        from lstm_backtrader.models.walkforward import WalkForward

        if self.p.walkforward is not None:
            return self.p.walkforward
        if self.p.forecaster is None:
            raise TypeError(
                "LSTMForecast needs model= (fixed) or forecaster=/walkforward= (walk-forward)"
            )
        return WalkForward(
            self.p.forecaster,
            self.p.schedule,
            cache_dir=self.p.cache_dir,
            progress=self.p.progress,
        )

    def _cached_walkforward(self) -> Any:
        """The walk-forward with a cache dir: ``next()`` needs the fold models on disk."""
        if self._wf.cache_dir is not None:
            return self._wf
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lstmforecast-")
        return self._wf.replace(cache_dir=self._tmp.name)

    # ----------------------------------------------------------------------- data
    def _frame(self, stop: int) -> pd.DataFrame:
        """Bars ``0..stop-1`` from the preloaded arrays (runonce), indexed by open time."""
        arrays = {c: getattr(self.data, c).array[:stop] for c in _OHLCV}
        return _to_frame(bar_times(self.data, self.data.datetime.array[:stop]), arrays)

    def _frame_tail(self, size: int | None = None) -> pd.DataFrame:
        """The last ``size`` bars seen so far (all of them for ``None``)."""
        return feed_frame(self.data, size)

    # ----------------------------------------------------------------------- runonce
    def oncestart(self, start: int, end: int) -> None:
        # Backtrader calls oncestart for the first bar, then once for the rest: compute every
        # bar in one batched pass here (values at bar i use bars <= i only either way)
        self._once_until = int(self.data.buflen())
        self._compute(start, self._once_until)

    def once(self, start: int, end: int) -> None:
        if end > getattr(self, "_once_until", 0):
            self._compute(start, end)

    def _compute(self, start: int, end: int) -> None:
        frame = self._frame(end)
        fc, fold, age = self.lines.forecast.array, self.lines.fold.array, self.lines.age.array
        if self._mode == "fixed":
            values = self._model.predict(frame).to_numpy(dtype="float64")
            cut = int(frame.index.searchsorted(self._cutoff, side="right")) - 1
            for i in range(start, end):
                fc[i] = float(values[i])
                fold[i] = 0.0 if math.isfinite(values[i]) else -1.0
                age[i] = float(max(0, i - cut))
            self._warn_in_sample(frame.index[start:end][frame.index[start:end] <= self._cutoff])
            return
        result = self._wf.run(frame)
        self.result_ = result
        values = result.forecasts.to_numpy(dtype="float64")
        folds = result.fold_id.to_numpy()
        ages = result.age.to_numpy()
        for i in range(start, end):
            fc[i] = float(values[i])
            fold[i] = float(folds[i])
            age[i] = float(ages[i])

    # ----------------------------------------------------------------------- bar by bar
    def next(self) -> None:
        if self._mode == "fixed":
            self._next_fixed()
        else:
            self._next_walkforward()

    def _next_fixed(self) -> None:
        model = self._model
        tail = self._frame_tail(int(model.context_bars))
        now = tail.index[-1]
        if self._n_upto_cutoff is None:  # first call: count the history seen in prenext too
            self._n_upto_cutoff = int((self._frame_tail().index <= self._cutoff).sum())
        elif now <= self._cutoff:
            self._n_upto_cutoff += 1
        value = float(model.predict_last(tail))
        self.lines.forecast[0] = value
        self.lines.fold[0] = 0.0 if math.isfinite(value) else -1.0
        self.lines.age[0] = float(max(0, len(self.data) - self._n_upto_cutoff))
        if now <= self._cutoff:
            self._warn_in_sample(pd.DatetimeIndex([now]))

    def _next_walkforward(self) -> None:
        i = len(self.data) - 1
        schedule = self._wf.schedule
        if schedule.starts_fold(i) and schedule.fold_of(i) > self._fold:
            result = self._cached_walkforward().run(self._frame_tail())
            self.result_ = result
            self._fold = int(result.fold_id.iloc[-1])
            self._cutoff_pos = i - int(result.age.iloc[-1])
            from lstm_backtrader.models.factory import load_forecaster

            self._fold_model = load_forecaster(result.model_paths[self._fold])
            self.lines.forecast[0] = float(result.forecasts.iloc[-1])
        else:
            tail = self._frame_tail(int(self._fold_model.context_bars))
            self.lines.forecast[0] = float(self._fold_model.predict_last(tail))
        self.lines.fold[0] = float(self._fold)
        self.lines.age[0] = float(i - self._cutoff_pos)

    def _warn_in_sample(self, stamps: pd.DatetimeIndex) -> None:
        if len(stamps) and not self._warned_in_sample:
            self._warned_in_sample = True
            logger.warning(
                "LSTMForecast: the fixed model was trained on data up to %s; forecasts on bars "
                "up to then (first %s) are in-sample, not out-of-sample",
                self._cutoff.isoformat(),
                stamps[0].isoformat(),
            )


def _to_frame(index: pd.DatetimeIndex, arrays: dict[str, Any]) -> pd.DataFrame:
    cols = {c: np.asarray(v, dtype="float64") for c, v in arrays.items()}
    return pd.DataFrame(cols, index=index)
