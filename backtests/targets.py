"""The direction and volatility targets in a run: their baselines, strategies and scores.

A run whose ``[model] target`` is not ``'return'`` (:mod:`lstm_backtrader.backtests.simulation`
hands it here) forecasts that target with the LSTM and with the target's baselines, each
through the same walk-forward (same schedule, every fold fitted on its training slice only):

* ``direction``: ``base_rate`` (the training slice's share of "up") and ``logistic`` (a
  logistic regression on the LSTM's input windows); the strategy is
  :class:`~lstm_backtrader.strategies.targeted.ProbabilityGate`, driven by the LSTM, by the
  logistic regression and by the base rate;
* ``volatility``: ``persistence``, ``ewma``, ``har`` and ``garch``; the strategy is
  :class:`~lstm_backtrader.strategies.targeted.VolTargetStrategy`, driven by the LSTM, by HAR,
  by EWMA and by a constant volatility (the training bars' average: fixed leverage, what
  volatility targeting earns with no forecast).

Every strategy is compared with buy & hold on the same bars with the same costs. Scores
(:func:`target_diagnostics`): log loss and Brier against base rate and logistic; QLIKE and MSE
on log variance against each volatility baseline, HAR first, with Diebold–Mariano p-values.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstm_backtrader.backtests.config import RunConfig
from lstm_backtrader.models.config import ForecasterConfig

logger = logging.getLogger(__name__)

#: target -> the baseline forecasters run beside the LSTM (kind -> display name), the one the
#: page compares with first.
BASELINES: dict[str, dict[str, str]] = {
    "return": {"persistence": "Persistence"},
    "direction": {"base_rate": "Base rate", "logistic": "Logistic"},
    "volatility": {"har": "HAR", "ewma": "EWMA", "garch": "GARCH", "persistence": "Persistence"},
}

#: target -> the baselines that also drive the target's strategy (kind -> strategy name).
STRATEGY_BASELINES: dict[str, dict[str, str]] = {
    "direction": {"logistic": "Prob gate (logistic)", "base_rate": "Prob gate (base rate)"},
    "volatility": {"har": "Vol target (HAR)", "ewma": "Vol target (EWMA)"},
}
CONSTANT_VOL_NAME = "Vol target (constant)"


def baseline_config(model: ForecasterConfig, kind: str) -> ForecasterConfig:
    """The configuration of baseline ``kind`` for ``model``'s target: the same horizon,
    inputs, seed and target settings."""
    fields: dict[str, Any] = dict(
        kind=kind, lookback=model.lookback, horizon=model.horizon, features=model.features,
        seed=model.seed, target=model.target,
    )  # fmt: skip
    if model.target == "direction":
        fields["direction_threshold"] = model.direction_threshold
    if model.target == "volatility":
        fields["vol_estimator"] = model.vol_estimator
    return ForecasterConfig(**fields)


def baseline_forecasts(
    candles: pd.DataFrame, config: RunConfig, cache_dir: Path | None = None
) -> dict[str, pd.Series]:
    """Walk-forward forecasts of each baseline of the target (kind -> series over the whole
    index, NaN before the first fold), with the run's schedule and fold cache."""
    from lstm_backtrader.models.walkforward import WalkForward

    out = {}
    for kind in BASELINES[config.model.target]:
        if config.model.target == "return":
            continue  # persistence forecasts a zero return: nothing to fit
        wf = WalkForward(baseline_config(config.model, kind), config.walkforward,
                         cache_dir=cache_dir)  # fmt: skip
        out[kind] = wf.run(candles).forecasts.astype("float64")
    return out


def constant_vol(candles: pd.DataFrame, config: RunConfig, periods_per_year: float) -> float:
    """Annualised volatility of the bars before the first out-of-sample bar (the training
    bars only): ``sqrt(mean per-bar range variance × periods_per_year)``."""
    from lstm_backtrader.models.targets import bar_variance

    var = bar_variance(candles.iloc[: config.walkforward.train_bars], config.model.vol_estimator)
    return float(math.sqrt(np.nanmean(var.to_numpy()) * periods_per_year))


