"""The run folder of ``lstm-bt backtest``: :func:`run_backtest` loads the data, simulates
(:mod:`lstm_backtrader.backtests.simulation`) and writes ``reports/<run-id>/`` — tearsheet, page,
summary, CSVs and manifest — in a folder no other run shares, then points ``reports/latest``
at it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lstm_backtrader.backtests.config import RunConfig
from lstm_backtrader.backtests.simulation import (
    MODEL_NAME,
    BarProgress,
    FoldProgress,
    Simulation,
    data_periods_per_year,
    default_cache_dir,
    forecast_diagnostics,
    load_candles,
    missing_forecasts,
    simulate,
    strategy_params,
    target_diagnostics,
)
from lstm_backtrader.models.infra import versions
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.infra.executor import Executor
from lstm_backtrader.models.infra.fileio import atomic_write, atomic_write_text

if TYPE_CHECKING:
    from lstm_backtrader.backtests.report.pieces import PieceStats, PieceStore

logger = logging.getLogger(__name__)

#: Folder of the fold cache holding the rendered report pieces of the runs that used it.
REPORT_PIECES_DIR = "report"
#: Fold columns that vary run to run: kept in the manifest, not in the fold table.
TIMING_COLUMNS = ("seconds", "fit_seconds", "predict_seconds", "cached")
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


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on."""
    return versions.package_versions(PACKAGES)


def _fold_table(sim: Simulation) -> pd.DataFrame:
    """The walk-forward fold table plus each fold's persistence RMSE (forecast 0; return
    target only: the other targets are scored against their baselines as a whole)."""
    folds = sim.folds.copy()
    if folds.empty or sim.target != "return":
        return folds
    base = []
    for _, row in folds.iterrows():
        sl = sim.realised.loc[row["first_forecast"] : row["last_forecast"]].dropna()
        base.append(float(np.sqrt(np.mean(sl.to_numpy() ** 2))) if len(sl) else np.nan)
    folds["baseline_rmse"] = base
    return folds


