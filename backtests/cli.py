"""The ``lstm-bt`` command line.

Commands stay thin: they parse options, call the library and print. Every error caused by the
user's input (:class:`~lstm_backtrader.models.infra.errors.InputError`) is printed as one line on
stderr with exit code 2 — never a traceback. Heavy libraries (TensorFlow, ccxt) are imported only
by the commands that need them, so ``lstm-bt --help`` and ``lstm-bt data info`` start fast.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="lstm-bt",
    help="Walk-forward LSTM backtests of BTC on Backtrader, with honest baselines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect candle files.", no_args_is_help=True)
app.add_typer(data_app, name="data")

out = Console()
err = Console(stderr=True)


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn an :class:`InputError` into one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time (survives redirections in tests)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


@app.callback()
def _root(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output.")
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors.")] = False,
) -> None:
    level = (
        logging.ERROR
        if quiet
        else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    )
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)


def _fmt_time(ts: pd.Timestamp) -> str:
    if ts.hour == ts.minute == ts.second == 0:
        return ts.strftime("%Y-%m-%d")
    return ts.strftime("%Y-%m-%d %H:%M")


def _summary_table(title: str, frame: pd.DataFrame, extra: dict[str, str] | None = None) -> Table:
    from lstm_backtrader.backtests.data.validate import describe_ohlcv

    report = describe_ohlcv(frame)
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in (extra or {}).items():
        table.add_row(key, value)
    table.add_row("range", f"{_fmt_time(report.start)} → {_fmt_time(report.end)}")
    table.add_row("bars", f"{report.bars:,}")
    table.add_row("timeframe", report.timeframe)
    gaps = report.gaps
    table.add_row(
        "gaps",
        "none"
        if not gaps.gaps
        else f"{gaps.gaps} ({gaps.missing_bars} bars missing; largest {gaps.largest} "
        f"ending {_fmt_time(gaps.largest_at)})",
    )
    last = frame.iloc[-1]
    table.add_row("last close", f"{last.close:,.2f}")
    return table


def _write_frame(frame: pd.DataFrame, path: Path) -> None:
    from lstm_backtrader.models.infra.fileio import atomic_write

    suffix = "".join(path.suffixes[-2:]).lower()
    if path.suffix.lower() in {".parquet", ".pq"}:
        atomic_write(path, lambda tmp: frame.to_parquet(tmp))
    elif suffix in {".csv", ".csv.gz"} or path.suffix.lower() == ".csv":
        compression = "gzip" if suffix.endswith(".gz") else None
        atomic_write(path, lambda tmp: frame.to_csv(tmp, compression=compression))
    else:
        raise InputError(f"--out {path}: unsupported extension; use .csv, .csv.gz or .parquet")


def _read_exchange_config(path: Path | None) -> dict[str, Any] | None:
    """ccxt constructor options from a JSON file (its content is never printed or logged)."""
    if path is None:
        return None
    try:
        options = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"--exchange-config {path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            f"--exchange-config {path}: not valid JSON (line {getattr(exc, 'lineno', '?')})"
        ) from None
    if not isinstance(options, dict):
        raise InputError(f"--exchange-config {path}: must hold a JSON object of ccxt options")
    return options


@app.command()
@user_errors
def fetch(
    exchange: Annotated[str, typer.Option(help="ccxt exchange id.")] = "binance",
    symbol: Annotated[str, typer.Option(help="Market symbol.")] = "BTC/USDT",
    timeframe: Annotated[str, typer.Option(help="Candle timeframe (1m … 1d, 1w).")] = "1d",
    since: Annotated[str | None, typer.Option(help="First date (UTC), e.g. 2017-08-17.")] = None,
    until: Annotated[str | None, typer.Option(help="End date (UTC, exclusive).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Candle cache folder.")] = None,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Also write the candles to .csv/.csv.gz/.parquet.")
    ] = None,
    exchange_config: Annotated[
        Path | None,
        typer.Option(help="JSON file of ccxt exchange options (API keys, URLs); never logged."),
    ] = None,
) -> None:
    """Download candles through ccxt into the on-disk cache (only new candles on a rerun)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from lstm_backtrader.backtests.data.exchange import fetch_ohlcv
    from lstm_backtrader.backtests.data.validate import timeframe_delta

    step = timeframe_delta(timeframe)
    now = pd.Timestamp.now(tz="UTC")
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} candles"),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task(f"{exchange} {symbol} {timeframe}", total=None, last="")

        def on_page(count: int, last: pd.Timestamp) -> None:
            remaining = max(0, int((now - last) / step) - 1)
            progress.update(task, completed=count, total=count + remaining, last=_fmt_time(last))

        frame = fetch_ohlcv(
            exchange=exchange,
            symbol=symbol,
            timeframe=timeframe,
            since=since,
            until=until,
            cache_dir=cache_dir,
            exchange_options=_read_exchange_config(exchange_config),
            progress=on_page,
        )
    extra = {"exchange": exchange, "symbol": symbol}
    if out_path is not None:
        _write_frame(frame, out_path)
        extra["written to"] = str(out_path)
    out.print(_summary_table("fetched candles", frame, extra))