def target_strategy_params(config: RunConfig, periods_per_year: float) -> dict[str, Any]:
    """The ``[strategy]`` settings of the target's strategy."""
    st = config.strategy
    if config.model.target == "volatility":
        return dict(
            target_vol=st.target_vol, max_leverage=st.max_leverage, band=st.rebalance_band,
            horizon=config.model.horizon, periods_per_year=periods_per_year,
        )  # fmt: skip
    return dict(
        threshold=st.prob_threshold, kelly_multiplier=st.kelly_multiplier,
        max_fraction=st.max_fraction, band=st.rebalance_band,
    )  # fmt: skip


def strategy_class(target: str) -> type:
    """The strategy trading ``target``'s forecasts."""
    from lstm_backtrader.strategies.targeted import ProbabilityGate, VolTargetStrategy

    return VolTargetStrategy if target == "volatility" else ProbabilityGate


def traded(target: str, forecasts: pd.Series) -> pd.Series:
    """What the strategy reads from a forecast of ``target``: the volatility ``exp(log vol)``
    (as ``LSTMForecast``'s ``vol`` line) or the probability itself."""
    return np.exp(forecasts) if target == "volatility" else forecasts


def baseline_strategies(
    candles: pd.DataFrame,
    config: RunConfig,
    baselines: dict[str, pd.Series],
    costs: dict[str, Any],
    periods_per_year: float,
    bars: Any,
) -> dict[str, Any]:
    """The target's strategy driven by its baselines (and, for volatility, by a constant):
    name -> :class:`~lstm_backtrader.strategies.record.StrategyRecord`."""
    from lstm_backtrader.strategies.runner import run_strategy

    target = config.model.target
    cls = strategy_class(target)
    params = target_strategy_params(config, periods_per_year)
    records = {}
    for kind, name in STRATEGY_BASELINES[target].items():
        series = traded(target, baselines[kind])
        records[name] = run_strategy(
            candles, cls, label=name, forecasts=series, on_bar=bars(name), **costs, **params
        )
    if target == "volatility":
        vol = constant_vol(candles, config, periods_per_year)
        records[CONSTANT_VOL_NAME] = run_strategy(
            candles, cls, label=CONSTANT_VOL_NAME, constant_vol=vol,
            on_bar=bars(CONSTANT_VOL_NAME), **costs, **params,
        )  # fmt: skip
    return records


def target_diagnostics(
    target: str,
    forecasts: pd.Series,
    realised: pd.Series,
    baselines: dict[str, pd.Series],
    oos_start: pd.Timestamp,
    horizon: int = 1,
) -> dict[str, Any] | None:
    """The LSTM's scores against each baseline on the out-of-sample bars all of them forecast
    (``None`` when fewer than 3 such bars): ``{"target", "n", "comparisons": {baseline name:
    metrics dict}}`` (:func:`~lstm_backtrader.models.metrics.target_metrics.target_metrics`)."""
    from lstm_backtrader.models.metrics.target_metrics import target_metrics

    names = BASELINES[target]
    frame = pd.DataFrame(
        {"model": forecasts, "realised": realised, **{k: baselines[k] for k in names}}
    )
    frame = frame[frame.index >= oos_start].dropna()
    if len(frame) < 3:
        return None
    comparisons = {
        names[kind]: target_metrics(
            target, frame["model"], frame["realised"], frame[kind], h=horizon
        ).to_dict()
        for kind in names
    }
    return {"target": target, "n": len(frame), "comparisons": comparisons}


__all__ = [
    "BASELINES",
    "CONSTANT_VOL_NAME",
    "STRATEGY_BASELINES",
    "baseline_config",
    "baseline_forecasts",
    "baseline_strategies",
    "constant_vol",
    "strategy_class",
    "target_diagnostics",
    "target_strategy_params",
    "traded",
]
