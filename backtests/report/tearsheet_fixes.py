"""Corrections to quantstats 0.0.86's tearsheet charts and table, applied after it is written.

:func:`lstm_backtrader.backtests.report.tearsheet.write_tearsheet` lets quantstats write the whole
page from the ``N - 1`` bar returns, then redraws three charts and edits two table cells, because
quantstats (as read from its source) gets them wrong on this project's data:

* **Daily Returns (Cumulative Sum)** (``_plotting/wrappers.py: daily_returns``) takes the
  cumulative sum of the bar returns and *then* resamples it to calendar days with ``sum``: a day
  without a bar sums nothing and plots 0, so the line dives to 0% across every data gap (and for
  intraday bars it adds up several cumulative values per day). It is redrawn by quantstats'
  own function from :func:`daily_returns_grid`: the bar returns summed per calendar day, NaN on
  days without a bar (which quantstats fills with 0 *before* its cumulative sum, i.e. flat). A
  gap's return stays on the bar after it, where the equity curve puts it.
* **Monthly returns heatmap** (``stats.monthly_returns``) pivots monthly returns into
  Jan..Dec columns and fills the missing ones with 0, so the months before the out-of-sample
  start and after the data end (and any month inside a gap) read "0.00". The cells of months
  without an out-of-sample bar are masked and their labels removed (:func:`heatmap_svg`); with
  seaborn's ``center=0`` the filled zeros never moved the colour scale, so the other cells are
  unchanged.
* **Rolling beta** (``_plotting/core.py: plot_rolling_beta``) fills the first ``window - 1``
  values of the half-year window with 0 (``.fillna(0)``), drawing beta at 0 before the window
  has data and pulling the dashed mean line towards 0. The line is redrawn from where it has
  data and the mean is taken over those values (:func:`rolling_beta_svg`).
* **R^2 and Information Ratio** are computed for the strategy against the benchmark and written
  into *both* columns for a single strategy (``reports.metrics``); a benchmark against itself
  has no such figure, so its cells read "-" (:func:`blank_benchmark_cells`), as quantstats does
  for Beta, Alpha and Correlation.
* The header's period starts at the first bar close (:func:`set_date_range`): the returns
  quantstats receives start one bar later (the first bar has no return), but they measure the
  equity from that first close.

Redrawn charts keep quantstats' look (the same functions and sizes as ``reports.html``) and are
spliced into the ``<div id="...">`` quantstats put them in (:func:`replace_figure`).
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DAILY_CUMSUM_GID",
    "blank_benchmark_cells",
    "daily_returns_grid",
    "daily_returns_svg",
    "heatmap_svg",
    "months_with_bars",
    "replace_figure",
    "rolling_beta_svg",
    "set_date_range",
]

logger = logging.getLogger(__name__)

#: SVG group id of the strategy's line in the redrawn "Daily Returns (Cumulative Sum)" chart.
DAILY_CUMSUM_GID = "lstm-bt-daily-cumsum"

#: Metric rows quantstats fills for the benchmark column with the strategy's value.
BENCHMARK_LESS_ROWS: tuple[str, ...] = ("R^2", "Information Ratio")


def _svg(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")
    return buf.getvalue().decode("utf-8")


def daily_returns_grid(bar_returns: pd.Series) -> pd.Series:
    """Bar returns summed per calendar day, NaN on days without a bar.

    Parameters
    ----------
    bar_returns
        Per-bar returns on a naive UTC index, the first bar's placeholder 0.0 included (it
        anchors the chart at the first bar's day).

    Returns
    -------
    Series
        One value per calendar day from the first to the last bar's day. A return over a data
        gap stays on the bar after the gap; the gap's days are NaN (flat in a cumulative sum).
    """
    return bar_returns.resample("D").sum(min_count=1).rename(bar_returns.name)


def daily_returns_svg(qs: Any, bar_returns: pd.Series) -> str:
    """quantstats' "Daily Returns (Cumulative Sum)" chart of :func:`daily_returns_grid`, as in
    ``reports.html`` (figsize 8×3, no subtitle, no y label); the strategy's line has the SVG id
    :data:`DAILY_CUMSUM_GID`."""
    grid = daily_returns_grid(bar_returns)
    fig = qs.plots.daily_returns(
        grid, None, figsize=(8, 3), subtitle=False, show=False, ylabel="", prepare_returns=False
    )
    lines = [ln for ln in fig.axes[0].get_lines() if len(ln.get_xdata()) == len(grid)]
    for line in lines[:1]:
        line.set_gid(DAILY_CUMSUM_GID)
    return _svg(fig)


def months_with_bars(index: pd.DatetimeIndex) -> set[tuple[int, int]]:
    """``(year, month)`` of every month holding at least one bar of ``index``."""
    return set(zip(index.year.tolist(), index.month.tolist(), strict=True))


def heatmap_svg(qs: Any, returns: pd.Series, bar_index: pd.DatetimeIndex, label: str) -> str:
    """quantstats' monthly returns heatmap (as in ``reports.html``) with the cells of months
    without an out-of-sample bar left blank.

    Parameters
    ----------
    qs
        The imported ``quantstats`` module.
    returns
        The ``N - 1`` bar returns quantstats' tearsheet receives.
    bar_index
        Every out-of-sample bar, the first (which has no return) included: a month holding
        only that bar shows 0.00, a month without any bar is blank.
    label
        Strategy name in the chart title.
    """
    fig = qs.plots.monthly_heatmap(
        returns, None, figsize=(8, 4), cbar=False, returns_label=label, show=False, ylabel=""
    )
    ax = fig.axes[0]
    # the rows quantstats drew: its own pivot, one row per year holding a return
    years = [int(y) for y in qs.stats.monthly_returns(returns, eoy=False).index]
    have = months_with_bars(bar_index)
    blank = np.array([[(y, m) not in have for m in range(1, 13)] for y in years], dtype=bool)
    mesh = ax.collections[0]
    values = mesh.get_array()
    shape = np.shape(values)
    cells = np.ma.masked_array(np.ma.getdata(values).reshape(blank.shape))
    cells.mask = np.ma.getmaskarray(values).reshape(blank.shape) | blank
    mesh.set_array(cells.reshape(shape))
    ax.grid(False)  # quantstats' grid would show through the blank cells
    for text in list(ax.texts):
        x, y = text.get_position()
        row, col = int(y), int(x)
        if 0 <= row < blank.shape[0] and 0 <= col < 12 and blank[row, col]:
            text.remove()
    return _svg(fig)


def rolling_beta_svg(
    qs: Any, returns: pd.Series, benchmark: pd.Series, window1: int, window2: int
) -> str:
    """quantstats' rolling beta chart (as in ``reports.html``) with the half-year beta drawn only
    where its window is full and its dashed mean line taken over those values.

    quantstats plots ``rolling_greeks(...)["beta"].fillna(0)`` and its mean; the year-window
    line is not filled and needs no change.
    """
    fig = qs.plots.rolling_beta(
        returns,
        benchmark,
        window1=window1,
        window2=window2,
        figsize=(8, 3),
        subtitle=False,
        show=False,
        ylabel="",
        prepare_returns=False,
    )
    beta = qs.stats.rolling_greeks(returns, benchmark, window1)["beta"]
    filled_mean = float(beta.fillna(0).mean())
    ax = fig.axes[0]
    for line in ax.get_lines():
        ydata = np.asarray(line.get_ydata(), dtype="float64")
        if line.get_label() == "6-Months" and len(ydata) == len(beta):
            line.set_ydata(beta.to_numpy(dtype="float64"))
        elif len(ydata) == 2 and np.allclose(ydata, filled_mean) and line.get_linestyle() == "--":
            true_mean = float(beta.mean()) if beta.notna().any() else np.nan
            line.set_ydata([true_mean, true_mean])
    return _svg(fig)


def replace_figure(text: str, div_id: str, svg: str) -> str:
    """Put ``svg`` in place of the content of quantstats' ``<div id="div_id">`` (its template
    has one per chart; SVG holds no ``div``)."""
    pattern = re.compile(rf'(<div id="{re.escape(div_id)}">)(.*?)(</div>)', flags=re.DOTALL)
    new, count = pattern.subn(lambda m: m.group(1) + svg + m.group(3), text, count=1)
    if count != 1:
        raise ValueError(f"quantstats' tearsheet has no <div id={div_id!r}>")
    return new


def blank_benchmark_cells(text: str, rows: tuple[str, ...] = BENCHMARK_LESS_ROWS) -> str:
    """Write "-" in the benchmark column (quantstats' first value column) of ``rows``."""
    for row in rows:
        pattern = re.compile(rf"(<tr><td>{re.escape(row)}</td><td>)[^<]*(</td>)")
        text, count = pattern.subn(r"\1-\2", text, count=1)
        if count != 1:
            logger.warning("tearsheet: no %r row to blank in the benchmark column", row)
    return text


def set_date_range(text: str, start: pd.Timestamp, end: pd.Timestamp) -> str:
    """Set the header's period (``<h1>... <dt>start - end</dt>``) in quantstats' format."""
    span = f"{start.strftime('%e %b, %Y')} - {end.strftime('%e %b, %Y')}"
    pattern = re.compile(r"(<h1>.*?<dt>)[^<]*(</dt>)", flags=re.DOTALL)
    new, count = pattern.subn(lambda m: m.group(1) + span + m.group(2), text, count=1)
    if count != 1:
        logger.warning("tearsheet: no header period to set")
    return new
