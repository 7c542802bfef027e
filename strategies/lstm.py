"""``LSTMForecast``: the LSTM return forecast as an ordinary Backtrader indicator.

Two ways to get its models:

1. **fixed** — ``model=`` a fitted forecaster or a path saved by ``LSTMForecaster.save``: every
   forecast comes from that one model (a warning is logged where its training data overlaps the
   feed: those forecasts are in-sample);
2. **walk-forward** — ``forecaster=`` (an unfitted forecaster or a ``ForecasterConfig``) with
   ``schedule=`` (a :class:`~lstm_backtrader.models.schedule.WalkForwardSpec`), or a whole
   ``walkforward=`` :class:`~lstm_backtrader.models.walkforward.WalkForward`: at each bar the
   forecast comes from the latest model trained on bars strictly before it. ``switches=`` (a
   :class:`~lstm_backtrader.models.schedule.ModelSwitches`, a paper session's record) delays
   when each fold's model takes over; the model before forecasts until then.

Every run mode gives the same values (tested: preload, runonce, ``exactbars`` 0, -1, -2 and 1).
``once()`` (runonce, the default) computes everything in batched calls — one walk-forward run,
one batched predict per fold. ``next()`` (runonce=False, ``preload=False``, any ``exactbars``,
replay, live feeds) works bar by bar from the bars it keeps itself
(:class:`~lstm_backtrader.strategies.bartail.BarTail`: the forecast's context and, walk-forward,
the training window), never from Backtrader's lines beyond the current bar: it gets each fold's
model when the bar that starts it arrives
(:class:`~lstm_backtrader.strategies.foldsource.FoldModels`: the very model ``once()`` uses,
through the fold cache) and forecasts each bar with the
forecaster's single-window ``predict_last`` (a compiled ``tf.function``, never ``model.predict``
per bar). Times are bars' open times (:mod:`lstm_backtrader.strategies.feeds`).

Columns beyond OHLCV that the model reads (features that are columns of the candle frame, a
column its target reads) come from the feed's extra lines of the same names
(:func:`~lstm_backtrader.strategies.feeds.candles_feed` makes them), in both paths
(:func:`~lstm_backtrader.strategies.lstminputs.feed_columns` checks the feed has them).
With an ensemble or Monte-Carlo dropout, ``next()`` forecasts each bar with every member's fold
model (:class:`~lstm_backtrader.strategies.foldsource.MemberFolds`) and combines them as the
batched engine does.
"""

from __future__ import annotations

import logging
from array import array
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from lstm_backtrader.models.features import OHLCV_FEATURES
from lstm_backtrader.strategies.bartail import (
    OHLCV,
    BarTail,
    FeedIssues,
    IssueCounter,
    candle_frame,
    missing_between,
    scan,
    window_gaps,
)
from lstm_backtrader.strategies.feeds import (
    bar_length,
    bar_times_ns,
    frame_unit,
    held_bars,
    mark_issues_reported,
)
from lstm_backtrader.strategies.lstminputs import (
    check_feed,
    check_mode,
    feed_columns,
    load_fixed,
)

logger = logging.getLogger(__name__)


