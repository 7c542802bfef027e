"""The figures shown both by the quantstats tearsheet and by the run's own page, side by side.

:func:`lstm_backtrader.backtests.report.tearsheet.tearsheet_comparison` and
:func:`~lstm_backtrader.backtests.report.tearsheet.tearsheet_differences` are the public entry
points; this module holds the list of shared figures, computes each with quantstats' own
functions (the tearsheet's side) and with :mod:`lstm_backtrader.backtests.report.stats` (the
page's side), and words the differences.

Why the figures that still differ do (quantstats 0.0.86, ``stats.py``, ``reports.py``):

* **CAGR** ``= (1 + total) ** (1 / years) - 1`` with ``years = count / periods_per_year``: the
  number of returns, so a data gap shortens the time (and ``N - 1`` daily returns are
  ``(N - 1) / 365`` years where the calendar has ``(N - 1) / 365.25``). The page uses calendar
  time. **Calmar** is that CAGR over the max drawdown.
* **Time in Market** ``= ceil(100 · share of non-zero returns) / 100``: a bar after an exit,
  with fees or slippage, counts; a held bar with an unchanged close does not, and the share is
  rounded *up*. The page's exposure is the share of bars ending with an open position.
* **Longest DD Days** and the **Days** of *Worst 10 Drawdowns* are ``last - first + 1`` calendar
  days over the bars *under* water; the page counts from the last bar at the peak to the first
  bar back at it (or to the last bar), one day more for a daily drawdown that recovered.
* **Skew** and **Kurtosis** are pandas' bias-corrected estimators, the kurtosis *excess*
  (normal = 0); the page shows the moment estimates, the kurtosis raw (normal = 3). The
  **Prob. Sharpe Ratio** uses the bias-corrected ones, the page's PSR(0) the moment estimates.
* Sharpe, Sortino and volatility agree when ``periods_per_year`` is an integer; quantstats
  needs one, so e.g. weekly bars (365/7 a year) are annualised with 52 there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lstm_backtrader.backtests.report.stats import sharpe_significance, strategy_row
from lstm_backtrader.strategies.record import StrategyRecordLike

__all__ = ["SHARED_FIGURES", "SharedFigure", "difference_sentences", "shared_figures"]

#: Figures both pages show, in the tearsheet's order: (tearsheet name, key of the page's value in
#: :func:`~lstm_backtrader.backtests.report.stats.strategy_row` or, for ``psr``, ``skew`` and
#: ``kurtosis``, :func:`~lstm_backtrader.backtests.report.stats.sharpe_significance`, kind).
SHARED_FIGURES: tuple[tuple[str, str, str], ...] = (
    ("Time in Market", "exposure", "pct"),
    ("Cumulative Return", "total_return", "pct"),
    ("CAGR", "cagr", "pct"),
    ("Sharpe", "sharpe", "ratio"),
    ("Prob. Sharpe Ratio", "psr", "prob"),
    ("Sortino", "sortino", "ratio"),
    ("Max Drawdown", "max_drawdown", "pct"),
    ("Longest DD Days", "longest_drawdown_days", "days"),
    ("Volatility (ann.)", "volatility", "pct"),
    ("Calmar", "calmar", "ratio"),
    ("Skew", "skew", "ratio"),
    ("Kurtosis", "kurtosis", "ratio"),
    ("Worst drawdown Days", "max_drawdown_days", "days"),
)

_ANNUALISED = (
    "Tearsheet {figure} annualises with {ppy} bars a year (quantstats needs an integer)",
    "this page with {ppy_page:g}",
)
#: (the tearsheet's convention, the page's) of each figure: the two halves of its sentence.
_REASONS: dict[str, tuple[str, str]] = {
    "Time in Market": (
        "Tearsheet Time in Market is the share of bar returns that are not zero (an entry or "
        "exit bar's fees count), rounded up to a whole percent",
        "this page's exposure is the share of bars that end with an open position",
    ),
    "Cumulative Return": (
        "Tearsheet Cumulative Return compounds the bar returns",
        "this page divides the last equity by the first",
    ),
    "CAGR": (
        "Tearsheet CAGR counts years as {n} returns / {ppy} = {years:.3f} years",
        "this page uses calendar time, {days:g} days / 365.25 = {years_page:.3f} years",
    ),
    "Sharpe": _ANNUALISED,
    "Sortino": _ANNUALISED,
    "Volatility (ann.)": _ANNUALISED,
    "Prob. Sharpe Ratio": (
        "Tearsheet Prob. Sharpe Ratio uses pandas' bias-corrected skew and kurtosis",
        "this page's PSR(0) uses the moment estimates",
    ),
    "Max Drawdown": (
        "Tearsheet Max Drawdown compounds the bar returns from 1",
        "this page divides the equity by its running peak",
    ),
    "Longest DD Days": (
        "Tearsheet Longest DD Days counts the days from the first to the last bar under water, "
        "plus one",
        "this page counts from the last bar at the peak to the first bar back at it, or to the "
        "last bar",
    ),
    "Calmar": (
        "Tearsheet Calmar is its CAGR (years = returns / {ppy}) over the max drawdown",
        "this page's uses the calendar-time CAGR",
    ),
    "Skew": (
        "Tearsheet Skew is pandas' bias-corrected sample skewness",
        "this page shows the moment estimate",
    ),
    "Kurtosis": (
        "Tearsheet Kurtosis is pandas' bias-corrected excess kurtosis (0 for a normal "
        "distribution)",
        "this page shows the raw moment estimate (3 for a normal distribution)",
    ),
    "Worst drawdown Days": (
        "Tearsheet Worst 10 Drawdowns count the deepest one's days from its first to its last "
        "bar under water, plus one",
        "this page's max DD duration runs from the peak to the recovery, or to the last bar",
    ),
}


def _fmt(value: float, kind: str, side: str) -> str:
    if kind == "pct" or (kind == "prob" and side == "tearsheet"):
        return f"{value * 100:.2f}%"
    if kind == "prob":
        return f"{value:.3f}"
    if kind == "days":
        return f"{value:,.0f}" if value == round(value) else f"{value:,.1f}"
    return f"{value:.2f}"


@dataclass(frozen=True)
class SharedFigure:
    """One figure that the tearsheet and the run page both show, for one strategy.

    Attributes
    ----------
    figure
        The tearsheet's name for it (a row of :data:`SHARED_FIGURES`).
    column
        The strategy (record name) it belongs to.
    tearsheet, page
        The two values as computed (fractions for percentages, days, ratios).
    kind
        ``pct`` (both show percent with 2 decimals), ``ratio`` (2 decimals), ``days`` or
        ``prob`` (the tearsheet shows percent with 2 decimals, the page a fraction with 3;
        compared at 3).
    """

    figure: str
    column: str
    tearsheet: float
    page: float
    kind: str

    @property
    def tearsheet_text(self) -> str:
        """The value as the tearsheet shows it (percent for ``prob``)."""
        return _fmt(self.tearsheet, self.kind, "tearsheet")

    @property
    def page_text(self) -> str:
        """The value as the run page shows it."""
        return _fmt(self.page, self.kind, "page")

    @property
    def equal(self) -> bool:
        """The two shown values are the same number (``prob``: to 3 decimals)."""
        if self.kind == "prob":
            return f"{self.tearsheet:.3f}" == f"{self.page:.3f}"
        return _fmt(self.tearsheet, self.kind, "page") == self.page_text


def _tearsheet_values(qs: Any, returns: pd.Series, ppy: int) -> dict[str, float]:
    """The shared figures as quantstats' ``reports.metrics`` computes them from ``returns``."""
    st = qs.stats
    out = {
        "Time in Market": st.exposure(returns, prepare_returns=False),
        "Cumulative Return": st.comp(returns),
        "CAGR": st.cagr(returns, 0.0, True, ppy),
        "Sharpe": st.sharpe(returns, 0.0, ppy, True),
        "Prob. Sharpe Ratio": st.probabilistic_sharpe_ratio(returns, 0.0, ppy),
        "Sortino": st.sortino(returns, 0.0, ppy, True),
        "Volatility (ann.)": st.volatility(returns, ppy, True, prepare_returns=False),
        "Calmar": st.calmar(returns, prepare_returns=False, compounded=True, periods=ppy),
        "Skew": st.skew(returns, prepare_returns=False),
        "Kurtosis": st.kurtosis(returns, prepare_returns=False),
    }
    episodes = st.drawdown_details(st.to_drawdown_series(returns))
    if len(episodes):  # quantstats shows no drawdown figures without a drawdown
        deepest = episodes.sort_values(by="max drawdown", ascending=True).iloc[0]
        out["Max Drawdown"] = float(deepest["max drawdown"]) / 100.0
        out["Longest DD Days"] = float(episodes["days"].max())
        out["Worst drawdown Days"] = float(deepest["days"])
    return {k: float(v) for k, v in out.items()}


