"""A quantstats HTML tearsheet of one strategy against a benchmark, written offline.

What quantstats receives
------------------------
The run page's statistics (:mod:`lstm_backtrader.backtests.report.stats`) use the ``N - 1``
bar-to-bar returns of an ``N``-bar equity curve and drop the placeholder 0.0 that
``StrategyRecord.returns`` puts on the first bar. :func:`write_tearsheet` takes the returns in
that ``record.returns`` form (first value 0.0 or NaN, refused otherwise) and gives quantstats the
same ``N - 1`` returns, so that the figures both pages show are computed from the same numbers:
Cumulative Return, Sharpe, Sortino, volatility and max drawdown equal the page's to the shown
precision. The header's period still starts at the first bar close. The figures that still
differ come from quantstats' own conventions; :func:`tearsheet_differences` lists them with
both values and the reason, for the run page to show next to its link.

quantstats 0.0.86, as read from its source (``quantstats/reports.py``, ``stats.py``,
``utils.py``):

* ``benchmark`` given as a **string** is a ticker that quantstats downloads from Yahoo (through
  yfinance/curl_cffi); offline it silently writes an empty benchmark. We only ever pass a
  :class:`pandas.Series` of returns aligned to the strategy's own index, and refuse anything else.
* ``periods_per_year`` (default 252) annualises Sharpe, Sortino, volatility and CAGR
  (quantstats' CAGR uses ``years = count / periods_per_year``, the page calendar time) and sets
  the rolling windows (half a year = ``ceil(ppy / 2)`` bars), so it must be an integer: 365 for
  daily crypto.
* ``rf`` (default 0) is an *annual* rate that quantstats turns into a per-period one and
  subtracts from the returns in its ratios (its CAGR ignores it); it is shown in the header.
  We keep 0, the convention of the rest of the report.
* ``compounded=True`` (default) compounds returns for total return, CAGR, cumulative and
  yearly figures and appends " (Compounded)" to the title; we keep it.
* ``match_dates=True`` (default) cuts *both* series to start at the later of their first
  non-zero returns: a strategy that stays flat for its first weeks would silently shorten the
  benchmark's record too. We pass ``match_dates=False`` so the tearsheet covers exactly the
  backtest period of the report's own table (the benchmark is aligned beforehand).
* ``reports.metrics`` fills missing returns with 0 (``df.fillna(0)``) before every statistic,
  so a calendar grid with NaN on days without a bar would add zero returns and change Sharpe;
  the statistics therefore get the bar returns only, and a return over a data gap stays on the
  bar after the gap.
* A benchmark whose index differs from the strategy's is resampled on a *daily* grid by
  quantstats, which breaks intraday bars; aligning the benchmark to the strategy's index first
  avoids that path.
* Returns whose minimum is >= 0 and maximum > 1 are taken for *prices* by quantstats and
  converted with ``pct_change``; such a series is refused here.
* The page title and benchmark name are inserted into the HTML unescaped; we escape them.
* Charts and cells quantstats gets wrong (the daily cumulative-sum chart diving to 0 across a
  data gap, 0.00 heatmap cells for months without bars, rolling beta drawn at 0 before its
  window fills, the strategy's R^2 and Information Ratio repeated in the benchmark column) are
  corrected after it writes the page: :mod:`lstm_backtrader.backtests.report.tearsheet_fixes`.

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
import json
import logging
import math
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstm_backtrader.backtests.report import tearsheet_fixes as fixes
from lstm_backtrader.backtests.report.pieces import PieceStore, cached
from lstm_backtrader.backtests.report.tearsheet_compare import (
    SharedFigure,
    difference_sentences,
    shared_figures,
)
from lstm_backtrader.models.infra.fileio import atomic_write
from lstm_backtrader.strategies.record import StrategyRecordLike

__all__ = [
    "NAMESPACE_URIS",
    "SharedFigure",
    "TearsheetInputs",
    "sanitize_quantstats_html",
    "tearsheet_comparison",
    "tearsheet_differences",
    "tearsheet_inputs",
    "write_tearsheet",
]

logger = logging.getLogger(__name__)

#: URL-like strings that remain in the tearsheet: XML namespace identifiers, never fetched.
NAMESPACE_URIS: tuple[str, ...] = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink")

#: What the tearsheet's bytes depend on besides its inputs (keys of the report piece store).
PIECE_CODE = (
    "lstm_backtrader.backtests.report.tearsheet",
    "lstm_backtrader.backtests.report.tearsheet_fixes",
)
PIECE_PACKAGES = ("quantstats", "matplotlib", "seaborn", "pandas", "numpy", "scipy")
#: ... and the tearsheet notes (:func:`tearsheet_differences`), which also use the page's stats.
NOTES_CODE = (
    *PIECE_CODE,
    "lstm_backtrader.backtests.report.tearsheet_compare",
    "lstm_backtrader.backtests.report.stats",
    "lstm_backtrader.models.metrics",
)

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
    if len(finite) and finite.min() >= 0 and finite.max() > 1:
        raise ValueError(
            f"{what} looks like prices to quantstats (all >= 0, some > 1); pass simple returns"
        )


def _drop_placeholder(series: pd.Series, what: str) -> pd.Series:
    first = float(series.iloc[0])
    if not (math.isnan(first) or first == 0.0):
        raise ValueError(
            f"{what} must start with the first bar's placeholder 0.0 (as StrategyRecord.returns "
            f"gives it: no equity is observed before the first close), got {first!r}"
        )
    out = series.iloc[1:].dropna()
    if len(out) < 2:
        raise ValueError(f"{what} needs at least 2 non-NaN returns after the first bar")
    return out


@dataclass(frozen=True)
class TearsheetInputs:
    """The series quantstats receives for a tearsheet (see :func:`tearsheet_inputs`).

    Attributes
    ----------
    returns, benchmark
        The ``N - 1`` bar returns (first bar's placeholder dropped, naive UTC index), the
        benchmark's on the strategy's bars: what the page's statistics use.
    bars
        All ``N`` bar times, the first included (the tearsheet's period starts there).
    periods_per_year
        The integer bars-per-year quantstats annualises with.
    """

    returns: pd.Series
    benchmark: pd.Series
    bars: pd.DatetimeIndex
    periods_per_year: int

    @property
    def constant(self) -> bool:
        """True when the strategy's returns never change (it never held a position)."""
        return float(self.returns.std(ddof=0)) == 0.0


def tearsheet_inputs(
    returns: pd.Series, benchmark: pd.Series, periods_per_year: float
) -> TearsheetInputs:
    """Check and prepare the series of a tearsheet exactly as :func:`write_tearsheet` does.

    ``returns`` and ``benchmark`` are per-bar simple returns in ``StrategyRecord.returns`` form
    (the first bar's value is a placeholder 0.0 or NaN); the benchmark is aligned to the
    strategy's bars (every bar must have one). Raises :class:`TypeError` for a ticker string,
    :class:`ValueError` for a misaligned benchmark, prices, infinite values, fewer than 3 bars,
    a first value that is not a placeholder or a non-positive ``periods_per_year``.
    """
    if isinstance(benchmark, str) or isinstance(returns, str):
        raise TypeError("a ticker string would make quantstats download from Yahoo; pass a Series")
    full = _as_naive_utc(returns, "returns")
    if len(full) == 0:
        raise ValueError("returns is empty")
    given = _as_naive_utc(benchmark, "benchmark")
    bench = given.reindex(full.index)
    # the first bar's benchmark value is a placeholder too (NaN is fine), but it must be there
    later = bench.iloc[1:][full.iloc[1:].notna().to_numpy()]
    missing = int(later.isna().sum()) + int(full.index[0] not in given.index)
    if missing:
        raise ValueError(f"benchmark has no return on {missing} of the strategy's {len(full)} bars")
    _check_returns(full, "returns")
    _check_returns(bench, "benchmark")
    if not (isinstance(periods_per_year, int | float) and periods_per_year > 0):
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year!r}")
    ppy = max(1, round(periods_per_year))
    if not math.isclose(ppy, periods_per_year):
        logger.info("quantstats needs integer periods_per_year: %s -> %d", periods_per_year, ppy)
    ret = _drop_placeholder(full, "returns")
    return TearsheetInputs(ret, bench.reindex(ret.index), pd.DatetimeIndex(full.index), ppy)


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


@contextmanager
def _quantstats() -> Iterator[Any]:
    """quantstats imported, with the Agg backend, its warnings and chatty loggers silenced and
    matplotlib's rcParams (which quantstats' style changes) restored on exit."""
    import matplotlib

    if matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg", force=True)
    quiet = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
    import quantstats as qs

    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), matplotlib.rc_context({"svg.hashsalt": "lstm-bt"}):
            warnings.simplefilter("ignore")
            yield qs
    finally:
        import matplotlib.pyplot as plt

        plt.close("all")
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)


