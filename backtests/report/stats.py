"""Strategy-versus-baselines statistics from equity curves: the numbers of the report's tables.

Everything is computed from a :class:`StrategyRecord` (or any object with the same attributes,
see :class:`StrategyRecordLike`): the broker value at each bar close, the closed trades, the
fills and the position. Sharpe-family figures come from :mod:`lstm_backtrader.models.metrics` (not
re-derived).

Conventions (documented decisions)
----------------------------------
* **Bar returns.** ``r_t = E_t / E_{t-1} - 1`` for ``t = 1..N-1``: the ``N - 1`` observed
  bar-to-bar returns of an ``N``-bar equity curve. The contract's ``returns`` property prepends a
  0.0 for the first bar (a placeholder: no equity is observed before the first close); the
  statistics here drop it, so every figure uses the same ``N - 1`` returns and the same elapsed
  time. The quantstats tearsheet receives the same ``N - 1`` returns, so the Sharpe family
  agrees; where its conventions still differ (CAGR years, time in market, moments) the run page
  says so beside the link
  (:func:`lstm_backtrader.backtests.report.tearsheet.tearsheet_differences`).
* **Calendar time.** A crypto market trades 24/7, so the time a strategy ran is the elapsed
  calendar time between the first and last bar close: ``years = (t_last - t_first) / 365.25
  days``. CAGR uses it (not ``bars / periods_per_year``, which would shrink with missing bars).
  Annualised volatility, Sharpe and Sortino scale per-bar figures by ``sqrt(periods_per_year)``
  (365 bars a year for daily crypto, :func:`lstm_backtrader.models.metrics.periods_per_year`).
* **Sharpe** = ``mean(r) / std(r, ddof=1) · sqrt(ppy)`` (risk-free rate 0), via
  :func:`lstm_backtrader.models.metrics.sharpe_ratio`. **Sortino** = ``mean(r) / DD · sqrt(ppy)``
  with the downside deviation ``DD = sqrt(mean(min(r, 0)²))`` over all bars (target 0; Sortino &
  Price); NaN when no bar lost money.
* **Drawdown** ``D_t = E_t / max_{s<=t} E_s - 1`` (≤ 0); the maximum drawdown is ``min D_t``
  (a negative fraction). An *episode* runs from the last bar at the running peak to the first
  bar back at or above it (or to the last bar when it never recovered). ``max_drawdown_days``
  is the calendar length of the episode holding the deepest point; ``longest_drawdown_days``
  the longest episode. ``calmar = cagr / |max_drawdown|`` (NaN without a drawdown).
* **Trades.** ``n_trades`` counts *closed* round trips (a position still open at the end is not
  a trade); ``win_rate`` is the share with ``pnl_net > 0`` (NaN without trades).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lstm_backtrader.models.metrics import sharpe_ratio, sharpe_stats
from lstm_backtrader.strategies.record import (
    FILL_COLUMNS,
    TRADE_COLUMNS,
    StrategyRecord,
    StrategyRecordLike,
    exposure,
    fees_paid,
)

__all__ = [
    "DAYS_PER_YEAR",
    "FILL_COLUMNS",
    "STRATEGY_COLUMNS",
    "TRADE_COLUMNS",
    "SharpeSignificance",
    "StrategyRecord",
    "StrategyRecordLike",
    "bar_returns",
    "drawdown_episodes",
    "sharpe_significance",
    "strategy_row",
    "strategy_table",
    "trial_sharpe_variance",
]

#: Days in a calendar year for CAGR on calendar time (leap years averaged in).
DAYS_PER_YEAR = 365.25

#: Columns of :func:`strategy_table`, in order: ``(key, label, kind)``. ``kind`` tells a renderer
#: how to format the value: ``pct`` (fraction shown as %), ``ratio``, ``int``, ``days``, ``money``.
STRATEGY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("total_return", "Total return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("volatility", "Volatility (ann.)", "pct"),
    ("sharpe", "Sharpe (ann.)", "ratio"),
    ("sortino", "Sortino (ann.)", "ratio"),
    ("max_drawdown", "Max drawdown", "pct"),
    ("max_drawdown_days", "Max DD duration (days)", "days"),
    ("longest_drawdown_days", "Longest DD (days)", "days"),
    ("calmar", "Calmar", "ratio"),
    ("n_trades", "Trades", "int"),
    ("win_rate", "Win rate", "pct"),
    ("exposure", "Exposure", "pct"),
    ("fees_paid", "Fees paid", "money"),
    ("final_equity", "Final equity", "money"),
    ("bars", "Bars", "int"),
    ("years", "Years", "ratio"),
)


# --------------------------------------------------------------------------- the record


def bar_returns(record: StrategyRecordLike) -> np.ndarray:
    """The ``N - 1`` observed bar-to-bar returns ``E_t / E_{t-1} - 1`` (no first-bar 0.0)."""
    eq = record.equity.to_numpy(dtype="float64")
    return eq[1:] / eq[:-1] - 1.0


def _elapsed_years(index: pd.DatetimeIndex) -> float:
    if len(index) < 2:
        return 0.0
    return (index[-1] - index[0]) / pd.Timedelta(days=1) / DAYS_PER_YEAR


# --------------------------------------------------------------------------- drawdowns


def drawdown_episodes(equity: pd.Series) -> pd.DataFrame:
    """Every drawdown episode of an equity curve, deepest first.

    Returns
    -------
    DataFrame
        Columns ``start`` (last bar at the running peak), ``trough``, ``end`` (first bar back
        at or above the peak, or the last bar), ``recovered`` (bool), ``depth`` (≤ 0, the
        episode's minimum of ``E / peak - 1``), ``bars`` (``end - start`` in bars) and ``days``
        (calendar length). Empty when the curve never falls below a previous peak.
    """
    values = equity.to_numpy(dtype="float64")
    index = equity.index
    peak = np.maximum.accumulate(values)
    dd = values / peak - 1.0
    under = dd < 0
    rows: list[dict[str, Any]] = []
    i, n = 0, len(values)
    while i < n:
        if not under[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and under[j + 1]:
            j += 1
        start = i - 1  # under[0] is always False, so i >= 1
        recovered = j + 1 < n
        end = j + 1 if recovered else n - 1
        trough = i + int(np.argmin(dd[i : j + 1]))
        rows.append(
            {
                "start": index[start],
                "trough": index[trough],
                "end": index[end],
                "recovered": recovered,
                "depth": float(dd[trough]),
                "bars": end - start,
                "days": (index[end] - index[start]) / pd.Timedelta(days=1),
            }
        )
        i = j + 1
    cols = ["start", "trough", "end", "recovered", "depth", "bars", "days"]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values("depth", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- the table


def _nan_div(num: float, den: float) -> float:
    return num / den if den != 0 and math.isfinite(den) else math.nan


def strategy_row(record: StrategyRecordLike, periods_per_year: float) -> dict[str, Any]:
    """One row of :func:`strategy_table` as a dict keyed like :data:`STRATEGY_COLUMNS`."""
    ppy = float(periods_per_year)
    if not ppy > 0:
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year!r}")
    eq = record.equity
    values = eq.to_numpy(dtype="float64")
    r = bar_returns(record)
    years = _elapsed_years(eq.index)
    growth = values[-1] / values[0]
    cagr = growth ** (1.0 / years) - 1.0 if years > 0 else math.nan

    if len(r) >= 2:
        vol = float(np.std(r, ddof=1)) * math.sqrt(ppy)
        sharpe = sharpe_ratio(r, ppy)
    else:
        vol = sharpe = math.nan
    downside = float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2))) if len(r) else 0.0
    sortino = float(np.mean(r)) / downside * math.sqrt(ppy) if downside > 0 else math.nan

    episodes = drawdown_episodes(eq)
    if len(episodes):
        max_dd = float(episodes["depth"].iloc[0])
        max_dd_days = float(episodes["days"].iloc[0])
        longest_days = float(episodes["days"].max())
    else:
        max_dd, max_dd_days, longest_days = 0.0, 0.0, 0.0

    trades = record.trades
    n_trades = 0 if trades is None else len(trades)
    if n_trades:
        pnl_col = "pnl_net" if "pnl_net" in trades else "pnl"
        win_rate = float(np.mean(pd.to_numeric(trades[pnl_col]).to_numpy(dtype="float64") > 0))
    else:
        win_rate = math.nan

    return {
        "total_return": float(growth - 1.0),
        "cagr": float(cagr),
        "volatility": vol,
        "sharpe": float(sharpe),
        "sortino": sortino,
        "max_drawdown": max_dd,
        "max_drawdown_days": max_dd_days,
        "longest_drawdown_days": longest_days,
        "calmar": _nan_div(float(cagr), abs(max_dd)),
        "n_trades": int(n_trades),
        "win_rate": win_rate,
        "exposure": exposure(record),
        "fees_paid": fees_paid(record),
        "final_equity": float(values[-1]),
        "bars": len(values),
        "years": years,
    }


def strategy_table(records: Sequence[StrategyRecordLike], periods_per_year: float) -> pd.DataFrame:
    """Per-strategy performance table, one row per record (index ``strategy``, the names).

    Columns are :data:`STRATEGY_COLUMNS` keys: total return, CAGR on calendar time, annualised
    volatility, Sharpe (via :func:`lstm_backtrader.models.metrics.sharpe_ratio`) and Sortino, max
    drawdown with the duration of its episode, longest drawdown, Calmar, number of closed trades,
    win rate, exposure, fees paid, final equity, bars and years. See the module docstring for the
    exact definitions. Fractions are fractions (0.12 = 12%), durations calendar days.

    Parameters
    ----------
    records
        Strategy runs (names must be unique).
    periods_per_year
        Bars per year for annualisation (365 for daily crypto; see
        :func:`lstm_backtrader.models.metrics.periods_per_year`).
    """
    names = [r.name for r in records]
    if len(set(names)) != len(names):
        raise ValueError(f"strategy names must be unique, got {names}")
    rows = [strategy_row(r, periods_per_year) for r in records]
    table = pd.DataFrame(rows, index=pd.Index(names, name="strategy"))
    return table[[key for key, _, _ in STRATEGY_COLUMNS]]


# --------------------------------------------------------------------------- significance


@dataclass(frozen=True)
class SharpeSignificance:
    """Is the Sharpe ratio distinguishable from zero, and from luck over ``n_trials`` tries?

    Attributes
    ----------
    strategy
        Name of the strategy.
    n
        Returns used (``N - 1`` bar returns).
    periods_per_year
        Annualisation factor.
    sharpe_per_bar, sharpe_annualised
        Observed Sharpe ratio.
    skew, kurtosis
        Sample skewness and **raw** kurtosis (normal = 3) of the bar returns.
    psr
        Probabilistic Sharpe Ratio ``PSR(0)``: probability the true Sharpe exceeds 0.
    n_trials, var_trials_sr
        Number of configurations tried and the variance of their per-bar Sharpe ratios.
    expected_max_sharpe, expected_max_sharpe_annualised
        ``SR₀``, the best Sharpe expected from ``n_trials`` zero-skill trials.
    dsr
        Deflated Sharpe Ratio ``PSR(SR₀)`` (equals ``psr`` when ``n_trials == 1``).
    min_trl_bars, min_trl_years
        Minimum track record length for ``PSR(0) >= 1 - alpha`` (inf when Sharpe ≤ 0).
    alpha
        Significance level of the MinTRL.
    """

    strategy: str
    n: int
    periods_per_year: float
    sharpe_per_bar: float
    sharpe_annualised: float
    skew: float
    kurtosis: float
    psr: float
    n_trials: int
    var_trials_sr: float
    expected_max_sharpe: float
    expected_max_sharpe_annualised: float
    dsr: float
    min_trl_bars: float
    min_trl_years: float
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON; non-finite floats (NaN, inf) become ``None``."""
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in dataclasses.asdict(self).items()
        }