def shared_figures(
    qs: Any,
    records: Sequence[tuple[StrategyRecordLike, pd.Series]],
    tearsheet_ppy: int,
    periods_per_year: float,
) -> list[SharedFigure]:
    """Both values of every shared figure, for each ``(record, returns quantstats receives)``.

    Figures undefined on either side (NaN) are left out. The page's moments (PSR, skew,
    kurtosis) need at least 4 bars.
    """
    out: list[SharedFigure] = []
    for record, returns in records:
        shown = _tearsheet_values(qs, returns, tearsheet_ppy)
        page = strategy_row(record, periods_per_year)
        try:
            sig = sharpe_significance(record, periods_per_year)
            page |= {"psr": sig.psr, "skew": sig.skew, "kurtosis": sig.kurtosis}
        except ValueError:  # too few bars for the moments
            pass
        for figure, key, kind in SHARED_FIGURES:
            ts, pg = shown.get(figure, math.nan), float(page.get(key, math.nan))
            if math.isfinite(ts) and math.isfinite(pg):
                out.append(SharedFigure(figure, str(record.name), ts, pg, kind))
    return out


def difference_sentences(
    figures: Sequence[SharedFigure],
    bars: pd.DatetimeIndex,
    tearsheet_ppy: int,
    periods_per_year: float,
) -> list[str]:
    """One sentence per figure of :data:`SHARED_FIGURES` with a shown difference: the
    tearsheet's convention and values, then the page's.

    ``bars`` are all ``N`` bar times (first included): the tearsheet has ``N - 1`` returns.
    """
    years_page = (bars[-1] - bars[0]) / pd.Timedelta(days=365.25)
    fields = {
        "n": len(bars) - 1,
        "ppy": tearsheet_ppy,
        "ppy_page": float(periods_per_year),
        "years": (len(bars) - 1) / tearsheet_ppy,
        "years_page": years_page,
        "days": round(years_page * 365.25, 2),
    }
    sentences = []
    for figure, _, _ in SHARED_FIGURES:
        differing = [f for f in figures if f.figure == figure and not f.equal]
        if not differing:
            continue
        ts_how, page_how = (s.format(figure=figure, **fields) for s in _REASONS[figure])
        ts = ", ".join(f"{f.column} {f.tearsheet_text}" for f in differing)
        pg = ", ".join(f"{f.column} {f.page_text}" for f in differing)
        sentences.append(f"{ts_how} ({ts}); {page_how} ({pg}).")
    return sentences