@data_app.command("info")
@user_errors
def data_info(
    path: Annotated[
        Path | None, typer.Argument(help="A candle file (CSV, CSV.gz, parquet).")
    ] = None,
    sample: Annotated[
        str | None, typer.Option(help="Describe the embedded sample instead: 1d or 1h.")
    ] = None,
) -> None:
    """Range, bars, timeframe, gaps and validation problems of a candle file."""
    from lstm_backtrader.backtests.data.files import load_ohlcv
    from lstm_backtrader.backtests.data.sample import SAMPLES, sample_path

    if (path is None) == (sample is None):
        raise InputError("give either a PATH or --sample 1d|1h")
    if sample is not None:
        frame = load_ohlcv(sample_path(sample))
        info = SAMPLES[sample]
        extra = {"source": f"embedded sample ({info.exchange} {info.symbol})"}
    else:
        frame = load_ohlcv(path)  # type: ignore[arg-type]
        extra = {"file": str(path)}
    out.print(_summary_table("candles", frame, extra))
    out.print("validation: ok")


ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML run configuration.")]
DataOpt = Annotated[Path | None, typer.Option(help="A candle file instead of the sample.")]
ExchangeOpt = Annotated[str | None, typer.Option(help="Download from this ccxt exchange.")]
SymbolOpt = Annotated[str | None, typer.Option(help="Market symbol (with --exchange).")]
TimeframeOpt = Annotated[str | None, typer.Option(help="Candle timeframe (with --exchange).")]
SinceOpt = Annotated[str | None, typer.Option(help="First date (UTC) of the data to use.")]
CacheOpt = Annotated[Path | None, typer.Option(help="Fold-model cache folder.")]


def _run_config(
    config: Path | None,
    data: Path | None,
    exchange: str | None,
    symbol: str | None,
    timeframe: str | None,
    since: str | None,
    walkforward: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
) -> Any:
    """The TOML file's configuration with CLI flags on top."""
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


@app.command()
@user_errors
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
) -> None:
    """Walk-forward LSTM backtest vs baselines; writes reports/<run-id>/ (offline by default)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from lstm_backtrader.backtests.run import run_backtest

    cfg = _run_config(
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
    from lstm_backtrader.models.infra.executor import make_executor

    executor = make_executor(workers=workers, scheduler=scheduler)
    if executor.workers > 1 and cfg.walkforward.warm_start and cfg.model.kind == "lstm":
        logger.warning(
            "warm-started folds depend on each other and train one after the other; "
            "use --from-scratch to train them on %s",
            executor.name,
        )
    with (
        executor,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=err,
            disable=not err.is_terminal,
        ) as progress,
    ):
        folds = progress.add_task("folds trained", total=None, note="")
        bars: dict[str, Any] = {}

        def on_fold(i: int, n: int, row: dict[str, Any]) -> None:
            note = "cached" if row.get("cached") else f"{row.get('seconds', 0):.1f}s"
            progress.update(folds, completed=i + 1, total=n, note=note)

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
            executor=executor if executor.workers > 1 or scheduler else None,
        )
    _print_summary(result.summary)
    out.print(f"report: {result.run_dir / 'index.html'}")


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


@app.command()
@user_errors
def report(
    run: Annotated[Path, typer.Argument(help="A run folder (reports/<run-id> or reports/latest).")],
) -> None:
    """Rebuild a run's HTML (page and tearsheet) from its saved results, without retraining."""
    from lstm_backtrader.backtests.report.page import load_summary, rebuild_index
    from lstm_backtrader.backtests.report.tearsheet import write_tearsheet

    summary_path = run / "summary.json"
    equity_path = run / "equity.csv"
    for needed in (summary_path, equity_path):
        if not needed.is_file():
            raise InputError(f"{run}: not a run folder ({needed.name} is missing)")
    summary = load_summary(summary_path)
    equity = pd.read_csv(equity_path, index_col="timestamp", parse_dates=["timestamp"])
    returns = equity.pct_change().fillna(0.0)
    if "LSTM" in returns and "Buy & hold" in returns:
        write_tearsheet(
            returns["LSTM"],
            returns["Buy & hold"],
            run / "tearsheet.html",
            periods_per_year=int(round(summary["periods_per_year"])),
            title="LSTM strategy vs buy & hold",
            strategy_title="LSTM",
        )
    page = rebuild_index(run)
    out.print(f"rebuilt: {page}")


