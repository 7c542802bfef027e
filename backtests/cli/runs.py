"""The run commands of ``lstm-bt``: ``backtest``, ``report`` and ``audit``.

``backtest`` and ``audit`` read a TOML run configuration with the command-line flags on top
(:func:`_run_config`); TensorFlow is imported only once one of them runs.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from lstm_backtrader.backtests.cli.common import CacheOpt, err, out, progress_bars
from lstm_backtrader.models.infra.errors import InputError

if TYPE_CHECKING:
    from lstm_backtrader.backtests.config import RunConfig

logger = logging.getLogger(__name__)

__all__ = ["audit", "backtest", "report"]

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML run configuration.")]
DataOpt = Annotated[Path | None, typer.Option(help="A candle file instead of the sample.")]
ExchangeOpt = Annotated[str | None, typer.Option(help="Download from this ccxt exchange.")]
SymbolOpt = Annotated[str | None, typer.Option(help="Market symbol (with --exchange).")]
TimeframeOpt = Annotated[str | None, typer.Option(help="Candle timeframe (with --exchange).")]
SinceOpt = Annotated[str | None, typer.Option(help="First date (UTC) of the data to use.")]


def _run_config(
    config: Path | None,
    data: Path | None,
    exchange: str | None,
    symbol: str | None,
    timeframe: str | None,
    since: str | None,
    walkforward: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
) -> RunConfig:
    """The TOML file's configuration with CLI flags on top.

    Parameters
    ----------
    config
        The ``--config`` TOML file, or ``None`` for the defaults.
    data, exchange, symbol, timeframe, since
        The data flags; ``None`` keeps the file's value. ``--data`` and ``--exchange``
        exclude each other.
    walkforward, model
        Overrides of those sections (``None`` values keep the file's value).

    Returns
    -------
    RunConfig
        The merged :class:`~lstm_backtrader.backtests.config.RunConfig`.

    Raises
    ------
    InputError
        Both ``--data`` and ``--exchange``, or a bad configuration file or value.
    """
    from lstm_backtrader.backtests.config import load_config

    cfg = load_config(config)
    data_over: dict[str, Any] = {"since": since}
    if data is not None and exchange is not None:
        raise InputError("give either --data or --exchange, not both")
    if data is not None:
        data_over.update(source="file", path=str(data))
    if exchange is not None:
        data_over.update(source="exchange", exchange=exchange)
    data_over.update(symbol=symbol, timeframe=timeframe)
    return cfg.with_overrides(
        {"data": data_over, "walkforward": walkforward or {}, "model": model or {}}
    )


def backtest(
    config: ConfigOpt = None,
    data: DataOpt = None,
    exchange: ExchangeOpt = None,
    symbol: SymbolOpt = None,
    timeframe: TimeframeOpt = None,
    since: SinceOpt = None,
    train_bars: Annotated[int | None, typer.Option(help="Walk-forward training bars.")] = None,
    retrain_every: Annotated[int | None, typer.Option(help="Bars between refits.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs of a fresh fit.")] = None,
    seed: Annotated[int | None, typer.Option(help="Model seed.")] = None,
    reports_dir: Annotated[Path, typer.Option(help="Where run folders go.")] = Path("reports"),
    cache_dir: CacheOpt = None,
    trials: Annotated[int, typer.Option(help="Configurations tried, for the DSR.")] = 1,
    warm_start: Annotated[
        bool | None,
        typer.Option(
            "--warm-start/--from-scratch",
            help="Start each fold from the previous fold's weights, or train every fold from "
            "scratch (independent folds: these run on --workers / --scheduler).",
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Processes training independent folds (1 = here).")
    ] = 1,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler training independent folds, e.g. tcp://host:8786."),
    ] = None,
    from_paper: Annotated[
        Path | None,
        typer.Option(
            "--from-paper",
            help="Reproduce a paper session (paper/<name>): its configuration, the candles it "
            "saw and when each fold's model took over; no --config or data options.",
        ),
    ] = None,
) -> None:
    """Walk-forward LSTM backtest vs baselines; writes reports/<run-id>/ (offline by default)."""
    started = time.perf_counter()
    from rich.progress import TextColumn

    from lstm_backtrader.backtests.run import run_backtest

    paper = None
    if from_paper is not None:
        given = {"--config": config, "--data": data, "--exchange": exchange, "--symbol": symbol,
                 "--timeframe": timeframe, "--since": since, "--train-bars": train_bars,
                 "--retrain-every": retrain_every, "--epochs": epochs, "--seed": seed,
                 "--warm-start/--from-scratch": warm_start}  # fmt: skip
        clash = [name for name, value in given.items() if value is not None]
        if clash:
            raise InputError(
                f"--from-paper takes the session's own configuration and candles: drop {clash[0]}"
            )
        from lstm_backtrader.backtests.paper.record import paper_inputs

        paper = paper_inputs(from_paper)
    cfg = (
        paper.config
        if paper is not None
        else _run_config(
            config,
            data,
            exchange,
            symbol,
            timeframe,
            since,
            walkforward={
                "train_bars": train_bars,
                "retrain_every": retrain_every,
                "warm_start": warm_start,
            },
            model={"epochs": epochs, "seed": seed},
        )
    )
    from lstm_backtrader.models.infra.executor import make_executor

    executor = make_executor(workers=workers, scheduler=scheduler)
    from lstm_backtrader.models.factory import build_forecaster

    warm = getattr(build_forecaster(cfg.model), "supports_warm_start", False)
    if executor.workers > 1 and cfg.walkforward.warm_start and warm:
        logger.warning(
            "warm-started folds depend on each other and train one after the other; "
            "use --from-scratch to train them on %s",
            executor.name,
        )
    with (
        executor,
        progress_bars(TextColumn("{task.fields[note]}")) as progress,
    ):
        folds = progress.add_task("folds trained", total=None, note="")
        bars: dict[str, Any] = {}

        def on_fold(i: int, n: int, row: dict[str, Any]) -> None:
            if i < 0:  # before the first fold: the total is known at once
                progress.update(folds, completed=0, total=n, note="training fold 1")
                return
            note = "cached" if row.get("cached") else f"{row.get('seconds', 0):.1f}s"
            progress.update(folds, completed=i + 1, total=n, note=note)

        stage: dict[str, Any] = {}

        def on_stage(name: str) -> None:
            if "task" in stage:
                progress.update(stage["task"], completed=1, total=1)
            stage["task"] = progress.add_task(name, total=None, note="")

        def on_bar(name: str, done: int, total: int) -> None:
            if name not in bars:
                bars[name] = progress.add_task(f"bars replayed: {name}", total=total, note="")
            if done == total or done % 50 == 0:
                progress.update(bars[name], completed=done)

        result = run_backtest(
            cfg,
            reports_dir=reports_dir,
            cache_dir=cache_dir,
            command=sys.argv,
            n_trials=trials,
            fold_progress=on_fold,
            bar_progress=on_bar,
            stage_progress=on_stage,
            executor=executor if executor.workers > 1 or scheduler else None,
            paper=paper,
        )
        if "task" in stage:
            progress.update(stage["task"], completed=1, total=1)
    _print_summary(result.summary)
    out.print(f"report: {result.run_dir / 'index.html'}")
    out.print(f"done in {time.perf_counter() - started:.1f} s")


def _print_summary(summary: dict[str, Any]) -> None:
    strategies = summary.get("strategies") or {}
    rows = strategies.get("rows") or []
    table = Table(title="strategies (out-of-sample)", title_justify="left")
    for col in ("strategy", "CAGR", "Sharpe", "Max DD", "Trades", "Fees"):
        table.add_column(col, justify="left" if col == "strategy" else "right")

    def pct(v: Any) -> str:
        return "—" if v is None else f"{v:.1%}"

    def num(v: Any, fmt: str = ".2f") -> str:
        return "—" if v is None else format(v, fmt)

    for row in rows:
        table.add_row(
            str(row.get("strategy")),
            pct(row.get("cagr")),
            num(row.get("sharpe")),
            pct(row.get("max_drawdown")),
            num(row.get("n_trades"), ".0f"),
            num(row.get("fees_paid"), ",.0f"),
        )
    out.print(table)
    fc = summary.get("forecast") or {}
    if fc:
        direction = fc.get("directional") or {}
        dm = fc.get("dm_vs_baseline") or {}
        out.print(
            f"LSTM vs persistence: RMSE ratio {num(fc.get('rmse_ratio'), '.3f')}, "
            f"direction {pct(direction.get('accuracy'))} vs always-up "
            f"{pct(direction.get('always_up_rate'))}, DM p-value {num(dm.get('p_value'), '.3f')}"
        )


def report(
    run: Annotated[
        Path,
        typer.Argument(
            help="A run folder (reports/<run-id> or reports/latest) or a paper session folder "
            "(paper/<name>)."
        ),
    ],
    cache_dir: CacheOpt = None,
) -> None:
    """Rebuild a run's HTML (page and tearsheet) from its saved results, without retraining; for
    a paper session folder, write the tearsheet of its paper period (from trade_from on) vs buy
    & hold. An unchanged tearsheet is read back from the report pieces beside the fold cache."""
    from lstm_backtrader.backtests.report.page import load_summary, rebuild_index
    from lstm_backtrader.backtests.report.pieces import PieceStore
    from lstm_backtrader.backtests.report.tearsheet import write_tearsheet
    from lstm_backtrader.backtests.run import REPORT_PIECES_DIR
    from lstm_backtrader.backtests.simulation import MODEL_NAME, default_cache_dir

    if not run.is_dir():
        raise InputError(
            f"{run}: not a folder; give a run folder such as reports/latest or a paper session "
            "folder such as paper/<name>"
        )
    if (run / "session.json").is_file():  # a paper session folder (docs/paper.md)
        from lstm_backtrader.backtests.paper.report import paper_report

        store = PieceStore((cache_dir or default_cache_dir()) / REPORT_PIECES_DIR)
        out.print(f"tearsheet: {paper_report(run, store=store)}")
        return
    summary_path = run / "summary.json"
    equity_path = run / "equity.csv"
    for needed in (summary_path, equity_path):
        if not needed.is_file():
            raise InputError(f"{run}: not a run folder ({needed.name} is missing)")
    summary = load_summary(summary_path)  # names summary.json when it is corrupt
    try:
        equity = pd.read_csv(equity_path, index_col="timestamp", parse_dates=["timestamp"])
        returns = equity.astype("float64").pct_change().fillna(0.0)
    except (ValueError, KeyError, pd.errors.ParserError) as exc:
        raise InputError(
            f"{equity_path}: corrupt ({' '.join(str(exc).split())[:120]}); rerun the backtest"
        ) from None
    ppy = summary.get("periods_per_year")
    if not isinstance(ppy, int | float) or not ppy > 0:
        raise InputError(f"{summary_path}: periods_per_year is {ppy!r}; rerun the backtest")
    if MODEL_NAME in returns and "Buy & hold" in returns:
        write_tearsheet(
            returns[MODEL_NAME],
            returns["Buy & hold"],
            run / "tearsheet.html",
            periods_per_year=int(round(ppy)),
            title=f"{MODEL_NAME} strategy vs buy & hold",
            strategy_title=MODEL_NAME,
            store=PieceStore((cache_dir or default_cache_dir()) / REPORT_PIECES_DIR),
        )
    page = rebuild_index(run)
    out.print(f"rebuilt: {page}")


def audit(
    config: ConfigOpt = None,
    data: DataOpt = None,
    exchange: ExchangeOpt = None,
    symbol: SymbolOpt = None,
    timeframe: TimeframeOpt = None,
    since: SinceOpt = None,
    points: Annotated[int, typer.Option(help="How many cut points T to check.")] = 3,
    cache_dir: CacheOpt = None,
) -> None:
    """Look-ahead audit: cut (and noise-fill) the data after several T; every forecast, order and
    equity value up to T must be identical. Exit codes: 0 passed, 1 a leak (the first difference
    is named), 2 bad input, 3 the audit itself failed."""

    from lstm_backtrader.backtests.audit import audit as run_audit
    from lstm_backtrader.backtests.audit import default_points
    from lstm_backtrader.backtests.simulation import default_cache_dir, load_candles

    started = time.perf_counter()
    if points < 1:  # before loading anything: an audit of no point would check nothing
        raise InputError(f"--points is {points}: check at least 1 cut point")
    cfg = _run_config(config, data, exchange, symbol, timeframe, since)
    candles, _ = load_candles(cfg.data)
    table = Table(title="look-ahead audit", title_justify="left")
    for col in ("T", "variant", "result", "first difference"):
        table.add_column(col)
    cut_points = default_points(candles, cfg, points)
    with progress_bars(transient=True) as progress:
        task = progress.add_task("audit checks", total=2 * len(cut_points))
        checks = run_audit(
            candles,
            cfg,
            points=cut_points,
            cache_dir=cache_dir or default_cache_dir(),
            on_check=lambda _: progress.advance(task),
        )
    for c in checks:
        table.add_row(
            c.point.isoformat(),
            c.variant,
            "identical" if c.identical else "[red]DIFFERS[/]",
            c.first_difference or "",
        )
    out.print(table)
    bad = [c for c in checks if not c.identical]
    if bad:
        err.print(
            f"audit failed: {bad[0].variant} at {bad[0].point.isoformat()}: "
            f"{bad[0].first_difference}"
        )
        raise typer.Exit(1)
    out.print(
        f"audit passed: {len(checks)} checks, nothing up to T changed "
        f"({time.perf_counter() - started:.1f} s)"
    )
