"""The walk-forward backtest run behind ``lstm-bt backtest``: data → forecasts → strategies →
run folder (tearsheet, page, summary, CSVs, manifest).

:func:`simulate` is the pure core (no files but the fold cache): the LSTM strategy trades the
``LSTMForecast`` indicator in walk-forward mode, and the baselines (buy-and-hold, SMA cross,
persistence signal) trade the same bars with the same costs, all starting at the first
out-of-sample bar. :func:`run_backtest` adds the reports.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstm_backtrader.backtests.config import DataConfig, RunConfig
from lstm_backtrader.models.infra import versions
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.infra.executor import Executor
from lstm_backtrader.models.infra.fileio import atomic_write, atomic_write_text

logger = logging.getLogger(__name__)

ForecastFn = Callable[[pd.DataFrame], pd.Series]
FoldProgress = Callable[[int, int, dict[str, Any]], None]
BarProgress = Callable[[str, int, int], None]

MODEL_NAME = "LSTM"
#: Fold columns that vary run to run: kept in the manifest, not in the fold table.
TIMING_COLUMNS = ("seconds", "fit_seconds", "predict_seconds", "cached")
BASELINE_NAMES = ("Buy & hold", "SMA cross", "Persistence sign")
PACKAGES = (
    "lstm-backtrader",
    "tensorflow",
    "keras",
    "numpy",
    "pandas",
    "backtrader",
    "ccxt",
    "quantstats",
    "scipy",
    "matplotlib",
)


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


def default_cache_dir() -> Path:
    """Root of the fold cache: ``$LSTM_BT_FOLD_CACHE`` or the user cache folder."""
    env = os.environ.get("LSTM_BT_FOLD_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("lstm-backtrader"))


def load_candles(cfg: DataConfig) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The candles a run uses and a description of where they came from."""
    from lstm_backtrader.backtests.data.files import load_ohlcv
    from lstm_backtrader.backtests.data.quality import check_quality, log_quality
    from lstm_backtrader.backtests.data.sample import SAMPLES, sample_path

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
        candles = candles[candles.index >= pd.Timestamp(cfg.since, tz="UTC")]
    if cfg.until is not None and cfg.source != "exchange":
        candles = candles[candles.index < pd.Timestamp(cfg.until, tz="UTC")]
    what = source.get("file") or f"{source.get('exchange')} {source.get('symbol')}"
    if len(candles) < 2:
        if cfg.since is not None or cfg.until is not None:
            raise InputError(
                f"[data] since/until leave {len(candles)} candle(s) of {what}; need at least 2"
            )
        raise InputError(f"{what}: only {len(candles)} candle(s); need at least 2")
    log_quality(check_quality(candles), what)
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
) -> Any:
    """The :class:`~lstm_backtrader.models.walkforward.WalkForward` of a run configuration."""
    from lstm_backtrader.models.walkforward import WalkForward

    return WalkForward(
        config.model,
        config.walkforward,
        cache_dir=cache_dir,
        progress=progress,
        executor=executor,
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
) -> Simulation:
    """Walk-forward forecasts and all strategies on ``candles``.

    ``forecast_fn`` replaces the walk-forward LSTM by any function of the candles returning a
    forecast Series (the look-ahead audit uses it to prove it catches a leaking forecaster).
    ``executor`` trains independent folds (``warm_start = false``) in other processes or on a
    Dask cluster (see :mod:`lstm_backtrader.models.infra.executor`); the numbers are the same
    without it.
    """
    from lstm_backtrader.models.features import target_fwd_ret
    from lstm_backtrader.strategies.baselines import BuyAndHold, SMACross
    from lstm_backtrader.strategies.forecast import ForecastStrategy, PersistenceSignal
    from lstm_backtrader.strategies.runner import run_strategy

    wf_cfg, st = config.walkforward, config.strategy
    config.check_data(len(candles), "the data")
    oos_start = candles.index[wf_cfg.train_bars]
    costs, rules = strategy_params(config, oos_start, data_periods_per_year(candles))
    costs["cash"] = st.cash

    def bars(name: str) -> Callable[[int, int], None] | None:
        if bar_progress is None:
            return None
        return lambda done, total: bar_progress(name, done, total)

    records: dict[str, Any] = {}
    if forecast_fn is None:
        from lstm_backtrader.strategies.lstm import LSTMForecast

        wf = make_walkforward(config, cache_dir, fold_progress, executor)
        holder: dict[str, Any] = {}

        class _LSTMStrategy(ForecastStrategy):
            def make_forecast(self) -> Any:
                ind = LSTMForecast(self.data, walkforward=wf)
                holder["indicator"] = ind
                return ind

        records[MODEL_NAME] = run_strategy(
            candles, _LSTMStrategy, label=MODEL_NAME, on_bar=bars(MODEL_NAME), **costs, **rules
        )
        result = holder["indicator"].result_
        forecasts, folds = result.forecasts, result.folds
        fold_id, age = result.fold_id, result.age
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
    )