def write_run(
    sim: Simulation,
    config: RunConfig,
    run_dir: Path,
    *,
    source: dict[str, Any],
    command: Sequence[str],
    n_trials: int = 1,
    started: float | None = None,
    pieces: PieceStore | None = None,
) -> dict[str, Any]:
    """Write every file of a run folder; returns the summary dict.

    ``started`` (a :func:`time.perf_counter` value at the run's start) gives the duration
    shown on the page and kept in the manifest with the run's date and the package version.
    ``pieces`` keeps the rendered figures, the Backtrader chart, the tearsheet and its notes
    (:mod:`lstm_backtrader.backtests.report.pieces`): a rerun whose results are unchanged reads
    them back instead of drawing them, and writes the same bytes.
    """
    from lstm_backtrader.backtests.data.validate import describe_ohlcv
    from lstm_backtrader.backtests.report.page import ReportInputs, write_report
    from lstm_backtrader.backtests.report.plots import standard_plots
    from lstm_backtrader.backtests.report.stats import sharpe_significance, strategy_table
    from lstm_backtrader.backtests.report.tearsheet import tearsheet_differences, write_tearsheet
    from lstm_backtrader.models.features import hash_candles
    from lstm_backtrader.models.metrics import periods_per_year

    report = describe_ohlcv(sim.candles, source=str(source.get("file", "data")))
    ppy = periods_per_year(report.timeframe)
    records = list(sim.records.values())
    lstm, bh = sim.records[MODEL_NAME], sim.records["Buy & hold"]
    data_hash = hash_candles(sim.candles)
    gone = missing_forecasts(sim)
    data = {
        **source,
        "timeframe": report.timeframe,
        "start": report.start,
        "end": report.end,
        "bars": report.bars,
        "gaps": report.gaps.gaps,
        "out_of_sample_start": sim.oos_start,
        "out_of_sample_bars": len(lstm.equity),
        "missing_forecasts": len(gone),
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
    scores = target_diagnostics(sim, config.model.horizon)
    significance = [sharpe_significance(r, ppy, n_trials=n_trials) for r in (lstm, bh)]
    notes = [
        f"All strategies trade from the first out-of-sample bar ({sim.oos_start.date()}) with "
        f"fee {config.strategy.fee:.2%} per side and slippage {config.strategy.slippage:.2%}; "
        "orders are decided at a bar's close and filled at the next bar's open.",
        f"DSR deflates for N = {n_trials} configuration(s) tried; state the true number of "
        "trials (lstm-bt backtest --trials N) when you have tuned anything.",
        *_target_notes(sim, config),
        *[f"Data: {line} (kept as they are)." for line in report.quality.lines()],
        *(
            [f"{len(gone)} out-of-sample bar(s) have no forecast (first {gone[0].date()}); the "
             "forecast scores use the other bars."]
            if len(gone) else []
        ),
        *[f"{r.name}: {r.rejected_orders} order(s) rejected by the broker (not traded)."
          for r in records if r.rejected_orders],
    ]  # fmt: skip
    inputs = ReportInputs(
        title=f"Walk-forward LSTM backtest — {asset_name(source)} {report.timeframe}",
        config=shown_config(config),
        data=data,
        periods_per_year=ppy,
        strategies=strategy_table(records, ppy),
        forecast=None if metrics is None else metrics.to_dict(),
        target=scores,
        baseline_name=_primary_baseline(sim.target),
        significance=significance,
        folds=folds if len(folds) else None,
        notes=notes,
        tearsheet_notes=tearsheet_differences(lstm, bh, ppy, store=pieces),
        intervals=interval_report(sim, config),
    )
    oos = sim.forecasts.index >= sim.oos_start
    is_return = sim.target == "return"
    images = standard_plots(
        {r.name: r.equity for r in records},
        forecast=sim.forecasts[oos] if is_return else None,
        realised=sim.realised[oos] if is_return else None,
        folds=folds if len(folds) else None,
        store=pieces,
        level=config.intervals.level if config.intervals.on else None,
    )
    if is_return:
        images["backtrader"] = _backtrader_chart(sim, config, asset_name(source), pieces)
    elif scores is not None:
        images.update(_target_images(sim, pieces))
    run_dir.mkdir(parents=True, exist_ok=True)
    write_tearsheet(
        lstm.returns,
        bh.returns,
        run_dir / "tearsheet.html",
        periods_per_year=int(round(ppy)),
        title=f"{MODEL_NAME} strategy vs buy & hold",
        strategy_title=MODEL_NAME,
        store=pieces,
    )
    run_info = {
        "created_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "seconds": None if started is None else round(time.perf_counter() - started, 1),
        "version": package_versions().get("lstm-backtrader"),
    }
    written = write_report(run_dir, inputs, images, run_info)
    _write_csvs(sim, run_dir)
    summary = json.loads(written["summary"].read_text(encoding="utf-8"))
    manifest = {
        "run": run_info,
        "command": list(command),
        "config": config.to_dict(),
        "seeds": {"model": config.model.seed},
        "versions": package_versions(),
        "data": {**{k: str(v) for k, v in data.items()}},
        "fold_model_hashes": folds["model_hash"].tolist() if len(folds) else [],
        "fold_timings": json.loads(timings.to_json(orient="records")) if len(timings) else [],
        "created_at": run_info["created_at"],
        "platform": f"{platform.system()} {platform.machine()}",
    }
    atomic_write_text(run_dir / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
    if pieces is not None:
        st = pieces.stats
        logger.info("report pieces: %d reused, %d rendered (%s)", st.hits, st.renders,
                    ", ".join(st.rendered) or "none")  # fmt: skip
    return summary


def interval_report(sim: Simulation, config: RunConfig) -> dict[str, Any] | None:
    """Nominal level, realised coverage and mean width of the conformal intervals over the
    out-of-sample bars (``None`` while intervals are off); per fold in the fold table."""
    from lstm_backtrader.models.conformal import interval_coverage, interval_width

    spec, unc = config.intervals, sim.uncertainty
    if not spec.on or unc is None or "lower" not in unc:
        return None
    oos = unc.index >= sim.oos_start
    lo, up = unc["lower"].to_numpy()[oos], unc["upper"].to_numpy()[oos]
    y = sim.realised.reindex(unc.index).to_numpy(dtype="float64")[oos]
    known = np.isfinite(lo) & np.isfinite(up) & np.isfinite(y)
    return {
        "level": spec.level,
        "method": spec.method,
        "window": spec.window,
        "coverage": interval_coverage(lo, up, y),
        "width": interval_width(lo, up),
        "bars": int(known.sum()),
    }


def _primary_baseline(target: str) -> str:
    """The baseline the page names first (persistence, base rate, HAR)."""
    from lstm_backtrader.backtests.targets import BASELINES

    return next(iter(BASELINES[target].values()))


def _target_notes(sim: Simulation, config: RunConfig) -> list[str]:
    """What the baselines and the strategies of the run's target are."""
    target = sim.target
    if target == "return":
        return [
            "Persistence forecasts a zero return; 'Persistence sign' trades the sign of the "
            "last bar's return with the LSTM strategy's rules."
        ]
    st = config.strategy
    if target == "direction":
        return [
            f"Target: P(next {config.model.horizon}-bar log return > "
            f"{config.model.direction_threshold:.4g}) (the round-trip cost unless set). Base "
            "rate = the training slice's share of up; logistic = a logistic regression on the "
            "LSTM's input windows; both walk forward with the LSTM's folds.",
            f"Probability gate: long while P > {st.prob_threshold:g}, exposure "
            f"min({st.max_fraction:g}, {st.kelly_multiplier:g} × (2P − 1)) of the stake, "
            f"resized outside a ±{st.rebalance_band:g} band; driven by each forecaster.",
        ]
    return [
        f"Target: log realised volatility of the next {config.model.horizon} bar(s) "
        f"({config.model.vol_estimator}); HAR, EWMA, GARCH and persistence walk forward with "
        "the LSTM's folds (fitted on each training slice only).",
        f"Volatility targeting: exposure min({st.max_leverage:g}, {st.target_vol:g} / "
        f"annualised forecast vol), rebalanced outside a ±{st.rebalance_band:g} band; "
        "'constant' uses the training bars' average volatility (fixed leverage, no forecast).",
        "No Backtrader chart for this target (it replays the return strategy).",
    ]


def _target_images(sim: Simulation, pieces: PieceStore | None) -> dict[str, bytes]:
    """The reliability (direction) or volatility figure on the out-of-sample bars."""
    from lstm_backtrader.backtests.report.plots import target_plots
    from lstm_backtrader.backtests.targets import BASELINES

    oos = sim.forecasts.index >= sim.oos_start
    shown = {"direction": ("logistic", "base_rate"), "volatility": ("har", "ewma")}[sim.target]
    names = BASELINES[sim.target]
    forecasts = {MODEL_NAME: sim.forecasts[oos]}
    forecasts.update({names[k]: sim.baselines[k][oos] for k in shown if k in sim.baselines})
    return target_plots(sim.target, forecasts, sim.realised[oos], store=pieces)


def asset_name(source: dict[str, Any]) -> str:
    """What the run traded, for titles: the symbol (exchange, sample) or the file's name."""
    if source.get("symbol"):
        return str(source["symbol"])
    return Path(str(source.get("file", "data"))).name


def shown_config(config: RunConfig) -> dict[str, Any]:
    """The configuration as the page shows it: the ``[data]`` fields that apply to the run's
    source only (no "binance BTC/USDT" beside the embedded sample or a file)."""
    doc = config.to_dict()
    relevant = {
        "sample": ("source", "sample", "since", "until"),
        "file": ("source", "path", "since", "until"),
        "exchange": ("source", "exchange", "symbol", "timeframe", "since", "until"),
    }[config.data.source]
    doc["data"] = {k: v for k, v in doc["data"].items() if k in relevant}
    return doc


def _backtrader_chart(
    sim: Simulation, config: RunConfig, name: str, pieces: PieceStore | None = None
) -> bytes:
    """Backtrader's own chart of the LSTM strategy over the out-of-sample bars."""
    from lstm_backtrader.backtests.report.btchart import backtrader_chart_png

    costs, rules = strategy_params(config, sim.oos_start, data_periods_per_year(sim.candles))
    params = {**costs, **rules, "label": MODEL_NAME}
    st = config.strategy
    return backtrader_chart_png(
        sim.candles,
        sim.forecasts,
        strategy_params=params,
        cash=st.cash,
        start=sim.oos_start,
        name=name,
        store=pieces,
    )


def _write_csvs(sim: Simulation, run_dir: Path) -> None:
    if sim.target == "return":
        extra = {"persistence": np.where(sim.forecasts.notna(), 0.0, np.nan)}
    else:  # the indicator's line of the target and each baseline's forecast
        line = "prob" if sim.target == "direction" else "vol"
        lines = sim.lines if sim.lines is not None else pd.DataFrame(index=sim.forecasts.index)
        extra = {line: lines.get(line), **sim.baselines}
    frame = pd.DataFrame(
        {
            "forecast": sim.forecasts,
            "realised": sim.realised.rename("realised"),
            **extra,
            **({} if sim.uncertainty is None else dict(sim.uncertainty.items())),
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
    report_pieces: PieceStats | None = None  # what the report reused and rendered


def run_backtest(
    config: RunConfig,
    *,
    reports_dir: Path = Path("reports"),
    cache_dir: Path | None = None,
    command: Sequence[str] | None = None,
    n_trials: int = 1,
    fold_progress: FoldProgress | None = None,
    bar_progress: BarProgress | None = None,
    stage_progress: Callable[[str], None] | None = None,
    executor: Executor | None = None,
    paper: Any = None,
) -> RunResult:
    """Run the whole backtest and write ``reports_dir/<run-id>/`` (and ``reports_dir/latest``).

    ``fold_progress`` and ``bar_progress`` report the walk-forward's folds and the strategies'
    bars; ``stage_progress(name)`` is called as each later stage starts (the report).
    ``paper``: a paper session's :class:`~lstm_backtrader.backtests.paper.record.PaperInputs`
    (its candles and model switches instead of ``config.data``).
    """
    started = time.perf_counter()
    from lstm_backtrader.models.features import hash_candles

    if paper is not None:
        candles, source = paper.candles, paper.source
    else:
        candles, source = load_candles(config.data)
    cache_root = Path(cache_dir or default_cache_dir())
    sim = simulate(
        candles,
        config,
        cache_dir=cache_root,
        fold_progress=fold_progress,
        bar_progress=bar_progress,
        executor=executor,
        switches=None if paper is None else paper.switches,
    )
    data_hash = hash_candles(candles)
    if paper is not None and paper.switches is not None:
        data_hash += json.dumps(paper.switches.times)
    run_dir = claim_run_dir(Path(reports_dir), run_id_for(config, data_hash))
    if stage_progress is not None:
        stage_progress("writing the report (tearsheet, page, charts)")
    from lstm_backtrader.backtests.report.pieces import PieceStore

    pieces = PieceStore(cache_root / REPORT_PIECES_DIR)
    summary = write_run(
        sim,
        config,
        run_dir,
        source=source,
        command=command if command is not None else sys.argv,
        n_trials=n_trials,
        started=started,
        pieces=pieces,
    )
    point_latest(Path(reports_dir), run_dir)
    return RunResult(run_dir, summary, sim, pieces.stats)