def write_tearsheet(
    returns: pd.Series,
    benchmark: pd.Series,
    path: str | os.PathLike[str],
    *,
    periods_per_year: int,
    title: str,
    strategy_title: str | None = None,
    benchmark_title: str = "Buy & hold",
    store: PieceStore | None = None,
) -> Path:
    """Write quantstats' full HTML tearsheet of ``returns`` against ``benchmark`` to ``path``.

    Never touches the network: ``benchmark`` must be a Series of per-bar simple returns (a
    ticker string would be downloaded by quantstats and is refused). Both are in
    ``StrategyRecord.returns`` form, the first bar's value a placeholder 0.0 (or NaN); the
    benchmark is aligned to the strategy's index (every strategy bar must have a benchmark
    return) and both cover the same bars (quantstats' ``match_dates`` is off). quantstats gets
    the ``N - 1`` bar returns, like the page's statistics (:func:`tearsheet_inputs`); the header
    shows the period from the first bar close. Timezone-aware indexes are converted to naive
    UTC, the form quantstats expects. quantstats runs with the Agg backend, its warnings and
    matplotlib's font logging silenced, and matplotlib's rcParams restored afterwards. The
    daily cumulative-sum chart, the monthly heatmap, the rolling beta and the benchmark's R^2 and
    Information Ratio cells are corrected
    (:mod:`lstm_backtrader.backtests.report.tearsheet_fixes`); the file is written atomically
    and sanitised (:func:`sanitize_quantstats_html`). :func:`tearsheet_differences` says which
    figures still differ from the run page's and why.

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
    store
        A :class:`~lstm_backtrader.backtests.report.pieces.PieceStore`: the page is read back
        from it when the series, titles, code and library versions are unchanged.

    Returns
    -------
    Path
        The written file.
    """
    inputs = tearsheet_inputs(returns, benchmark, periods_per_year)
    strategy_title = strategy_title or (str(returns.name) if returns.name else "Strategy")
    key_inputs = {
        "returns": inputs.returns,
        "benchmark": inputs.benchmark,
        "bars": inputs.bars,
        "periods_per_year": inputs.periods_per_year,
        "titles": (title, strategy_title, benchmark_title),
    }
    if inputs.constant:
        logger.warning("%s: returns are constant (never traded): no tearsheet", strategy_title)

    def render() -> bytes:
        return _tearsheet_html(inputs, title, strategy_title, benchmark_title).encode("utf-8")

    page = cached(
        store, "tearsheet", "html", render, key_inputs, code=PIECE_CODE, packages=PIECE_PACKAGES
    )
    return atomic_write(path, lambda tmp: tmp.write_bytes(page))


