"""A quantstats HTML tearsheet of one strategy against a benchmark, written offline.

quantstats 0.0.86, as read from its source (``quantstats/reports.py``, ``utils.py``):

* ``benchmark`` given as a **string** is a ticker that quantstats downloads from Yahoo (through
  yfinance/curl_cffi); offline it silently writes an empty benchmark. We only ever pass a
  :class:`pandas.Series` of returns aligned to the strategy's own index, and refuse anything else.
* ``periods_per_year`` (default 252) annualises Sharpe, Sortino, volatility and CAGR
  (quantstats' CAGR uses ``years = count / periods_per_year``) and sets the rolling windows
  (half a year = ``ceil(ppy / 2)`` bars), so it must be an integer: 365 for daily crypto.
* ``rf`` (default 0) is an *annual* rate that quantstats turns into a per-period one and
  subtracts from the returns in its ratios (its CAGR ignores it); it is shown in the header.
  We keep 0, the convention of the rest of the report.
* ``compounded=True`` (default) compounds returns for total return, CAGR, cumulative and
  yearly figures and appends " (Compounded)" to the title; we keep it.
* ``match_dates=True`` (default) cuts *both* series to start at the later of their first
  non-zero returns: a strategy that stays flat for its first weeks would silently shorten the
  benchmark's record too. We pass ``match_dates=False`` so the tearsheet covers exactly the
  backtest period of the report's own table (the benchmark is aligned beforehand).
* A benchmark whose index differs from the strategy's is resampled on a *daily* grid by
  quantstats, which breaks intraday bars; aligning the benchmark to the strategy's index first
  avoids that path.
* Returns whose minimum is >= 0 and maximum > 1 are taken for *prices* by quantstats and
  converted with ``pct_change``; such a series is refused here.
* The page title and benchmark name are inserted into the HTML unescaped; we escape them.

Remote references in quantstats' HTML template (and what :func:`write_tearsheet` does):

* ``<link rel="shortcut icon" href="https://qtpylib.io/favicon.ico">`` — a browser fetches it
  when the page opens: **removed**.
* ``<a href="http://quantstats.io">QuantStats</a>`` in the header — a link, fetched only when
  clicked: **replaced** by the plain word.
* ``<body onload="save()">`` calls a function the page does not define: **removed**.
* Each inline SVG chart starts with an ``<?xml?>`` prolog, a ``<!DOCTYPE svg ... svg11.dtd>``
  and an RDF ``<metadata>`` block (creation date, ``https://matplotlib.org/``): **removed**,
  which also makes the file deterministic (with ``svg.hashsalt`` fixed).
* What remains are the XML namespace names ``http://www.w3.org/2000/svg`` and
  ``http://www.w3.org/1999/xlink`` on each ``<svg>``: identifiers, never fetched
  (:data:`NAMESPACE_URIS`).
"""

from __future__ import annotations

import html
import logging
import math
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from lstm_backtrader.models.infra.fileio import atomic_write

__all__ = ["NAMESPACE_URIS", "sanitize_quantstats_html", "write_tearsheet"]

logger = logging.getLogger(__name__)

#: URL-like strings that remain in the tearsheet: XML namespace identifiers, never fetched.
NAMESPACE_URIS: tuple[str, ...] = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink")

_QUIET_LOGGERS = ("matplotlib.font_manager", "matplotlib", "quantstats", "yfinance", "PIL")


def _as_naive_utc(series: pd.Series, what: str) -> pd.Series:
    if not isinstance(series, pd.Series):
        raise TypeError(
            f"{what} must be a pandas Series of returns, got {type(series).__name__} "
            "(a string would make quantstats download a ticker from Yahoo)"
        )
    if not isinstance(series.index, pd.DatetimeIndex):
        raise ValueError(f"{what} must have a DatetimeIndex")
    out = series.astype("float64")
    if out.index.tz is not None:
        out.index = out.index.tz_convert("UTC").tz_localize(None)
    return out


def _check_returns(series: pd.Series, what: str) -> None:
    values = series.to_numpy()
    if np.isinf(values).any():
        raise ValueError(f"{what} contains infinite values")
    finite = values[~np.isnan(values)]
    if len(finite) < 2:
        raise ValueError(f"{what} needs at least 2 non-NaN returns")
    if finite.min() >= 0 and finite.max() > 1:
        raise ValueError(
            f"{what} looks like prices to quantstats (all >= 0, some > 1); pass simple returns"
        )


def sanitize_quantstats_html(text: str) -> str:
    """Remove the remote references and per-run noise quantstats 0.0.86 writes (see module
    docstring); the rest of the page is left as it is."""
    text = re.sub(r"\s*<link[^>]*rel=\"shortcut icon\"[^>]*>", "", text)
    text = re.sub(r"<a href=\"https?://quantstats\.io\"[^>]*>(.*?)</a>", r"\1", text)
    text = text.replace(' onload="save()"', "")
    text = re.sub(r"<\?xml[^>]*\?>\s*", "", text)
    text = re.sub(r"<!DOCTYPE svg[^>]*>\s*", "", text)
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    return text


