"""Reports of a backtest run: statistics tables, figures, the quantstats tearsheet and the run's
own self-contained HTML page.

* :mod:`lstm_backtrader.backtests.report.stats` — :class:`StrategyRecord`, :func:`strategy_table`,
  :func:`sharpe_significance` (PSR, DSR, MinTRL via :mod:`lstm_backtrader.models.metrics`).
* :mod:`lstm_backtrader.backtests.report.plots` — PNG figures (equity, drawdowns, forecast
diagnostics, folds).
* :mod:`lstm_backtrader.backtests.report.tearsheet` — :func:`write_tearsheet`, quantstats offline.
* :mod:`lstm_backtrader.backtests.report.page` — :class:`ReportInputs`, :func:`summary_dict`,
  :func:`render_index`, :func:`write_report`, :func:`rebuild_index`.

* :mod:`lstm_backtrader.backtests.report.pieces` — :class:`PieceStore`, the content-addressed
  store of rendered pieces (figures, Backtrader chart, tearsheet and its notes) that lets a
  rerun with unchanged results render nothing.

quantstats and matplotlib are imported only when a piece is drawn, so importing this package is
cheap, and a report whose every piece is in the store imports neither.
"""

from __future__ import annotations

from lstm_backtrader.backtests.report.page import (
    ReportInputs,
    load_summary,
    rebuild_index,
    render_index,
    summary_dict,
    write_index,
    write_report,
    write_summary,
)
from lstm_backtrader.backtests.report.pieces import PieceStats, PieceStore
from lstm_backtrader.backtests.report.plots import PLOT_TITLES, standard_plots
from lstm_backtrader.backtests.report.stats import (
    SharpeSignificance,
    StrategyRecord,
    StrategyRecordLike,
    sharpe_significance,
    strategy_table,
    trial_sharpe_variance,
)
from lstm_backtrader.backtests.report.tearsheet import write_tearsheet

__all__ = [
    "PLOT_TITLES",
    "PieceStats",
    "PieceStore",
    "ReportInputs",
    "SharpeSignificance",
    "StrategyRecord",
    "StrategyRecordLike",
    "load_summary",
    "rebuild_index",
    "render_index",
    "sharpe_significance",
    "standard_plots",
    "strategy_table",
    "summary_dict",
    "trial_sharpe_variance",
    "write_index",
    "write_report",
    "write_summary",
    "write_tearsheet",
]