def _tearsheet_html(
    inputs: TearsheetInputs, title: str, strategy_title: str, benchmark_title: str
) -> str:
    """The tearsheet page of :func:`write_tearsheet` (quantstats writes it into a private
    temporary folder, then it is corrected and sanitised)."""
    ret = inputs.returns.rename(strategy_title)
    bench = inputs.benchmark.rename(benchmark_title)
    ppy = inputs.periods_per_year

    if inputs.constant:
        # quantstats cannot describe a constant series (its R^2 regression raises): a strategy
        # that never traded gets a short page saying so instead of a crash
        return (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title></head><body><h1>{html.escape(title)}</h1><p>{html.escape(strategy_title)}"
            f"'s returns are constant over the {len(inputs.bars)} out-of-sample bars: it never "
            "held a position, so there is nothing for a tearsheet to describe. The run's "
            "index.html has the forecasts and the baselines.</p></body></html>\n"
        )

    # the first bar's placeholder anchors the daily chart at the period's start
    chart_returns = pd.concat([pd.Series([0.0], index=inputs.bars[:1]), ret]).rename(strategy_title)

    with tempfile.TemporaryDirectory(prefix="lstm-bt-tearsheet-") as folder:
        tmp = Path(folder) / "tearsheet.html"
        with _quantstats() as qs:
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
            half_year = math.ceil(ppy / 2)  # quantstats' _get_trading_periods
            figures = {
                "daily_returns": fixes.daily_returns_svg(qs, chart_returns),
                "rolling_beta": fixes.rolling_beta_svg(qs, ret, bench, half_year, ppy),
                "monthly_heatmap": fixes.heatmap_svg(qs, ret, inputs.bars, strategy_title),
            }
        text = tmp.read_text(encoding="utf-8")
        for div_id, svg in figures.items():
            text = fixes.replace_figure(text, div_id, svg)
        text = fixes.blank_benchmark_cells(text)
        text = fixes.set_date_range(text, inputs.bars[0], inputs.bars[-1])
        raw_bench = f"Benchmark: {benchmark_title.upper()} &bull;"
        text = text.replace(raw_bench, f"Benchmark: {html.escape(benchmark_title.upper())} &bull;")
        text = text.replace(
            "<title>Tearsheet (generated by QuantStats)</title>",
            f"<title>{html.escape(title)}</title>",
        )
    return sanitize_quantstats_html(text)


# --------------------------------------------------------------------------- page vs tearsheet


