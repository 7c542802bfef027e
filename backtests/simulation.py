"""The core of a walk-forward backtest, with no files but the fold cache: candles in, the
LSTM strategy and the baselines out.

:func:`simulate` runs the LSTM strategy on the ``LSTMForecast`` indicator in walk-forward mode,
and the baselines (buy-and-hold, SMA cross, persistence signal) on the same bars with the same
costs, all starting at the first out-of-sample bar. :func:`load_candles` reads a run's data;
:func:`forecast_diagnostics` scores the forecasts against persistence.
:mod:`lstm_backtrader.backtests.run` writes the run folder from a :class:`Simulation`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstm_backtrader.backtests.config import DataConfig, RunConfig
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.infra.executor import Executor

logger = logging.getLogger(__name__)

ForecastFn = Callable[[pd.DataFrame], pd.Series]
FoldProgress = Callable[[int, int, dict[str, Any]], None]
BarProgress = Callable[[str, int, int], None]

MODEL_NAME = "LSTM"
#: The return target's strategy gated by the conformal intervals (when they are on).
INTERVAL_GATE_NAME = "Interval gate (LSTM)"
BASELINE_NAMES = ("Buy & hold", "SMA cross", "Persistence sign")


@dataclass(frozen=True)
class Simulation:
    """Everything :func:`simulate` produced."""

    candles: pd.DataFrame
    forecasts: pd.Series
    realised: pd.Series
    folds: pd.DataFrame
    fold_id: pd.Series
    age: pd.Series
    records: dict[str, Any]  # name -> StrategyRecord over the out-of-sample bars
    oos_start: pd.Timestamp
    target: str = "return"  # the model's target (forecasts and realised are of it)
    baselines: dict[str, pd.Series] = field(default_factory=dict)  # kind -> its forecasts
    lines: pd.DataFrame | None = None  # the LSTM indicator's prob and vol lines (targets)
    #: The walk-forward's per-bar ``spread`` (ensemble / MC dropout) and conformal ``lower``,
    #: ``upper`` (intervals on), those present; ``None`` without any.
    uncertainty: pd.DataFrame | None = None


def uncertainty_frame(result: Any) -> pd.DataFrame | None:
    """The ``spread``, ``lower`` and ``upper`` columns of a walk-forward result that exist."""
    cols = {n: getattr(result, n) for n in ("spread", "lower", "upper")}
    cols = {n: s.rename(n) for n, s in cols.items() if s is not None}
    return pd.DataFrame(cols) if cols else None


def default_cache_dir() -> Path:
    """Root of the fold cache: ``$LSTM_BT_FOLD_CACHE`` or the user cache folder."""
    env = os.environ.get("LSTM_BT_FOLD_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("lstm-backtrader"))


def load_candles(cfg: DataConfig) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The candles a run uses and a description of where they came from; with ``[data]
    intrabar``, the column ``realized_var`` joined from it (see
    :mod:`lstm_backtrader.backtests.data.intrabar`)."""
    from lstm_backtrader.backtests.data.files import load_ohlcv
    from lstm_backtrader.backtests.data.intrabar import join_intrabar
    from lstm_backtrader.backtests.data.quality import check_quality, log_quality
    from lstm_backtrader.backtests.data.sample import SAMPLES, sample_path
    from lstm_backtrader.backtests.data.times import parse_time

    if cfg.source == "sample":
        path = sample_path(cfg.sample)
        candles = load_ohlcv(path)
        info = SAMPLES[cfg.sample]
        source = {
            "source": "embedded sample",
            "file": Path(path).name,
            "exchange": info.exchange,
            "symbol": info.symbol,
        }
    elif cfg.source == "file":
        candles = load_ohlcv(cfg.path)  # type: ignore[arg-type]
        source = {"source": "file", "file": str(cfg.path)}
    else:
        from lstm_backtrader.backtests.data.exchange import fetch_ohlcv

        candles = fetch_ohlcv(
            cfg.exchange, cfg.symbol, cfg.timeframe, since=cfg.since, until=cfg.until
        )
        source = {
            "source": "exchange (ccxt, cached)",
            "exchange": cfg.exchange,
            "symbol": cfg.symbol,
        }
    if cfg.since is not None and cfg.source != "exchange":
        candles = candles[candles.index >= parse_time(cfg.since, "[data] since")]
    if cfg.until is not None and cfg.source != "exchange":
        candles = candles[candles.index < parse_time(cfg.until, "[data] until")]
    what = source.get("file") or f"{source.get('exchange')} {source.get('symbol')}"
    if len(candles) < 2:
        if cfg.since is not None or cfg.until is not None:
            raise InputError(
                f"[data] since/until leave {len(candles)} candle(s) of {what}; need at least 2"
            )
        raise InputError(f"{what}: only {len(candles)} candle(s); need at least 2")
    candles, source = join_intrabar(candles, cfg.intrabar, source)  # column realized_var
    log_quality(check_quality(candles), what)
    if cfg.features:  # [[data.features]]: exogenous series joined as-of onto the candles
        from lstm_backtrader.backtests.data.exogenous_load import add_exogenous

        candles, joined = add_exogenous(candles, cfg.features, until=cfg.until)
        source.update(joined)
    return candles, source