class LSTMForecast(bt.Indicator):
    """Forecast of the model's target over its horizon h, known at each bar's close.

    Lines
    -----
    forecast
        The model's raw forecast (NaN where no model can forecast yet, or where the input
        window holds a NaN bar): for target ``'return'`` the predicted
        ``log(close[t+h] / close[t])``; ``'direction'`` the probability below; ``'volatility'``
        the predicted log realised volatility of the next h bars.
    prob
        Target ``'direction'``: the probability that the next h-bar log return exceeds the
        model's ``direction_threshold`` (in [0, 1]); NaN for the other targets.
    vol
        Target ``'volatility'``: the forecast volatility ``exp(forecast)``, the standard
        deviation of log returns over the next h bars, **per h bars, not annualised** (a
        fraction: 0.03 is 3%; multiply by ``sqrt(periods_per_year / h)`` to annualise); NaN
        for the other targets.
    fold
        The walk-forward fold whose model made the forecast (0 for a fixed model), -1 before
        the first model (while the first window fills, and walk-forward before the first fold).
    age
        Bars since that model's training cutoff (-1 where ``fold`` is -1). For a fixed model,
        0 on bars that opened at or before the last bar it was trained on: those forecasts are
        in-sample, and a warning says so. Counted in bars (not ticks) from bar times.
    gap
        1.0 where the forecast's input window (its last ``context_bars`` bars) crosses a hole in
        the feed's time grid, 0.0 otherwise (bars <= t only). Holes and NaN bars are also
        counted (:attr:`issues_`) and logged once per feed.
    lower, upper
        Walk-forward with intervals (``WalkForward(..., intervals=IntervalSpec(level=0.9))``):
        the conformal interval of the forecast (in the forecast's units: a log return, a log
        volatility), from the absolute errors of past forecasts whose targets were realised
        by bar t only (:mod:`~lstm_backtrader.models.conformal`); NaN while too few are known,
        for a direction probability, and without intervals.
    spread
        With an ensemble or MC dropout (``[model] ensemble``, ``mc_dropout``): the standard
        deviation of the members' forecasts, widened by their MC dropout spreads (every run
        mode: bar by bar from every member's fold model); NaN otherwise.
    """

    lines = ("forecast", "fold", "age", "gap", "prob", "vol", "lower", "upper", "spread")
    params = (
        ("model", None),  # fixed: a fitted forecaster or the .keras path LSTMForecaster.save wrote
        ("forecaster", None),  # walk-forward: a ForecasterConfig or an unfitted forecaster
        ("schedule", None),  # walk-forward: a WalkForwardSpec (None: its defaults)
        ("cache_dir", None),  # walk-forward: fold cache folder (None: a private temporary one)
        ("progress", None),  # walk-forward: progress(fold, n_folds, row) after each fold
        ("intervals", None),  # walk-forward: an IntervalSpec (conformal lower/upper lines)
        ("walkforward", None),  # walk-forward: a whole WalkForward engine instead of the above
        ("switches", None),  # walk-forward: when each fold's model took over (ModelSwitches)
    )
    plotinfo = dict(subplot=True, plotname="LSTM", plothlines=[0.0], plotyhlines=[0.0])
    plotlines = dict(
        forecast=dict(color="tab:blue", _name="forecast"),
        fold=dict(_plotskip=True),
        age=dict(_plotskip=True),
        gap=dict(_plotskip=True),
        prob=dict(color="tab:green", _name="P(up)"),
        vol=dict(color="tab:red", _name="vol per bar"),
        lower=dict(color="tab:blue", ls="--", _name="lower"),
        upper=dict(color="tab:blue", ls="--", _name="upper"),
        spread=dict(_plotskip=True),
    )

    def _plotlabel(self) -> list[Any]:
        return [self._label]  # "fixed" or "wf 730/30": never the parameters' long reprs

    def __init__(self) -> None:
        check_feed(self.data)
        self.result_: Any = None  # WalkForwardResult of the batched (runonce) run
        self.issues_ = FeedIssues()  # holes and NaN bars of the feed seen so far
        self._rows: list[dict[str, Any]] = []  # folds met bar by bar
        step = bar_length(self.data)
        self._step_ns = None if step is None else int(step.value)
        unit = frame_unit(self.data)
        if check_mode(self.p) == "fixed":
            self._mode = "fixed"
            self._model = load_fixed(self.p.model)
            self._cutoff_ns = pd.Timestamp(self._model.train_range_[1]).as_unit("ns").value
            self._context = int(self._model.context_bars)
            self._columns = feed_columns(self.data, self._model)
            self._tail = BarTail(self._context, unit, self._columns)
            self._label = "fixed"
            self._warned_in_sample = False
            self.addminperiod(self._context)
        else:
            self._mode = "walkforward"
            self._wf = self._make_walkforward()
            spec = self._wf.schedule
            self._context = int(self._wf.forecaster.context_bars)
            from lstm_backtrader.strategies.foldsource import tail_bars

            self._columns = feed_columns(self.data, self._wf.forecaster)
            self._tail = BarTail(tail_bars(self._wf), unit, self._columns)
            self._folds: Any = None  # MemberFolds, made on the first fold of a bar-by-bar run
            self._current: Any = None  # FoldModel in use (member 0's with an ensemble)
            self._pending: dict[int, pd.DataFrame] = {}  # folds begun, not switched to: windows
            self._boundary = -1  # the last fold whose first forecast bar was seen
            self._label = f"wf {spec.train_bars}/{spec.retrain_every}" + (
                " expanding" if spec.expanding else ""
            )
            self.addminperiod(int(spec.train_bars) + 1)
        self._target = str(getattr(self._forecaster_config(), "target", "return"))
        self._intervals = self._bar_intervals()
        config = self._forecaster_config()
        self._mc = int(getattr(config, "mc_dropout", 0) or 0) if self._mode != "fixed" else 0
        ensemble = int(getattr(config, "ensemble", 1) or 1) if self._mode != "fixed" else 1
        self._combined = bool(self._mc) or ensemble > 1  # bar by bar: members and/or MC
        self._plot_target()
        self._extra = self._columns[len(OHLCV) :]  # extra feed lines the model reads
        self._fast = not self._extra  # bar-by-bar: OHLCV rows only (no frame for extras)
        self._counter = IssueCounter(self._step_ns, self._context)
        self._seen = 0  # bars of the feed taken into the tail
        self._after_cutoff = 0  # fixed: bars opened after the model's training cutoff
        self._done = 0  # runonce: bars computed

    # ----------------------------------------------------------------------- set-up
    def _forecaster_config(self) -> Any:
        """The forecaster's :class:`ForecasterConfig` (``None`` for a user's model without)."""
        owner = self._model if self._mode == "fixed" else self._wf.forecaster
        return getattr(owner, "config", None)

    def _bar_intervals(self) -> Any:
        """The bar-by-bar conformal intervals (``None`` without: fixed model, intervals off,
        a direction probability)."""
        spec = None if self._mode == "fixed" else getattr(self._wf, "intervals", None)
        if spec is None or not spec.on or self._target == "direction":
            return None
        from lstm_backtrader.strategies.barintervals import BarIntervals

        return BarIntervals(self._wf.config, spec)

    def _plot_target(self) -> None:
        """Draw the line of the target (this instance's plotlines only): the forecast for a
        return, the probability (with a 0.5 line) or the volatility for the others; the
        interval around a return forecast."""
        if self._intervals is None or self._target != "return":
            self.plotlines.lower._plotskip = True
            self.plotlines.upper._plotskip = True
        if self._target == "return":
            self.plotlines.prob._plotskip = True
            self.plotlines.vol._plotskip = True
            return
        self.plotlines.forecast._plotskip = True
        other = "vol" if self._target == "direction" else "prob"
        getattr(self.plotlines, other)._plotskip = True
        self.plotinfo.plothlines = [0.5] if self._target == "direction" else []
        self.plotinfo.plotyhlines = self.plotinfo.plothlines

    def _target_lines(self, forecast: np.ndarray | float) -> tuple[Any, Any]:
        """``prob`` and ``vol`` of a forecast (NaN for the targets they are not)."""
        nan = np.full_like(np.asarray(forecast, dtype=np.float64), np.nan)
        if self._target == "direction":
            return forecast, nan
        if self._target == "volatility":
            return nan, np.exp(np.asarray(forecast, dtype=np.float64))
        return nan, nan

    def _make_walkforward(self) -> Any:
        from lstm_backtrader.models.walkforward import WalkForward

        if self.p.walkforward is not None:
            wf = self.p.walkforward
            return wf if self.p.switches is None else wf.replace(switches=self.p.switches)
        return WalkForward(
            self.p.forecaster,
            self.p.schedule,
            cache_dir=self.p.cache_dir,
            progress=self.p.progress,
            intervals=self.p.intervals,
            switches=self.p.switches,
        )

    @property
    def bars_kept(self) -> int | None:
        """Bars the bar-by-bar path keeps (``None``: all of them, for an expanding window)."""
        return self._tail.capacity

    @property
    def folds_(self) -> pd.DataFrame:
        """One row per fold (the engine's fold columns): the batched run's, or bar by bar the
        folds met so far (what is known when a fold starts; forecast metrics NaN)."""
        from lstm_backtrader.models.walkforward import FOLD_COLUMNS

        if self.result_ is not None:
            return self.result_.folds
        return pd.DataFrame(self._rows, columns=list(FOLD_COLUMNS))

    # ----------------------------------------------------------------------- runonce
    def preonce(self, start: int, end: int) -> None:
        # Backtrader calls preonce, oncestart and once in turn: the first computes every bar in
        # one batched pass (values at bar i use bars <= i only either way)
        self._once_all()

    def oncestart(self, start: int, end: int) -> None:
        self._once_all()

    def once(self, start: int, end: int) -> None:
        self._once_all()

    def _once_all(self) -> None:
        n = int(self.data.buflen())
        if self._done >= n:
            return
        data = self.data
        times = bar_times_ns(data, data.datetime.array[:n])
        values = np.column_stack(
            [np.asarray(getattr(data.lines, c).array[:n]) for c in self._columns]
        )
        frame = candle_frame(times, values, self._tail.unit, self._columns)
        values = values[:, : len(OHLCV)]  # holes and NaN bars: those of the candles
        positions = np.arange(n)
        if self._mode == "fixed":
            fc = self._model.predict(frame).to_numpy(dtype="float64")
            fold = np.where(positions >= self._minperiod - 1, 0, -1)
            cut = int(np.searchsorted(times, self._cutoff_ns, side="right")) - 1
            age = np.where(fold >= 0, np.maximum(0, positions - cut), -1)
            in_sample = (fold >= 0) & (times <= self._cutoff_ns)
            if in_sample.any():
                self._warn_in_sample(int(times[np.flatnonzero(in_sample)[0]]))
        else:
            result = self._wf.run(frame)
            self.result_ = result
            fc = result.forecasts.to_numpy(dtype="float64")
            fold, age = result.fold_id.to_numpy(), result.age.to_numpy()
        gap = window_gaps(missing_between(times, self._step_ns), self._context)
        prob, vol = self._target_lines(fc)
        nan = np.full(n, np.nan)
        extra = [getattr(self.result_, name, None) for name in ("lower", "upper", "spread")]
        lower, upper, spread = (nan if x is None else x.to_numpy(dtype="float64") for x in extra)
        for line, src in ((self.lines.forecast, fc), (self.lines.fold, fold),
                          (self.lines.age, age), (self.lines.gap, gap),
                          (self.lines.prob, prob), (self.lines.vol, vol),
                          (self.lines.lower, lower), (self.lines.upper, upper),
                          (self.lines.spread, spread)):  # fmt: skip
            line.array[0:n] = array("d", np.asarray(src, dtype=np.float64)[:n])
        self._done = n
        self.issues_ = scan(times, values, self._step_ns)
        self._report(self.issues_, complete=True)

    # ----------------------------------------------------------------------- bar by bar
    def prenext(self) -> None:
        if self._take_bar() is not None:
            self._write(float("nan"), -1, -1)

    def next(self) -> None:
        new = self._take_bar()
        if new is None:
            return  # the feed did not move (another feed did): nothing changed
        i = len(self.data) - 1
        if self._mode == "fixed":
            model = self._model
            now = int(self._tail.times(1)[0])
            if now <= self._cutoff_ns:
                self._warn_in_sample(now)
            age = self._after_cutoff
        else:
            fold = self._wf.schedule.fold_of(i)
            if fold > self._boundary:  # bar i is fold `fold`'s first forecast bar
                self._boundary = fold
                self._pending[fold] = self._tail.frame()
                self._begin(fold)
            self._switch()
            if self._current is None:
                self._write(float("nan"), -1, -1)
                return
            self._current.row["last_forecast"] = pd.Timestamp(int(self._tail.times(1)[0]), tz="UTC")
            age = i - self._cutoff_pos
            if self._combined:
                value, spread = self._forecast_members()
                self._write(value, self._current.fold, age, spread)
                return
            model = self._current.model
        value = self._forecast_last(model)
        self._write(value, 0 if self._mode == "fixed" else self._current.fold, age)

    def _forecast_members(self) -> tuple[float, float]:
        """Forecast and spread of the bar from every ensemble member's model (each one's
        Monte-Carlo dropout mean and spread with ``mc_dropout``), as the batched engine
        combines them (:func:`~lstm_backtrader.models.ensemble.combine`)."""
        from lstm_backtrader.models.ensemble import combine
        from lstm_backtrader.models.mcdropout import mc_dropout_last

        frame = self._tail.frame(self._context)
        means, spreads = [], []
        for member in self._folds.current:
            if self._mc:
                mean, spread = mc_dropout_last(member.model, frame, self._mc)
                means.append(np.array([mean]))
                spreads.append(np.array([spread]))
            else:
                means.append(np.array([float(member.model.predict_last(frame))]))
                spreads.append(None)
        if len(means) == 1:
            return float(means[0][0]), float(spreads[0][0])
        mean, spread = combine(means, spreads)
        return float(mean[0]), float(spread[0])

    def _forecast_last(self, model: Any) -> float:
        """The model's forecast for the newest bar held: from the bare OHLCV rows when the
        model takes them and its features need nothing else (no frame built: the per-bar
        cost), else from a candle frame of the tail."""
        fast = getattr(model, "predict_last_values", None)
        features = getattr(model, "features", ())
        if self._fast and fast is not None and all(f in OHLCV_FEATURES for f in features):
            return float(fast(self._tail.values(self._context)))
        return float(model.predict_last(self._tail.frame(self._context)))

    def _write(self, forecast: float, fold: int, age: int, spread: float = float("nan")) -> None:
        self.lines.forecast[0] = forecast
        prob, vol = self._target_lines(forecast)
        self.lines.prob[0] = float(prob)
        self.lines.vol[0] = float(vol)
        self.lines.fold[0] = float(fold)
        self.lines.age[0] = float(age)
        self.lines.gap[0] = self._counter.gap(len(self.data) - 1)
        lower = upper = float("nan")
        if self._intervals is not None:
            lower, upper = self._intervals.interval(forecast)
        self.lines.lower[0] = lower
        self.lines.upper[0] = upper
        self.lines.spread[0] = spread

    def _take_bar(self) -> bool | None:
        """Copy the current bar into the tail: ``True`` for a new bar, ``False`` for a replayed
        bar's new tick, ``None`` when the feed has not moved."""
        data = self.data
        n = len(data)
        if n <= self._seen:
            if not getattr(data, "replaying", 0):
                return None
            values = self._row(data, 0)
            self._tail.replace_last(int(bar_times_ns(data, [data.datetime[0]])[0]), values)
            self._counter.update(values if self._fast else values[:5])
            return False
        if not self._seen:
            self._scan_preloaded()
        for ago in range(min(n - self._seen, held_bars(data, self._extra)) - 1, -1, -1):
            if self._fast:  # OHLCV only: the per-bar cost of before
                values = tuple(float(getattr(data, c)[-ago]) for c in OHLCV)
            else:
                values = self._row(data, ago)
            time_ns = int(bar_times_ns(data, [data.datetime[-ago]])[0])
            prev = int(self._tail.times(1)[0]) if len(self._tail) else None
            self._tail.push(time_ns, values)
            if self._intervals is not None:
                self._intervals.new_bar(self._tail)  # bar t - h's realised target, known now
                if ago:
                    self._intervals.interval(float("nan"))  # a bar this path never forecast
            self._counter.add(n - 1 - ago, time_ns, prev, values if self._fast else values[:5])
            if self._mode == "fixed" and time_ns > self._cutoff_ns:
                self._after_cutoff += 1
        self._seen = n
        self.issues_ = self._counter.issues
        self._report(self.issues_, complete=False)
        return True

    def _row(self, data: Any, ago: int) -> tuple[float, ...]:
        """The feed's bar ``ago`` bars back: OHLCV and the extra lines the model reads."""
        lines = data.lines
        return tuple(float(getattr(lines, c)[-ago]) for c in self._columns)

    def _begin(self, fold: int) -> None:
        """Tell a live switch record that fold ``fold`` begins (its ``begin(fold, bar open ns,
        job)``, ``job()`` the :class:`~lstm_backtrader.strategies.foldsource.FoldJob` of the
        pending folds) so that it can train them elsewhere and record when they are ready."""
        begin = getattr(self._wf.switches, "begin", None)
        if begin is not None:
            from lstm_backtrader.strategies.foldsource import MemberFolds

            self._folds = self._folds or MemberFolds(self._wf)
            begin(fold, int(self._tail.times(1)[0]), lambda: self._folds.job(
                sorted(self._pending.items())))  # fmt: skip

    def _switch(self) -> None:
        """Take over the pending folds whose time has come: each on its first forecast bar,
        or with ``switches`` from the bar it records (the previous model forecasts until then;
        the fold's window is the one kept when its first forecast bar arrived)."""
        now = int(self._tail.times(1)[0])
        switches = self._wf.switches
        for fold in sorted(self._pending):
            at = None if switches is None else switches.at(fold)
            if switches is not None and (at is None or at > now):
                return
            self._start_fold(fold, self._pending.pop(fold))

    def _start_fold(self, fold: int, window: pd.DataFrame) -> None:
        """Fold ``fold``'s model from ``window`` (the bars held when its first forecast bar
        arrived: it ends with that bar)."""
        from lstm_backtrader.strategies.foldsource import MemberFolds

        if self._folds is None:
            self._folds = MemberFolds(self._wf)
        spec = self._wf.schedule
        self._current = self._folds.models_for(fold, window)[0]
        gap = spec.gap_for(int(self._wf.config.horizon))
        self._cutoff_pos = spec.first_forecast(fold) - (gap - int(self._wf.config.horizon)) - 1
        self._rows.append(self._current.row)
        if self._wf.progress is not None:
            n_folds = max(fold + 1, spec.n_folds(int(self.data.buflen())))
            self._wf.progress(fold, n_folds, dict(self._current.row))

    # ----------------------------------------------------------------------- warnings
    def _scan_preloaded(self) -> None:
        """A preloaded feed is known whole from its first bar: its issues are logged up front,
        as in runonce."""
        data = self.data
        n = int(data.buflen())
        if data.lines.datetime.mode == data.lines.datetime.QBuffer or n <= len(data):
            return
        times = bar_times_ns(data, data.datetime.array[:n])
        values = np.column_stack([np.asarray(getattr(data, c).array[:n]) for c in OHLCV])
        self._report(scan(times, values, self._step_ns), complete=True)

    def _report(self, issues: FeedIssues, *, complete: bool) -> None:
        """Log a feed's holes and NaN bars, once per feed (whichever indicator sees them)."""
        if not issues or not mark_issues_reported(self.data):
            return
        step = None if self._step_ns is None else pd.Timedelta(self._step_ns)
        logger.warning(
            "LSTMForecast: %s%s; forecasts whose window spans a hole have gap=1, those whose "
            "window holds a NaN bar are NaN",
            issues.describe(self.data._name or "data", step),
            "" if complete else " so far (bar by bar: later ones are counted in issues_)",
        )

    def _warn_in_sample(self, first_ns: int) -> None:
        if not self._warned_in_sample:
            self._warned_in_sample = True
            logger.warning(
                "LSTMForecast: the fixed model was trained on data up to %s; forecasts on bars "
                "up to then (first %s) are in-sample, not out-of-sample",
                pd.Timestamp(self._cutoff_ns, tz="UTC").isoformat(),
                pd.Timestamp(first_ns, tz="UTC").isoformat(),
            )


__all__ = ["LSTMForecast"]