# ------------------------------------------------------------------------------ reporting
def package_versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on."""
    return versions.package_versions(PACKAGES)


def _fold_table(sim: Simulation) -> pd.DataFrame:
    """The walk-forward fold table plus each fold's persistence RMSE (forecast 0)."""
    folds = sim.folds.copy()
    if folds.empty:
        return folds
    base = []
    for _, row in folds.iterrows():
        sl = sim.realised.loc[row["first_forecast"] : row["last_forecast"]].dropna()
        base.append(float(np.sqrt(np.mean(sl.to_numpy() ** 2))) if len(sl) else np.nan)
    folds["baseline_rmse"] = base
    return folds


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


def write_run(
    sim: Simulation,
    config: RunConfig,
    run_dir: Path,
    *,
    source: dict[str, Any],
    command: Sequence[str],
    n_trials: int = 1,
) -> dict[str, Any]:
    """Write every file of a run folder; returns the summary dict."""
    from lstm_backtrader.backtests.data.validate import describe_ohlcv
    from lstm_backtrader.backtests.report.page import ReportInputs, write_report
    from lstm_backtrader.backtests.report.plots import standard_plots
    from lstm_backtrader.backtests.report.stats import sharpe_significance, strategy_table
    from lstm_backtrader.backtests.report.tearsheet import write_tearsheet
    from lstm_backtrader.models.features import hash_candles
    from lstm_backtrader.models.metrics import periods_per_year

    report = describe_ohlcv(sim.candles, source=str(source.get("file", "data")))
    ppy = periods_per_year(report.timeframe)
    records = list(sim.records.values())
    lstm, bh = sim.records[MODEL_NAME], sim.records["Buy & hold"]
    data_hash = hash_candles(sim.candles)
    data = {
        **source,
        "timeframe": report.timeframe,
        "start": report.start,
        "end": report.end,
        "bars": report.bars,
        "gaps": report.gaps.gaps,
        "out_of_sample_start": sim.oos_start,
        "out_of_sample_bars": len(lstm.equity),
        "missing_forecasts": len(missing_forecasts(sim)),
        "zero_volume_bars": report.quality.zero_volume.count,
        "flat_bars": report.quality.flat.count,
        "extreme_moves": report.quality.extreme_moves.count,
        "sha256": data_hash,
    }
    folds = _fold_table(sim)
    timing_cols = [c for c in TIMING_COLUMNS if c in folds.columns]
    timings = folds[["fold", *timing_cols]] if len(folds) else pd.DataFrame()
    folds = folds.drop(columns=timing_cols, errors="ignore")  # run-to-run noise
    metrics = forecast_diagnostics(sim)
    significance = [sharpe_significance(r, ppy, n_trials=n_trials) for r in (lstm, bh)]
    notes = [
        f"All strategies trade from the first out-of-sample bar ({sim.oos_start.date()}) with "
        f"fee {config.strategy.fee:.2%} per side and slippage {config.strategy.slippage:.2%}; "
        "orders are decided at a bar's close and filled at the next bar's open.",
        f"DSR deflates for N = {n_trials} configuration(s) tried; state the true number of "
        "trials (lstm-bt backtest --trials N) when you have tuned anything.",
        "Persistence forecasts a zero return; 'Persistence sign' trades the sign of the last "
        "bar's return with the LSTM strategy's rules.",
        *[f"Data: {line} (kept as they are)." for line in report.quality.lines()],
        *(
            [f"{len(gone)} out-of-sample bar(s) have no forecast (first {gone[0].date()}); the "
             "forecast scores use the other bars."]
            if len(gone := missing_forecasts(sim)) else []
        ),
        *[f"{r.name}: {r.rejected_orders} order(s) rejected by the broker (not traded)."
          for r in records if r.rejected_orders],
    ]  # fmt: skip
    inputs = ReportInputs(
        title=f"Walk-forward LSTM backtest — {source.get('symbol', '')} {report.timeframe}",
        config=config.to_dict(),
        data=data,
        periods_per_year=ppy,
        strategies=strategy_table(records, ppy),
        forecast=None if metrics is None else metrics.to_dict(),
        significance=significance,
        folds=folds if len(folds) else None,
        notes=notes,
    )
    oos = sim.forecasts.index >= sim.oos_start
    images = standard_plots(
        {r.name: r.equity for r in records},
        forecast=sim.forecasts[oos],
        realised=sim.realised[oos],
        folds=folds if len(folds) else None,
    )
    images["backtrader"] = _backtrader_chart(sim, config)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_tearsheet(
        lstm.returns,
        bh.returns,
        run_dir / "tearsheet.html",
        periods_per_year=int(round(ppy)),
        title=f"{MODEL_NAME} strategy vs buy & hold",
        strategy_title=MODEL_NAME,
    )
    written = write_report(run_dir, inputs, images)
    _write_csvs(sim, run_dir)
    summary = json.loads(written["summary"].read_text(encoding="utf-8"))
    manifest = {
        "command": list(command),
        "config": config.to_dict(),
        "seeds": {"model": config.model.seed},
        "versions": package_versions(),
        "data": {**{k: str(v) for k, v in data.items()}},
        "fold_model_hashes": folds["model_hash"].tolist() if len(folds) else [],
        "fold_timings": json.loads(timings.to_json(orient="records")) if len(timings) else [],
        "created_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "platform": f"{platform.system()} {platform.machine()}",
    }
    atomic_write_text(run_dir / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
    return summary


def _backtrader_chart(sim: Simulation, config: RunConfig) -> bytes:
    """Backtrader's own chart of the LSTM strategy over the out-of-sample bars."""
    from lstm_backtrader.backtests.report.btchart import backtrader_chart_png

    costs, rules = strategy_params(config, sim.oos_start, data_periods_per_year(sim.candles))
    params = {**costs, **rules, "label": MODEL_NAME}
    st = config.strategy
    return backtrader_chart_png(
        sim.candles, sim.forecasts, strategy_params=params, cash=st.cash, start=sim.oos_start
    )


def _write_csvs(sim: Simulation, run_dir: Path) -> None:
    frame = pd.DataFrame(
        {
            "forecast": sim.forecasts,
            "realised": sim.realised.rename("realised"),
            "persistence": np.where(sim.forecasts.notna(), 0.0, np.nan),
            "fold": sim.fold_id,
            "age": sim.age,
        }
    )
    frame = frame[frame.index >= sim.oos_start]
    frame.index.name = "timestamp"
    atomic_write(run_dir / "forecasts.csv", lambda p: frame.to_csv(p))
    equity = pd.DataFrame({name: r.equity for name, r in sim.records.items()})
    equity.index.name = "timestamp"
    atomic_write(run_dir / "equity.csv", lambda p: equity.to_csv(p))
    trades = [r.trades.assign(strategy=name) for name, r in sim.records.items() if len(r.trades)]
    table = pd.concat(trades, ignore_index=True) if trades else pd.DataFrame(columns=["strategy"])
    cols = ["strategy", *[c for c in table.columns if c != "strategy"]]
    atomic_write(run_dir / "trades.csv", lambda p: table[cols].to_csv(p, index=False))


def run_id_for(config: RunConfig, data_hash: str) -> str:
    """``YYYYmmdd-HHMMSS-<hash of config and data>``."""
    digest = hashlib.sha256(
        (json.dumps(config.to_dict(), sort_keys=True) + data_hash).encode()
    ).hexdigest()[:8]
    return f"{pd.Timestamp.now(tz='UTC'):%Y%m%d-%H%M%S}-{digest}"


def claim_run_dir(reports_dir: Path, run_id: str) -> Path:
    """Create and return a new, empty run folder ``reports_dir/run_id`` — or ``run_id-2``,
    ``run_id-3``, ... when that name is taken: runs started in the same second with the same
    config (or on machines sharing the folder) never write into each other's folder."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        candidate = reports_dir / (run_id if n == 1 else f"{run_id}-{n}")
        try:
            candidate.mkdir()  # atomic: exactly one process creates a given name
        except FileExistsError:
            continue
        return candidate
    raise InputError(f"{reports_dir}: 10,000 run folders named {run_id}*; clean the folder up")


def point_latest(reports_dir: Path, run_dir: Path) -> None:
    """Make ``reports/latest`` point at ``run_dir`` (a relative symlink, replaced atomically)."""
    latest = reports_dir / "latest"
    tmp = reports_dir / f".latest-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.unlink(missing_ok=True)
    try:
        os.symlink(run_dir.name, tmp, target_is_directory=True)
        os.replace(tmp, latest)
    except OSError:  # no symlinks here (e.g. some Windows set-ups): leave a pointer file
        tmp.unlink(missing_ok=True)
        atomic_write_text(reports_dir / "latest.txt", run_dir.name + "\n")


@dataclass(frozen=True)
class RunResult:
    """What :func:`run_backtest` leaves behind."""

    run_dir: Path
    summary: dict[str, Any]
    simulation: Simulation


def run_backtest(
    config: RunConfig,
    *,
    reports_dir: Path = Path("reports"),
    cache_dir: Path | None = None,
    command: Sequence[str] | None = None,
    n_trials: int = 1,
    fold_progress: FoldProgress | None = None,
    bar_progress: BarProgress | None = None,
    executor: Executor | None = None,
) -> RunResult:
    """Run the whole backtest and write ``reports_dir/<run-id>/`` (and ``reports_dir/latest``)."""
    from lstm_backtrader.models.features import hash_candles

    candles, source = load_candles(config.data)
    sim = simulate(
        candles,
        config,
        cache_dir=cache_dir or default_cache_dir(),
        fold_progress=fold_progress,
        bar_progress=bar_progress,
        executor=executor,
    )
    run_dir = claim_run_dir(Path(reports_dir), run_id_for(config, hash_candles(candles)))
    summary = write_run(
        sim,
        config,
        run_dir,
        source=source,
        command=command if command is not None else sys.argv,
        n_trials=n_trials,
    )
    point_latest(Path(reports_dir), run_dir)
    return RunResult(run_dir, summary, sim)