def sharpe_significance(
    record: StrategyRecordLike,
    periods_per_year: float,
    n_trials: int = 1,
    var_trials_sr: float = 0.0,
    *,
    alpha: float = 0.05,
) -> SharpeSignificance:
    """PSR, DSR (over ``n_trials``) and MinTRL of one strategy, via
    :func:`lstm_backtrader.models.metrics.sharpe_stats` on the ``N - 1`` bar returns.

    Parameters
    ----------
    record
        The strategy run (at least 4 bars).
    periods_per_year
        Annualisation factor (used for the annualised figures and MinTRL in years only).
    n_trials
        Number of independent configurations tried before picking this one (>= 1); 1 means no
        selection, and then DSR = PSR.
    var_trials_sr
        Variance of the trials' **per-bar** Sharpe ratios (see :func:`trial_sharpe_variance`).
    alpha
        Significance level of the MinTRL.
    """
    ppy = float(periods_per_year)
    st = sharpe_stats(
        bar_returns(record), ppy, n_trials=n_trials, var_trials_sr=var_trials_sr, alpha=alpha
    )
    return SharpeSignificance(
        strategy=record.name,
        n=st.n,
        periods_per_year=ppy,
        sharpe_per_bar=st.sharpe_per_bar,
        sharpe_annualised=st.sharpe_annualised,
        skew=st.skew,
        kurtosis=st.kurtosis,
        psr=st.psr,
        n_trials=st.n_trials,
        var_trials_sr=float(var_trials_sr),
        expected_max_sharpe=st.expected_max_sharpe,
        expected_max_sharpe_annualised=st.expected_max_sharpe * math.sqrt(ppy),
        dsr=st.dsr,
        min_trl_bars=st.min_trl_bars,
        min_trl_years=st.min_trl_bars / ppy,
        alpha=float(alpha),
    )


def trial_sharpe_variance(records: Sequence[StrategyRecordLike]) -> float:
    """Variance (ddof=1) of the per-bar Sharpe ratios of the trials in ``records`` — the ``V``
    of the DSR. Trials with an undefined Sharpe (flat equity) are skipped; 0.0 with fewer than
    two usable trials."""
    srs = [sharpe_ratio(bar_returns(r)) for r in records if len(r.equity) >= 3]
    srs = [s for s in srs if math.isfinite(s)]
    return float(np.var(srs, ddof=1)) if len(srs) >= 2 else 0.0