@app.command()
@user_errors
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
    equity value up to T must be identical. Exit code 1 on any difference."""
    from lstm_backtrader.backtests.audit import audit as run_audit
    from lstm_backtrader.backtests.audit import default_points
    from lstm_backtrader.backtests.run import default_cache_dir, load_candles

    cfg = _run_config(config, data, exchange, symbol, timeframe, since)
    candles, _ = load_candles(cfg.data)
    table = Table(title="look-ahead audit", title_justify="left")
    for col in ("T", "variant", "result", "first difference"):
        table.add_column(col)
    checks = run_audit(
        candles,
        cfg,
        points=default_points(candles, cfg, points),
        cache_dir=cache_dir or default_cache_dir(),
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
    out.print(f"audit passed: {len(checks)} checks, nothing up to T changed")


@app.command()
@user_errors
def sweep(
    config: Annotated[
        Path, typer.Option("--config", help="TOML sweep file (see configs/sweep.toml).")
    ],
    workers: Annotated[int, typer.Option(help="Trials run at once (1 = serial).")] = 1,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address, e.g. tcp://host:8786.")
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (default: reports/sweeps/<sweep-id>)."),
    ] = None,
    cache_dir: CacheOpt = None,
    top: Annotated[int, typer.Option(help="Trials shown in the terminal table.")] = 10,
) -> None:
    r"""Walk-forward backtests over a grid (or list) of model/strategy parameters, seeds and
    assets; writes sweep.csv, seeds.csv, sweep.json and index.html, ranked by Sharpe with each
    trial's DSR deflated for the true number of trials.

    Sweep file (TOML, paths relative to it; see configs/sweep.toml): base = "run.toml" (a run
    config as for backtest --config; optional), optional \[model] \[walkforward] \[strategy]
    \[data] tables on top of it, seeds = \[1, 2, 3] (model.seed values), mode = "grid" with
    \[grid] "section.field" = \[values] (cartesian product) or mode = "list" with \[\[trials]]
    tables of "section.field" = value, and optional \[\[assets]] tables (name, then sample =
    "1d", path = "file.csv" or exchange/symbol/timeframe; since/until). Finished trials are
    cached in <cache-dir>/trials and reused on a rerun.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from lstm_backtrader.backtests.sweep import load_sweep, run_sweep

    spec = load_sweep(config)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("trials run", total=None)

        def on_plan(n_trials: int, n_todo: int) -> None:
            progress.update(task, total=n_todo, completed=0)
            if n_todo < n_trials:
                progress.console.print(f"{n_trials - n_todo} of {n_trials} trials cached")

        def on_trial(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = run_sweep(
            spec,
            out_dir=out_dir,
            cache_dir=cache_dir,
            workers=workers,
            scheduler=scheduler,
            progress=on_trial,
            on_plan=on_plan,
        )
    _print_sweep(result.table, result.summary, top)
    out.print(f"sweep: {result.out_dir / 'index.html'}")


def _print_sweep(table: pd.DataFrame, summary: dict[str, Any], top: int) -> None:
    keys = list(summary.get("param_keys") or [])
    n = len(table)
    grid = Table(
        title=f"top {min(top, n)} of {n} trials by Sharpe (DSR with N = {n})", title_justify="left"
    )
    for col in ("#", "trial", "asset", *keys, "seed", "Sharpe", "DSR", "CAGR", "RMSE ratio"):
        grid.add_column(
            escape(col),
            justify="left" if col in ("trial", "asset", *keys) else "right",
            no_wrap=col not in ("asset", *keys),
        )

    def num(v: Any, fmt: str = ".2f") -> str:
        return "—" if v is None or pd.isna(v) else format(v, fmt)

    for _, row in table.head(max(top, 0)).iterrows():
        grid.add_row(
            str(row["rank"]),
            row["trial_id"],
            escape(str(row["asset"])),
            *(escape("none" if pd.isna(row[k]) else str(row[k])) for k in keys),
            str(row["seed"]),
            num(row["sharpe"]) + (" ▲" if row["beats_bh"] else ""),
            num(row["dsr"], ".3f"),
            num(row["cagr"], ".1%"),
            num(row["rmse_ratio"], ".3f"),
        )
    out.print(grid)
    for asset in summary.get("assets") or []:
        lo, hi = asset.get("bh_sharpe_min"), asset.get("bh_sharpe_max")
        bh = num(lo) if lo == hi else f"{num(lo)} … {num(hi)}"
        out.print(
            f"buy & hold Sharpe on {escape(str(asset['asset']))}: {bh}; "
            f"{asset.get('trials_beating_bh')} of {asset.get('trials')} trials beat it (▲)",
            highlight=False,
        )


def main() -> None:
    """Entry point of the ``lstm-bt`` console script."""
    # TensorFlow's C++ start-up chatter (no GPU, oneDNN) is noise on a CPU-only CLI
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    app()


if __name__ == "__main__":
    main()