def write_tearsheet(
    returns: pd.Series,
    benchmark: pd.Series,
    path: str | os.PathLike[str],
    *,
    periods_per_year: int,
    title: str,
    strategy_title: str | None = None,
    benchmark_title: str = "Buy & hold",
) -> Path:
    """Write quantstats' full HTML tearsheet of ``returns`` against ``benchmark`` to ``path``.

    Never touches the network: ``benchmark`` must be a Series of per-bar simple returns (a
    ticker string would be downloaded by quantstats and is refused). It is aligned to the
    strategy's index (every strategy bar must have a benchmark return) and both cover the same
    bars (quantstats' ``match_dates`` is off). Timezone-aware indexes
    are converted to naive UTC, the form quantstats expects. quantstats runs with the Agg
    backend, its warnings and matplotlib's font logging silenced, and matplotlib's rcParams
    restored afterwards. The file is written atomically and sanitised
    (:func:`sanitize_quantstats_html`).

    Parameters
    ----------
    returns, benchmark
        Per-bar simple returns (the strategy's, e.g. ``record.returns``, and buy and hold's).
    path
        Output HTML file.
    periods_per_year
        Bars per year (365 for daily crypto); rounded to an integer for quantstats.
    title
        Page heading (quantstats appends " (Compounded)").
    strategy_title
        Strategy column name; defaults to ``returns.name`` or ``"Strategy"``.
    benchmark_title
        Benchmark column name.

    Returns
    -------
    Path
        The written file.
    """
    if isinstance(benchmark, str) or isinstance(returns, str):
        raise TypeError("a ticker string would make quantstats download from Yahoo; pass a Series")
    ret = _as_naive_utc(returns, "returns").dropna()
    bench = _as_naive_utc(benchmark, "benchmark")
    bench = bench.reindex(ret.index)
    missing = int(bench.isna().sum())
    if missing:
        raise ValueError(f"benchmark has no return on {missing} of the strategy's {len(ret)} bars")
    _check_returns(ret, "returns")
    _check_returns(bench, "benchmark")
    if not (isinstance(periods_per_year, int | float) and periods_per_year > 0):
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year!r}")
    ppy = max(1, round(periods_per_year))
    if not math.isclose(ppy, periods_per_year):
        logger.info("quantstats needs integer periods_per_year: %s -> %d", periods_per_year, ppy)
    strategy_title = strategy_title or (str(returns.name) if returns.name else "Strategy")
    ret = ret.rename(strategy_title)
    bench = bench.rename(benchmark_title)

    import matplotlib

    if matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg", force=True)

    if float(ret.std(ddof=0)) == 0.0:
        # quantstats cannot describe a constant series (its R^2 regression raises): a strategy
        # that never traded gets a short page saying so instead of a crash
        logger.warning("%s: returns are constant (never traded): no tearsheet", strategy_title)
        note = (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title></head><body><h1>{html.escape(title)}</h1><p>{html.escape(strategy_title)}"
            f"'s returns are constant over the {len(ret)} out-of-sample bars: it never held a "
            "position, so there is nothing for a tearsheet to describe. The run's index.html "
            "has the forecasts and the baselines.</p></body></html>\n"
        )
        return atomic_write(path, lambda tmp: tmp.write_text(note, encoding="utf-8"))

    quiet = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}

    def writer(tmp: Path) -> None:
        import quantstats as qs

        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings(), matplotlib.rc_context({"svg.hashsalt": "lstm-bt"}):
                warnings.simplefilter("ignore")
                qs.reports.html(
                    ret,
                    benchmark=bench,
                    rf=0.0,
                    periods_per_year=ppy,
                    compounded=True,
                    output=str(tmp),
                    title=html.escape(title),
                    strategy_title=strategy_title,
                    benchmark_title=benchmark_title,
                    figfmt="svg",
                    match_dates=False,
                )
        finally:
            import matplotlib.pyplot as plt

            plt.close("all")
            for name, level in quiet.items():
                logging.getLogger(name).setLevel(level)
        text = tmp.read_text(encoding="utf-8")
        raw_bench = f"Benchmark: {benchmark_title.upper()} &bull;"
        text = text.replace(raw_bench, f"Benchmark: {html.escape(benchmark_title.upper())} &bull;")
        text = text.replace(
            "<title>Tearsheet (generated by QuantStats)</title>",
            f"<title>{html.escape(title)}</title>",
        )
        tmp.write_text(sanitize_quantstats_html(text), encoding="utf-8")

    return atomic_write(path, writer)
