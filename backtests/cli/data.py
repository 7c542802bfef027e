"""The data commands of ``lstm-bt``: ``fetch`` (download candles) and ``data info``.

``data info`` never imports ccxt; ``fetch`` imports it only when it runs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.table import Table

from lstm_backtrader.backtests.cli.common import out, progress_bars
from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["data_info", "fetch"]


def _fmt_time(ts: pd.Timestamp) -> str:
    if ts.hour == ts.minute == ts.second == 0:
        return ts.strftime("%Y-%m-%d")
    return ts.strftime("%Y-%m-%d %H:%M")


def _summary_table(
    title: str, frame: pd.DataFrame, extra: dict[str, str] | None = None, source: str = "data"
) -> Table:
    from lstm_backtrader.backtests.data.validate import describe_ohlcv

    report = describe_ohlcv(frame, source=source)
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
    quality = report.quality
    for label, finding in (
        ("zero volume", quality.zero_volume),
        ("high = low", quality.flat),
        ("extreme moves", quality.extreme_moves),
    ):
        first = ", ".join(_fmt_time(t) for t in finding.first)
        more = ", ..." if finding.count > len(finding.first) else ""
        table.add_row(
            label, "none" if not finding.count else f"{finding.count} (first {first}{more})"
        )
    if quality.extreme_moves.count:
        table.add_row("", f"extreme = |log return| > {quality.extreme_threshold:.3g}")
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
    from rich.progress import TextColumn

    from lstm_backtrader.backtests.data.exchange import fetch_ohlcv
    from lstm_backtrader.backtests.data.times import parse_time
    from lstm_backtrader.backtests.data.validate import timeframe_delta

    for flag, value in (("--since", since), ("--until", until)):
        if value is not None:
            parse_time(value, flag)  # one line naming the flag, before anything is downloaded
    step = timeframe_delta(timeframe)
    now = pd.Timestamp.now(tz="UTC")
    with progress_bars(
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} candles"),
        TextColumn("{task.fields[last]}"),
        count=False,
        transient=True,
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
    out.print(_summary_table("fetched candles", frame, extra, source=f"{exchange} {symbol}"))


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
        source = f"sample {sample}"
    else:
        frame = load_ohlcv(path)  # type: ignore[arg-type]
        extra = {"file": str(path)}
        source = str(path)
    out.print(_summary_table("candles", frame, extra, source=source))
    out.print("validation: ok (noteworthy bars above are reported, not errors; data unchanged)")
