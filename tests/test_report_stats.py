"""Strategy table and Sharpe significance, checked against hand recomputation in plain NumPy."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from lstm_backtrader.backtests.report.stats import (
    STRATEGY_COLUMNS,
    StrategyRecord,
    drawdown_episodes,
    sharpe_significance,
    strategy_row,
    strategy_table,
    trial_sharpe_variance,
)

EULER = 0.5772156649015329


def _equity(values, start="2021-01-01", freq="1D") -> pd.Series:
    idx = pd.date_range(start, periods=len(values), freq=freq, tz="UTC", name="timestamp")
    return pd.Series(np.asarray(values, dtype=float), index=idx, name="equity")


def _random_equity(n=500, seed=1, mu=0.0008, sigma=0.03, freq="1D") -> pd.Series:
    rng = np.random.default_rng(seed)
    r = rng.normal(mu, sigma, n - 1)
    return _equity(10_000 * np.concatenate([[1.0], np.cumprod(1 + r)]), freq=freq)


# The hand-made curve: peaks 100, 110, 121, 125; three drawdown episodes.
HAND = [100, 110, 99, 105, 121, 115, 118, 125, 100, 112]


def test_hand_made_curve_drawdowns():
    eq = _equity(HAND)
    ep = drawdown_episodes(eq)
    assert len(ep) == 3
    # deepest first: 125 -> 100 (-20%), from 2021-01-08 to the last bar, not recovered
    deepest = ep.iloc[0]
    assert deepest["depth"] == pytest.approx(-0.2)
    assert deepest["start"] == eq.index[7] and deepest["trough"] == eq.index[8]
    assert deepest["end"] == eq.index[9] and not deepest["recovered"]
    assert deepest["days"] == 2 and deepest["bars"] == 2
    # 110 -> 99 (-10%) from bar 1, recovered on bar 4 (121 >= 110)
    second = ep.iloc[1]
    assert second["depth"] == pytest.approx(99 / 110 - 1)
    assert second["start"] == eq.index[1] and second["end"] == eq.index[4]
    assert second["recovered"] and second["days"] == 3
    third = ep.iloc[2]
    assert third["depth"] == pytest.approx(115 / 121 - 1) and third["days"] == 3

    row = strategy_row(StrategyRecord("hand", eq), 365)
    assert row["max_drawdown"] == pytest.approx(-0.2)
    assert row["max_drawdown_days"] == 2
    assert row["longest_drawdown_days"] == 3
    assert row["total_return"] == pytest.approx(0.12)
    assert row["final_equity"] == 112
    assert row["bars"] == 10
    years = 9 / 365.25
    assert row["years"] == pytest.approx(years)
    assert row["cagr"] == pytest.approx(1.12 ** (1 / years) - 1)
    assert row["calmar"] == pytest.approx(row["cagr"] / 0.2)


def test_no_drawdown_curve():
    eq = _equity([100, 101, 102, 104])
    assert drawdown_episodes(eq).empty
    row = strategy_row(StrategyRecord("up", eq), 365)
    assert row["max_drawdown"] == 0.0 and row["max_drawdown_days"] == 0.0
    assert math.isnan(row["calmar"])
    assert math.isnan(row["sortino"])  # no losing bar: downside deviation 0


def _hand_max_dd(values: np.ndarray) -> float:
    peak, worst = values[0], 0.0
    for v in values:
        peak = max(peak, v)
        worst = min(worst, v / peak - 1)
    return worst


def test_table_matches_independent_numpy_recomputation():
    eq_a = _random_equity(seed=1)
    eq_b = _random_equity(seed=2, mu=0.0)
    n = len(eq_a)
    idx = eq_a.index
    trades = pd.DataFrame(
        {
            "entry_time": idx[[1, 10, 20, 30]],
            "exit_time": idx[[5, 15, 25, 35]],
            "side": ["long", "short", "long", "long"],
            "size": [0.1, 0.2, 0.1, 0.1],
            "entry_price": [1.0, 1.0, 1.0, 1.0],
            "exit_price": [1.0, 1.0, 1.0, 1.0],
            "pnl": [12.0, -4.0, 3.5, 0.1],
            "pnl_net": [10.0, -5.0, 3.0, -0.1],
            "commission": [2.0, 1.0, 0.5, 0.2],
            "bars": [4, 5, 5, 5],
        }
    )
    fills = pd.DataFrame(
        {
            "time": idx[[1, 5, 10, 15]],
            "side": ["buy", "sell", "sell", "buy"],
            "size": [0.1, 0.1, 0.2, 0.2],
            "price": [1.0, 1.0, 1.0, 1.0],
            "value": [0.1, 0.1, 0.2, 0.2],
            "commission": [1.0, 1.0, 0.25, 0.75],
        }
    )
    pos = np.zeros(n)
    pos[100:225] = 0.5
    pos[300:310] = -0.2
    rec_a = StrategyRecord("A", eq_a, trades, fills, pd.Series(pos, index=idx))
    rec_b = StrategyRecord("B", eq_b)
    ppy = 365.0
    table = strategy_table([rec_a, rec_b], ppy)

    assert list(table.index) == ["A", "B"]
    assert table.index.name == "strategy"
    assert list(table.columns) == [k for k, _, _ in STRATEGY_COLUMNS]

    v = eq_a.to_numpy()
    r = np.diff(v) / v[:-1]
    years = (n - 1) / 365.25  # daily bars: N - 1 elapsed days
    down = np.sqrt(np.mean(np.where(r < 0, r, 0.0) ** 2))
    expect = {
        "total_return": v[-1] / v[0] - 1,
        "cagr": (v[-1] / v[0]) ** (1 / years) - 1,
        "volatility": r.std(ddof=1) * np.sqrt(ppy),
        "sharpe": r.mean() / r.std(ddof=1) * np.sqrt(ppy),
        "sortino": r.mean() / down * np.sqrt(ppy),
        "max_drawdown": _hand_max_dd(v),
        "n_trades": 4,
        "win_rate": 0.5,  # net pnl 10 and 3 of 4
        "exposure": (125 + 10) / n,
        "fees_paid": 3.0,
        "final_equity": v[-1],
        "bars": n,
        "years": years,
    }
    expect["calmar"] = expect["cagr"] / abs(expect["max_drawdown"])
    for key, value in expect.items():
        assert table.loc["A", key] == pytest.approx(value, rel=1e-12), key
    assert rec_a.fees_paid == 3.0
    assert rec_a.exposure == pytest.approx(135 / n)

    # drawdown durations by another route: group bars by their running-peak bar
    peak_idx = np.zeros(n, dtype=int)
    for i in range(1, n):
        peak_idx[i] = i if v[i] >= v[peak_idx[i - 1]] else peak_idx[i - 1]
    groups: dict[int, list[int]] = {}
    for i in range(n):
        if peak_idx[i] != i:
            groups.setdefault(int(peak_idx[i]), []).append(i)
    spans = []
    for p, members in groups.items():
        end = members[-1] + 1 if members[-1] + 1 < n else n - 1
        spans.append((min(v[m] for m in members) / v[p] - 1, end - p))  # (depth, days)
    assert table.loc["A", "max_drawdown_days"] == min(spans)[1]
    assert table.loc["A", "longest_drawdown_days"] == max(s[1] for s in spans)

    # B: no trades, no fills, flat position
    assert table.loc["B", "n_trades"] == 0
    assert math.isnan(table.loc["B", "win_rate"])
    assert table.loc["B", "fees_paid"] == 0.0 and table.loc["B", "exposure"] == 0.0


def test_intraday_cagr_uses_calendar_time():
    eq = _random_equity(n=6 * 200 + 1, freq="4h", sigma=0.01)
    row = strategy_row(StrategyRecord("4h", eq), 2190)
    v = eq.to_numpy()
    years = 200 / 365.25  # 1200 four-hour bars = 200 days
    assert row["years"] == pytest.approx(years)
    assert row["cagr"] == pytest.approx((v[-1] / v[0]) ** (1 / years) - 1)
    r = np.diff(v) / v[:-1]
    assert row["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(2190))


def test_returns_property_and_duck_typing():
    eq = _equity(HAND)
    rec = StrategyRecord("hand", eq)
    ret = rec.returns
    assert ret.iloc[0] == 0.0 and ret.name == "hand"
    assert ret.iloc[1] == pytest.approx(0.1)
    assert (rec.position == 0).all()
    duck = SimpleNamespace(
        name="duck", equity=eq, trades=rec.trades, fills=rec.fills, position=rec.position
    )
    t1 = strategy_table([duck], 365)
    t2 = strategy_table([rec], 365)
    pd.testing.assert_frame_equal(t1.reset_index(drop=True), t2.reset_index(drop=True))


@pytest.mark.parametrize(
    "values, msg",
    [
        ([100, np.nan, 101], "finite and positive"),
        ([100, 0.0, 101], "finite and positive"),
        ([], "empty"),
    ],
)
def test_record_validation(values, msg):
    with pytest.raises(ValueError, match=msg):
        StrategyRecord("bad", _equity(values))


def test_record_rejects_unsorted_index_and_duplicate_names():
    eq = _equity([100, 101, 102])
    with pytest.raises(ValueError, match="increasing"):
        StrategyRecord("bad", eq.iloc[::-1])
    with pytest.raises(ValueError, match="DatetimeIndex"):
        StrategyRecord("bad", eq.reset_index(drop=True))
    rec = StrategyRecord("x", eq)
    with pytest.raises(ValueError, match="unique"):
        strategy_table([rec, rec], 365)
    with pytest.raises(ValueError, match="positive"):
        strategy_table([rec], 0)


def _hand_psr(r: np.ndarray, sr_star: float) -> tuple[float, float, float, float]:
    sr = r.mean() / r.std(ddof=1)
    c = r - r.mean()
    m2 = np.mean(c**2)
    skew = np.mean(c**3) / m2**1.5
    kurt = np.mean(c**4) / m2**2  # raw kurtosis, normal = 3
    term = 1 - skew * sr + (kurt - 1) / 4 * sr**2
    psr = sps.norm.cdf((sr - sr_star) * np.sqrt(len(r) - 1) / np.sqrt(term))
    return float(psr), float(sr), float(term), float(kurt)


def test_sharpe_significance_matches_hand_formulas():
    eq = _random_equity(n=730, seed=7, mu=0.004)
    rec = StrategyRecord("LSTM", eq)
    v = eq.to_numpy()
    r = np.diff(v) / v[:-1]
    n_trials, var_sr = 12, 0.0004
    sig = sharpe_significance(rec, 365, n_trials=n_trials, var_trials_sr=var_sr)

    psr, sr, term, kurt = _hand_psr(r, 0.0)
    sr0 = np.sqrt(var_sr) * (
        (1 - EULER) * sps.norm.ppf(1 - 1 / n_trials)
        + EULER * sps.norm.ppf(1 - 1 / (n_trials * np.e))
    )
    dsr, *_ = _hand_psr(r, sr0)
    min_trl = 1 + term * (sps.norm.ppf(0.95) / sr) ** 2

    assert sig.strategy == "LSTM" and sig.n == len(r) == 729
    assert sig.n_trials == 12 and sig.var_trials_sr == var_sr
    assert sig.sharpe_per_bar == pytest.approx(sr, rel=1e-12)
    assert sig.sharpe_annualised == pytest.approx(sr * np.sqrt(365), rel=1e-12)
    assert sig.kurtosis == pytest.approx(kurt, rel=1e-10)
    assert sig.psr == pytest.approx(psr, rel=1e-10)
    assert sig.expected_max_sharpe == pytest.approx(sr0, rel=1e-12)
    assert sig.expected_max_sharpe_annualised == pytest.approx(sr0 * np.sqrt(365), rel=1e-12)
    assert sig.dsr == pytest.approx(dsr, rel=1e-10)
    assert sig.sharpe_per_bar > 0 and sig.dsr < sig.psr
    assert sig.min_trl_bars == pytest.approx(min_trl, rel=1e-10)
    assert sig.min_trl_years == pytest.approx(min_trl / 365, rel=1e-10)

    one = sharpe_significance(rec, 365)  # one trial: nothing to deflate
    assert one.n_trials == 1 and one.dsr == pytest.approx(one.psr)


def test_significance_to_dict_maps_inf_to_none():
    eq = _random_equity(n=200, seed=3, mu=-0.003)
    sig = sharpe_significance(StrategyRecord("loser", eq), 365)
    assert sig.sharpe_per_bar < 0
    assert math.isinf(sig.min_trl_bars)
    d = sig.to_dict()
    assert d["min_trl_bars"] is None and d["min_trl_years"] is None
    assert d["psr"] == sig.psr


def test_trial_sharpe_variance():
    recs = [StrategyRecord(f"t{i}", _random_equity(n=300, seed=i)) for i in range(5)]
    srs = []
    for rec in recs:
        v = rec.equity.to_numpy()
        r = np.diff(v) / v[:-1]
        srs.append(r.mean() / r.std(ddof=1))
    assert trial_sharpe_variance(recs) == pytest.approx(np.var(srs, ddof=1), rel=1e-12)
    assert trial_sharpe_variance(recs[:1]) == 0.0


def test_buy_and_hold_of_real_btc(btc_1d_raw):
    close = btc_1d_raw["close"]
    units = 10_000 / close.iloc[0]
    eq = (close * units).rename("equity")
    pos = pd.Series(units, index=close.index)
    rec = StrategyRecord("Buy & hold", eq, position=pos)
    table = strategy_table([rec], 365)
    row = table.loc["Buy & hold"]
    c = close.to_numpy()
    r = np.diff(c) / c[:-1]
    years = (close.index[-1] - close.index[0]).days / 365.25
    assert row["total_return"] == pytest.approx(c[-1] / c[0] - 1, rel=1e-9)
    assert row["cagr"] == pytest.approx((c[-1] / c[0]) ** (1 / years) - 1, rel=1e-9)
    assert row["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(365), rel=1e-9)
    assert row["max_drawdown"] == pytest.approx(_hand_max_dd(c), rel=1e-9)
    assert row["max_drawdown"] < -0.5  # BTC has had deep drawdowns in any multi-year window
    assert row["exposure"] == 1.0 and row["n_trades"] == 0 and row["bars"] == len(c)
    sig = sharpe_significance(rec, 365, n_trials=5, var_trials_sr=1e-4)
    assert 0.0 <= sig.dsr <= sig.psr <= 1.0