def strategy_params(
    config: RunConfig, trade_from: pd.Timestamp, periods_per_year: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The costs every strategy pays and the forecast rules, from ``[strategy]``;
    ``periods_per_year`` (from the data's timeframe) annualises volatility targeting."""
    st = config.strategy
    costs = dict(fee=st.fee, slippage=st.slippage, stake=st.stake, trade_from=trade_from)
    rules = dict(
        entry=st.entry,
        exit=st.exit,
        allow_short=st.allow_short,
        vol_target=st.vol_target,
        vol_window=st.vol_window,
        stop_loss=st.stop_loss,
        periods_per_year=periods_per_year,
    )
    return costs, rules


def data_periods_per_year(candles: pd.DataFrame) -> float:
    """Bars per year of a 24/7 market at the candles' timeframe (365 daily, 8760 hourly)."""
    from lstm_backtrader.backtests.data.validate import infer_timeframe, timeframe_label
    from lstm_backtrader.models.metrics import periods_per_year

    return periods_per_year(timeframe_label(infer_timeframe(candles.index)))


def make_walkforward(
    config: RunConfig,
    cache_dir: Path | None = None,
    progress: FoldProgress | None = None,
    executor: Executor | None = None,
    switches: Any = None,
) -> Any:
    """The :class:`~lstm_backtrader.models.walkforward.WalkForward` of a run configuration
    (``switches``: a paper session's record of when each fold's model took over)."""
    from lstm_backtrader.models.walkforward import WalkForward

    return WalkForward(
        config.model,
        config.walkforward,
        cache_dir=cache_dir,
        progress=progress,
        executor=executor,
        intervals=config.intervals if config.intervals.on else None,
        switches=switches,
    )


def simulate(
    candles: pd.DataFrame,
    config: RunConfig,
    *,
    cache_dir: Path | None = None,
    forecast_fn: ForecastFn | None = None,
    fold_progress: FoldProgress | None = None,
    bar_progress: BarProgress | None = None,
    executor: Executor | None = None,
    whole_data: bool = True,
    switches: Any = None,
) -> Simulation:
    """Walk-forward forecasts and all strategies on ``candles``.

    ``switches`` (a :class:`~lstm_backtrader.models.schedule.ModelSwitches`, a paper session's
    record) makes each fold's model take over when it did in that session.

    ``forecast_fn`` replaces the walk-forward LSTM by any function of the candles returning a
    forecast Series (the look-ahead audit uses it to prove it catches a leaking forecaster).
    ``whole_data=False`` marks a cut of the run's data (the look-ahead audit's), whose
    out-of-sample part may be shorter than the refit interval. ``executor`` trains independent
    folds (``warm_start = false``) in other processes or on a
    Dask cluster (see :mod:`lstm_backtrader.models.infra.executor`); the numbers are the same
    without it.
    """
    from lstm_backtrader.models.features import check_feature_names, target_fwd_ret
    from lstm_backtrader.strategies.baselines import BuyAndHold, SMACross
    from lstm_backtrader.strategies.forecast import ForecastStrategy, PersistenceSignal
    from lstm_backtrader.strategies.runner import run_strategy

    wf_cfg, st = config.walkforward, config.strategy
    config.check_data(len(candles), "the data", whole=whole_data)
    # against the run's frame (joined [[data.features]] columns included), before training
    check_feature_names(config.model.features, list(candles.columns))
    oos_start = candles.index[wf_cfg.train_bars]
    costs, rules = strategy_params(config, oos_start, data_periods_per_year(candles))
    costs["cash"] = st.cash

    def bars(name: str) -> Callable[[int, int], None] | None:
        if bar_progress is None:
            return None
        return lambda done, total: bar_progress(name, done, total)

    records: dict[str, Any] = {}
    if config.model.target != "return":
        return _simulate_target(
            candles, config, costs, bars, cache_dir, forecast_fn, executor, fold_progress,
            switches,
        )  # fmt: skip
    if forecast_fn is None:
        from lstm_backtrader.strategies.lstm import LSTMForecast

        wf = make_walkforward(config, cache_dir, fold_progress, executor, switches)
        holder: dict[str, Any] = {}

        class _LSTMStrategy(ForecastStrategy):
            def make_forecast(self) -> Any:
                ind = LSTMForecast(self.data, walkforward=wf)
                holder["indicator"] = ind
                return ind

        records[MODEL_NAME] = run_strategy(
            candles,
            _LSTMStrategy,
            label=MODEL_NAME,
            on_bar=bars(MODEL_NAME),
            issues_reported=True,  # the loader reported the data's holes already
            **costs,
            **rules,
        )
        result = holder["indicator"].result_
        forecasts, folds = result.forecasts, result.folds
        fold_id, age = result.fold_id, result.age
        uncertainty = uncertainty_frame(result)
    else:
        forecasts = forecast_fn(candles).reindex(candles.index).astype("float64")
        forecasts[forecasts.index < oos_start] = np.nan
        records[MODEL_NAME] = run_strategy(
            candles,
            ForecastStrategy,
            forecasts=forecasts,
            label=MODEL_NAME,
            on_bar=bars(MODEL_NAME),
            **costs,
            **rules,
        )
        folds = pd.DataFrame()
        fold_id = pd.Series(np.where(forecasts.notna(), 0, -1), index=candles.index)
        age = pd.Series(-1, index=candles.index)
        uncertainty = None
    records["Buy & hold"] = run_strategy(
        candles, BuyAndHold, label="Buy & hold", on_bar=bars("Buy & hold"), **costs
    )
    records["SMA cross"] = run_strategy(
        candles,
        SMACross,
        label="SMA cross",
        fast=st.sma_fast,
        slow=st.sma_slow,
        on_bar=bars("SMA cross"),
        **costs,
    )
    records["Persistence sign"] = run_strategy(
        candles,
        PersistenceSignal,
        label="Persistence sign",
        on_bar=bars("Persistence sign"),
        **costs,
        **rules,
    )
    if uncertainty is not None and {"lower", "upper"} <= set(uncertainty.columns):
        records[INTERVAL_GATE_NAME] = interval_gate(candles, config, forecasts, uncertainty,
                                                    costs, bars)  # fmt: skip
    realised = target_fwd_ret(candles["close"], config.model.horizon)
    return Simulation(
        candles=candles,
        forecasts=forecasts.rename("forecast"),
        realised=realised,
        folds=folds,
        fold_id=fold_id,
        age=age,
        records={k: v.since(oos_start) for k, v in records.items()},
        oos_start=oos_start,
        uncertainty=uncertainty,
    )


def interval_gate(
    candles: pd.DataFrame,
    config: RunConfig,
    forecasts: pd.Series,
    uncertainty: pd.DataFrame,
    costs: dict[str, Any],
    bars: Callable[[str], Any],
) -> Any:
    """The return forecast traded only where its conformal interval excludes zero
    (:class:`~lstm_backtrader.strategies.targeted.IntervalGate`), from the walk-forward's
    forecasts and intervals — the values the LSTM indicator shows."""
    from lstm_backtrader.strategies.runner import run_strategy
    from lstm_backtrader.strategies.targeted import IntervalGate

    st = config.strategy
    return run_strategy(
        candles,
        IntervalGate,
        label=INTERVAL_GATE_NAME,
        forecasts=forecasts,
        lower=uncertainty["lower"],
        upper=uncertainty["upper"],
        spread=uncertainty.get("spread"),
        level=config.intervals.level,
        kelly_multiplier=st.kelly_multiplier,
        max_fraction=st.max_fraction,
        band=st.rebalance_band,
        on_bar=bars(INTERVAL_GATE_NAME),
        **costs,
    )


def _simulate_target(
    candles: pd.DataFrame,
    config: RunConfig,
    costs: dict[str, Any],
    bars: Callable[[str], Any],
    cache_dir: Path | None,
    forecast_fn: ForecastFn | None,
    executor: Executor | None,
    fold_progress: FoldProgress | None = None,
    switches: Any = None,
) -> Simulation:
    """:func:`simulate` for the direction and volatility targets
    (:mod:`lstm_backtrader.backtests.targets`): the target's strategy driven by the LSTM and by
    the target's baselines, beside buy & hold."""
    from lstm_backtrader.backtests import targets
    from lstm_backtrader.models.targets import target_series
    from lstm_backtrader.strategies.baselines import BuyAndHold
    from lstm_backtrader.strategies.runner import run_strategy

    target, oos_start = config.model.target, costs["trade_from"]
    ppy = data_periods_per_year(candles)
    cls = targets.strategy_class(target)
    params = {**costs, **targets.target_strategy_params(config, ppy)}
    records: dict[str, Any] = {}
    if forecast_fn is None:
        wf = make_walkforward(config, cache_dir, fold_progress, executor, switches)
        holder: dict[str, Any] = {}

        class _LSTMTargetStrategy(cls):  # type: ignore[misc, valid-type]
            def make_forecast(self) -> Any:
                line = super().make_forecast()
                holder["indicator"] = self.indicator
                return line

        records[MODEL_NAME] = run_strategy(
            candles, _LSTMTargetStrategy, walkforward=wf, label=MODEL_NAME,
            on_bar=bars(MODEL_NAME), issues_reported=True, **params,
        )  # fmt: skip
        ind = holder["indicator"]
        result = ind.result_
        forecasts, folds, fold_id, age = result.forecasts, result.folds, result.fold_id, result.age
        uncertainty = uncertainty_frame(result)
        n = len(candles)
        lines = pd.DataFrame(
            {name: np.asarray(getattr(ind.lines, name).array[:n]) for name in ("prob", "vol")},
            index=candles.index,
        )
    else:
        forecasts = forecast_fn(candles).reindex(candles.index).astype("float64")
        forecasts[forecasts.index < oos_start] = np.nan
        records[MODEL_NAME] = run_strategy(
            candles, cls, forecasts=targets.traded(target, forecasts), label=MODEL_NAME,
            on_bar=bars(MODEL_NAME), **params,
        )  # fmt: skip
        folds = pd.DataFrame()
        fold_id = pd.Series(np.where(forecasts.notna(), 0, -1), index=candles.index)
        age = pd.Series(-1, index=candles.index)
        traded = targets.traded(target, forecasts)
        nan = pd.Series(np.nan, index=candles.index)
        lines = pd.DataFrame(
            {"prob": traded if target == "direction" else nan,
             "vol": traded if target == "volatility" else nan}
        )  # fmt: skip
        uncertainty = None
    records["Buy & hold"] = run_strategy(
        candles, BuyAndHold, label="Buy & hold", on_bar=bars("Buy & hold"), **costs
    )
    baselines = targets.baseline_forecasts(candles, config, cache_dir)
    records.update(targets.baseline_strategies(candles, config, baselines, costs, ppy, bars))
    return Simulation(
        candles=candles,
        forecasts=forecasts.rename("forecast"),
        realised=target_series(candles, config.model),
        folds=folds,
        fold_id=fold_id,
        age=age,
        records={k: v.since(oos_start) for k, v in records.items()},
        oos_start=oos_start,
        target=target,
        baselines=baselines,
        lines=lines,
        uncertainty=uncertainty,
    )


def missing_forecasts(sim: Simulation) -> pd.DatetimeIndex:
    """Out-of-sample bars whose outcome is known but that have no forecast (a NaN from the
    model, e.g. a window with a non-finite feature): never silently left out of the scores."""
    oos = sim.forecasts.index >= sim.oos_start
    missing = oos & sim.forecasts.isna().to_numpy() & sim.realised.notna().to_numpy()
    return sim.forecasts.index[missing]


def forecast_diagnostics(sim: Simulation) -> Any:
    """LSTM vs persistence on every out-of-sample bar where the outcome and a forecast are
    known (bars without a forecast are counted by :func:`missing_forecasts` and shown)."""
    from lstm_backtrader.models.metrics import forecast_metrics

    if sim.target != "return":
        return None  # scored by target_diagnostics
    missing = missing_forecasts(sim)
    if len(missing):
        logger.warning(
            "%d out-of-sample bar(s) have no forecast (first %s): scored on the other bars only",
            len(missing),
            missing[0].isoformat(),
        )
    oos = sim.forecasts[sim.forecasts.index >= sim.oos_start]
    both = pd.concat([oos, sim.realised], axis=1, join="inner").dropna()
    if len(both) < 3:
        return None
    return forecast_metrics(both.iloc[:, 0], both.iloc[:, 1], baseline=0.0, h=1)


def target_diagnostics(sim: Simulation, horizon: int = 1) -> dict[str, Any] | None:
    """Direction and volatility targets: the LSTM against each of the target's baselines
    (:func:`lstm_backtrader.backtests.targets.target_diagnostics`); ``None`` for returns."""
    if sim.target == "return":
        return None
    from lstm_backtrader.backtests.targets import target_diagnostics as scores

    return scores(sim.target, sim.forecasts, sim.realised, sim.baselines, sim.oos_start, horizon)