def tearsheet_comparison(
    strategy_record: StrategyRecordLike,
    benchmark_record: StrategyRecordLike,
    periods_per_year: float,
) -> list[SharedFigure]:
    """Every figure shown both by the tearsheet of ``strategy_record`` against
    ``benchmark_record`` and by the run page, with both values (see :func:`tearsheet_differences`).

    The tearsheet's values come from quantstats' own functions on the series
    :func:`write_tearsheet` gives it (``record.returns`` through :func:`tearsheet_inputs`); the
    page's from :func:`~lstm_backtrader.backtests.report.stats.strategy_row` and
    :func:`~lstm_backtrader.backtests.report.stats.sharpe_significance`. Figures undefined on
    either side (NaN) are left out, and everything when the strategy never traded (the tearsheet
    is then a note). Both records must cover the same bars, as in a run (:class:`ValueError`
    otherwise). Strategy first, then benchmark, each in the order of
    :data:`~lstm_backtrader.backtests.report.tearsheet_compare.SHARED_FIGURES`.
    """
    if not strategy_record.equity.index.equals(benchmark_record.equity.index):
        raise ValueError("the strategy and benchmark records must cover the same bars")
    inputs = tearsheet_inputs(strategy_record.returns, benchmark_record.returns, periods_per_year)
    if inputs.constant:
        return []
    pairs = [(strategy_record, inputs.returns), (benchmark_record, inputs.benchmark)]
    with _quantstats() as qs:
        return shared_figures(qs, pairs, inputs.periods_per_year, periods_per_year)


def tearsheet_differences(
    strategy_record: StrategyRecordLike,
    benchmark_record: StrategyRecordLike,
    periods_per_year: float,
    *,
    store: PieceStore | None = None,
) -> list[str]:
    """One sentence per figure on which the tearsheet and the run page disagree, with both
    values and the reason, for the run page to show next to its tearsheet link.

    The tearsheet gets the page's ``N - 1`` bar returns (:func:`write_tearsheet`), so the
    figures computed the same way agree and are not listed: Cumulative Return, Sharpe, Sortino,
    volatility and max drawdown (the Sharpe family only with an integer ``periods_per_year``,
    which quantstats needs). What remains comes from quantstats' conventions
    (:mod:`lstm_backtrader.backtests.report.tearsheet_compare`): CAGR and Calmar count years as
    returns / periods per year where the page uses calendar time; Time in Market counts non-zero
    returns, rounded up to a whole percent, where the page's exposure counts bars ending with a
    position; drawdown days run from the first to the last bar under water (plus one) where
    the page counts from the peak to the recovery; skew, kurtosis (excess, not raw) and the
    Probabilistic Sharpe Ratio use bias-corrected moments. A figure is listed only when the two
    values *as shown* differ (:attr:`SharedFigure.equal`).

    Parameters
    ----------
    strategy_record, benchmark_record
        The records whose ``returns`` :func:`write_tearsheet` is given (the LSTM strategy and
        buy and hold); their names are the tearsheet's column names.
    periods_per_year
        Bars per year, as for the page's
        :func:`~lstm_backtrader.backtests.report.stats.strategy_table` (365 for daily crypto);
        the tearsheet uses it rounded to an integer.
    store
        A :class:`~lstm_backtrader.backtests.report.pieces.PieceStore`: the sentences are read
        back from it (a JSON list) when the records, code and library versions are unchanged,
        without importing quantstats.

    Returns
    -------
    list of str
        In the tearsheet's row order, e.g. (the default run) ``"Tearsheet CAGR counts years as
        1039 returns / 365 = 2.847 years (LSTM 54.48%, Buy & hold 130.09%); this page uses
        calendar time, 1051 days / 365.25 = 2.877 years (LSTM 53.76%, Buy & hold 128.04%)."``;
        empty when every shared figure agrees (or the strategy never traded).
    """

    def render() -> bytes:
        figures = tearsheet_comparison(strategy_record, benchmark_record, periods_per_year)
        bars = tearsheet_inputs(strategy_record.returns, benchmark_record.returns, periods_per_year)
        sentences = difference_sentences(
            figures, bars.bars, bars.periods_per_year, periods_per_year
        )
        return json.dumps(sentences, ensure_ascii=False).encode("utf-8")

    records = [
        {f: getattr(r, f) for f in ("name", "equity", "trades", "fills", "position")}
        for r in (strategy_record, benchmark_record)
    ]
    inputs = {"records": records, "periods_per_year": float(periods_per_year)}
    text = cached(
        store, "tearsheet-notes", "json", render, inputs, code=NOTES_CODE, packages=PIECE_PACKAGES
    )
    return [str(s) for s in json.loads(text.decode("utf-8"))]
