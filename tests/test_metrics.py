"""Tests of lstm_backtrader.models.metrics against hand computations and published worked examples.

Reference values used below and where they come from:

* Deflated Sharpe Ratio, Bailey & López de Prado (2014), numerical example: N = 100 trials,
  variance of the annualised trial Sharpes 1/2, annualised SR 2.5 over T = 1250 daily bars
  (250 a year), skew -3, raw kurtosis 10 -> SR0 = 0.1132 (per bar) and DSR = 0.9004; the paper
  adds that N = 46 would give 0.9505 and that with normal moments N = 88 still clears 0.95. The
  paper itself was not in the stored corpus; these printed values are quoted identically by
  several independent public test suites (e.g. RVUtils `test_deflated_sharpe.py`, nq-terminal
  `test_deflated.py`, nq-lab validity tests) and the code below reproduces all of them.
* Sharpe Ratio Efficient Frontier, Bailey & López de Prado (2012), appendix A.3 as quoted in the
  nq-lab validity tests: per-month SR 2/sqrt(12) against SR* 1/sqrt(12), skew -0.72, raw
  kurtosis 5.78 -> MinTRL = 59.895 months; and IID normal annual SR 2 against 1 at 95% needs
  2.73 / 2.83 / 3.24 years of daily (252) / weekly / monthly data.
* mlfinlab `tests/test_backtest_statistics.py` (hudson-and-thames/mlfinlab): PSR(SR 1.14 vs 1,
  T = 250, normal) = 0.95727, MinTRL = 228.73497, DSR with trial Sharpes [3.5, 1.01, 1.02]
  (population variance) = 0.95836.

Everything else is checked against plain-Python hand computations written in this file.
"""

from __future__ import annotations

import json
import math
import statistics
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lstm_backtrader.models import metrics as m
from lstm_backtrader.models.infra.errors import InputError

PHI = NormalDist()  # stdlib normal: independent of the scipy calls inside the module


def phi_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


# ============================================================== RMSE / MAE / direction / IC

F = [0.01, -0.02, 0.03, 0.0]
Y = [0.02, -0.01, -0.01, 0.0]


def test_rmse_mae_by_hand():
    # errors f - y = [-0.01, -0.01, 0.04, 0.0]
    assert m.rmse(F, Y) == pytest.approx(math.sqrt((1e-4 + 1e-4 + 16e-4 + 0.0) / 4), rel=1e-12)
    assert m.mae(F, Y) == pytest.approx((0.01 + 0.01 + 0.04 + 0.0) / 4, rel=1e-12)


def test_directional_accuracy_and_always_up_by_hand():
    # signs f: + - + 0 ; y: + - - 0  -> hit, hit, miss, hit (0 == 0)
    assert m.directional_accuracy(F, Y) == 0.75
    # only 0.02 is strictly positive; the flat bar is not "up"
    assert m.always_up_rate(Y) == 0.25


def test_zero_forecast_is_no_call():
    y = [0.01, -0.02, 0.0, 0.03]
    # persistence (all zeros) only "hits" the exactly-flat bar
    assert m.directional_accuracy([0.0] * 4, y) == 0.25
    # a non-zero call on a flat bar is a miss
    assert m.directional_accuracy([0.5, -0.5, 0.5, 0.5], y) == 0.75
    # an always-up forecaster scores exactly the always-up rate
    assert m.directional_accuracy([1.0] * 4, y) == m.always_up_rate(y) == 0.5


def test_nan_pairs_dropped_consistently():
    f = [0.01, np.nan, 0.03, 0.0, -0.02]
    y = [0.02, -0.01, -0.01, np.nan, -0.01]
    # surviving pairs: (0.01, 0.02), (0.03, -0.01), (-0.02, -0.01)
    assert m.rmse(f, y) == pytest.approx(math.sqrt((1e-4 + 16e-4 + 1e-4) / 3), rel=1e-12)
    assert m.directional_accuracy(f, y) == pytest.approx(2 / 3)
    assert m.always_up_rate(y) == 0.25  # NaN dropped, 1 up of 4


def test_series_inputs_and_alignment_rules():
    idx = pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC")
    fs, ys = pd.Series(F, index=idx), pd.Series(Y, index=idx)
    assert m.rmse(fs, ys) == m.rmse(F, Y)
    assert m.rmse(fs, np.asarray(Y)) == m.rmse(F, Y)  # Series + array pair by position
    with pytest.raises(ValueError, match="different indexes"):
        m.rmse(fs, pd.Series(Y, index=idx + pd.Timedelta(days=1)))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: m.rmse([1.0, 2.0], [1.0]), "length mismatch"),
        (lambda: m.mae([np.nan], [1.0]), "at least 1"),
        (lambda: m.directional_test([1.0, 2.0], [1.0, 2.0, 3.0]), "length mismatch"),
        (lambda: m.information_coefficient([1.0, 2.0], [1.0, 3.0]), "at least 3"),
        (lambda: m.rmse([1.0, np.inf], [1.0, 2.0]), "infinite"),
        (lambda: m.rmse(np.ones((2, 2)), np.ones((2, 2))), "one-dimensional"),
    ],
)
def test_bad_inputs_raise_one_line_input_errors(call, match):
    with pytest.raises(InputError, match=match) as info:  # InputError is a ValueError
        call()
    assert "\n" not in str(info.value)


def test_information_coefficient_by_hand():
    f = [1.0, 2.0, 3.0, 4.0, 5.0]
    y = [0.1, 0.3, 0.2, 0.5, 0.4]  # ranks 1 3 2 5 4 -> d = 0 -1 1 -1 1, sum d^2 = 4
    rho = 1 - 6 * 4 / (5 * (25 - 1))
    t_stat = rho * math.sqrt((5 - 2) / (1 - rho**2))
    p = 2 * stats.t.sf(t_stat, df=3)
    ic = m.information_coefficient(f, y)
    assert rho == pytest.approx(0.8)
    assert ic.ic == pytest.approx(rho, rel=1e-12)
    assert ic.p_value == pytest.approx(p, rel=1e-9)
    assert ic.n == 5


def test_information_coefficient_constant_forecast_is_nan_without_warning(recwarn):
    ic = m.information_coefficient([0.0] * 5, [0.1, -0.2, 0.3, 0.0, 0.1])
    assert math.isnan(ic.ic) and math.isnan(ic.p_value) and ic.n == 5
    assert not [w for w in recwarn if issubclass(w.category, stats.ConstantInputWarning)]


# ============================================================== binomial direction test


def test_directional_test_binomial_against_always_up_rate():
    # 7 up bars and 3 down bars; the forecast is right on 8 of 10
    y = [0.01] * 7 + [-0.01] * 3
    f = [1, 1, 1, 1, 1, 1, -1, -1, -1, 1]
    res = m.directional_test(f, y)
    assert (res.accuracy, res.always_up_rate, res.n, res.n_correct) == (0.8, 0.7, 10, 8)
    assert res.edge == pytest.approx(0.1)
    # P(X >= 8), X ~ Binomial(10, 0.7), by hand
    by_hand = sum(math.comb(10, k) * 0.7**k * 0.3 ** (10 - k) for k in range(8, 11))
    assert by_hand == pytest.approx(0.3827827864, rel=1e-9)
    assert res.p_value == pytest.approx(by_hand, rel=1e-9)
    assert res.p_value == pytest.approx(
        stats.binomtest(8, 10, p=0.7, alternative="greater").pvalue, rel=1e-12
    )
    # against 50% the same 8/10 would look nearly significant: the benchmark matters
    p_half = sum(math.comb(10, k) for k in range(8, 11)) / 2**10
    assert p_half == pytest.approx(0.0546875)
    assert res.p_value > 0.3 > p_half


def test_always_up_forecast_has_no_edge():
    rng = np.random.default_rng(1)
    y = rng.normal(0.001, 0.02, 300)
    res = m.directional_test(np.ones(300), y)
    assert res.accuracy == res.always_up_rate
    assert res.p_value > 0.5


# ============================================================== Diebold–Mariano

E_MODEL = [0.5, -1.0, 0.3, 0.8, -0.2, 0.1, -0.6, 0.4, -0.9, 0.7]
E_BASE = [1.0, -0.7, 0.9, -1.2, 0.5, -0.8, 0.9, 0.2, -1.1, 0.6]


def _dm_by_hand(e1, e2, h, loss="squared"):
    """Plain-loop DM + HLN; returns (raw DM, HLN factor, DM*)."""
    t_len = len(e1)
    d = []
    for a, b in zip(e1, e2, strict=True):
        d.append(a * a - b * b if loss == "squared" else abs(a) - abs(b))
    d_bar = sum(d) / t_len
    gammas = []
    for k in range(h):
        acc = 0.0
        for t in range(k, t_len):
            acc += (d[t] - d_bar) * (d[t - k] - d_bar)
        gammas.append(acc / t_len)
    long_run = gammas[0] + 2 * sum(gammas[1:])
    assert long_run > 0
    dm = d_bar / math.sqrt(long_run / t_len)
    factor = math.sqrt((t_len + 1 - 2 * h + h * (h - 1) / t_len) / t_len)
    return dm, factor, dm * factor


@pytest.mark.parametrize("h", [1, 2, 3])
def test_diebold_mariano_matches_hand_computation(h):
    _, factor, dm_star = _dm_by_hand(E_MODEL, E_BASE, h)
    res = m.diebold_mariano(E_MODEL, E_BASE, h=h)
    assert res.statistic == pytest.approx(dm_star, rel=1e-12)
    assert res.p_value == pytest.approx(2 * stats.t.sf(abs(dm_star), df=9), rel=1e-10)
    assert (res.n, res.h) == (10, h)
    d = [a * a - b * b for a, b in zip(E_MODEL, E_BASE, strict=True)]
    assert res.mean_loss_diff == pytest.approx(sum(d) / 10, rel=1e-12)


def test_hln_factor_values():
    # T = 10: h = 1 -> sqrt(9/10); h = 2 -> sqrt((10 + 1 - 4 + 2/10) / 10) = sqrt(0.72)
    dm1, f1, _ = _dm_by_hand(E_MODEL, E_BASE, 1)
    dm2, f2, _ = _dm_by_hand(E_MODEL, E_BASE, 2)
    assert f1 == pytest.approx(math.sqrt(0.9))
    assert f2 == pytest.approx(math.sqrt(0.72))
    assert m.diebold_mariano(E_MODEL, E_BASE, h=2).statistic / dm2 == pytest.approx(f2)
    assert m.diebold_mariano(E_MODEL, E_BASE, h=1).statistic / dm1 == pytest.approx(f1)


def test_dm_h1_equals_one_sample_t_test_of_loss_differential():
    d = np.square(E_MODEL) - np.square(E_BASE)
    tt = stats.ttest_1samp(d, 0.0)
    res = m.diebold_mariano(E_MODEL, E_BASE, h=1)
    assert res.statistic == pytest.approx(tt.statistic, rel=1e-12)
    assert res.p_value == pytest.approx(tt.pvalue, rel=1e-10)


def test_dm_absolute_loss_by_hand():
    _, _, dm_star = _dm_by_hand(E_MODEL, E_BASE, 1, loss="absolute")
    res = m.diebold_mariano(E_MODEL, E_BASE, loss="absolute")
    assert res.statistic == pytest.approx(dm_star, rel=1e-12)
    assert res.loss == "absolute"


def test_dm_sign_convention_better_model_is_negative():
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 1, 300)
    better = 0.5 * noise + rng.normal(0, 0.1, 300)
    less = m.diebold_mariano(better, noise, alternative="less")
    two = m.diebold_mariano(better, noise)
    greater = m.diebold_mariano(better, noise, alternative="greater")
    assert less.statistic < -5
    assert less.p_value < 1e-6
    assert two.p_value == pytest.approx(2 * less.p_value, rel=1e-9)
    assert greater.p_value > 0.999
    # swapping the roles flips the sign; errors may be signed either way under squared loss
    assert m.diebold_mariano(noise, better).statistic == pytest.approx(-two.statistic)
    assert m.diebold_mariano(-better, noise).statistic == pytest.approx(two.statistic)


def test_dm_degenerate_cases():
    same = m.diebold_mariano(E_MODEL, E_MODEL, alternative="less")
    assert (same.statistic, same.p_value, same.mean_loss_diff) == (0.0, 1.0, 0.0)
    worse = m.diebold_mariano([2.0] * 6, [1.0] * 6)  # d = 3 on every bar, zero variance
    assert worse.statistic == math.inf and worse.p_value == 0.0
    assert m.diebold_mariano([2.0] * 6, [1.0] * 6, alternative="less").p_value == 1.0


def test_dm_drops_nan_pairs_and_validates():
    e1 = [*E_MODEL, np.nan]
    e2 = [*E_BASE, 0.3]
    assert m.diebold_mariano(e1, e2).statistic == m.diebold_mariano(E_MODEL, E_BASE).statistic
    with pytest.raises(ValueError, match="h must be"):
        m.diebold_mariano(E_MODEL, E_BASE, h=0)
    with pytest.raises(ValueError, match="loss"):
        m.diebold_mariano(E_MODEL, E_BASE, loss="huber")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alternative"):
        m.diebold_mariano(E_MODEL, E_BASE, alternative="better")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least"):
        m.diebold_mariano([0.1, 0.2], [0.3, 0.1])
    with pytest.raises(ValueError, match="length mismatch"):
        m.diebold_mariano(E_MODEL, E_BASE[:-1])


# ============================================================== forecast_metrics bundle


def test_forecast_metrics_with_persistence_baseline():
    rng = np.random.default_rng(3)
    idx = pd.date_range("2023-01-01", periods=200, freq="D", tz="UTC")
    y = pd.Series(rng.normal(0.0005, 0.02, 200), index=idx)
    f = pd.Series(0.2 * y.to_numpy() + rng.normal(0, 0.004, 200), index=idx)
    f.iloc[5] = np.nan
    fm = m.forecast_metrics(f, y, baseline=0.0)
    keep = ~np.isnan(f.to_numpy())
    fv, yv = f.to_numpy()[keep], y.to_numpy()[keep]
    assert fm.n == 199
    assert fm.rmse == pytest.approx(float(np.sqrt(np.mean((fv - yv) ** 2))))
    assert fm.baseline_rmse == pytest.approx(float(np.sqrt(np.mean(yv**2))))
    assert fm.rmse_ratio == pytest.approx(fm.rmse / fm.baseline_rmse)
    assert fm.rmse_ratio < 1  # a shrunk, correlated forecast beats persistence here
    assert fm.dm_vs_baseline == m.diebold_mariano(yv - fv, yv - 0.0)
    assert fm.directional == m.directional_test(fv, yv)
    assert fm.ic == m.information_coefficient(fv, yv)
    # a scalar baseline is the same as an explicit array of it
    assert m.forecast_metrics(f, y, baseline=pd.Series(0.0, index=idx)) == fm


def test_forecast_metrics_baseline_nan_drops_bar_everywhere():
    f = [0.01, 0.02, -0.01, 0.03, 0.0]
    y = [0.02, -0.01, -0.02, 0.01, 0.01]
    b = [0.0, 0.0, np.nan, 0.0, 0.0]
    fm = m.forecast_metrics(f, y, baseline=b)
    assert fm.n == 4
    assert fm.rmse == m.rmse([0.01, 0.02, 0.03, 0.0], [0.02, -0.01, 0.01, 0.01])


def test_forecast_metrics_without_baseline_and_to_dict_is_strict_json():
    y = [0.02, -0.01, -0.02, 0.01, 0.01, -0.03]
    fm = m.forecast_metrics([0.0] * 6, y)  # persistence as the "model": IC undefined
    assert fm.baseline_rmse is None and fm.dm_vs_baseline is None and fm.rmse_ratio is None
    d = fm.to_dict()
    assert d["ic"]["ic"] is None  # NaN -> None
    assert d["directional"]["accuracy"] == 0.0
    assert json.loads(json.dumps(d, allow_nan=False)) == d


# ============================================================== Sharpe, PSR, MinTRL, DSR

PAPER_SR = 2.5 / math.sqrt(250)
PAPER_V = 0.5 / 250  # the Sharpe scales by sqrt(250), its variance by 250


def test_periods_per_year_mapping():
    assert m.periods_per_year("1d") == 365
    assert m.periods_per_year("4h") == 2190
    assert m.periods_per_year("2h") == 4380
    assert m.periods_per_year("1h") == 8760
    assert m.periods_per_year("15m") == 365 * 96
    assert m.periods_per_year("1m") == 525_600
    assert m.periods_per_year("1w") == pytest.approx(365 / 7)
    assert m.periods_per_year("1M") == 12


@pytest.mark.parametrize("label", ["1y", "abc", "0h", "", "h1", "1.5h"])
def test_periods_per_year_rejects_unknown_labels(label):
    with pytest.raises(ValueError, match="timeframe"):
        m.periods_per_year(label)


def test_sharpe_ratio_by_hand_and_crypto_annualisation():
    r = [0.01, 0.02, -0.01, 0.03, np.nan]
    clean = [0.01, 0.02, -0.01, 0.03]
    per_bar = statistics.mean(clean) / statistics.stdev(clean)
    assert per_bar == pytest.approx(0.0125 / math.sqrt(8.75e-4 / 3))
    assert m.sharpe_ratio(r) == pytest.approx(per_bar, rel=1e-12)
    assert m.sharpe_ratio(r, periods_per_year=365) == pytest.approx(per_bar * math.sqrt(365))
    assert m.sharpe_ratio(r, periods_per_year="1d") == m.sharpe_ratio(r, periods_per_year=365)
    assert m.sharpe_ratio(r, "4h") == pytest.approx(per_bar * math.sqrt(2190))
    assert m.sharpe_ratio(r, "1d") != pytest.approx(per_bar * math.sqrt(252))
    assert math.isnan(m.sharpe_ratio([0.01] * 5))
    with pytest.raises(ValueError, match="positive"):
        m.sharpe_ratio(r, periods_per_year=0)


def test_dsr_paper_worked_example():
    sr0 = m.expected_max_sharpe(100, PAPER_V)
    assert round(sr0, 4) == 0.1132
    assert round(sr0 * math.sqrt(250), 2) == 1.79  # annualised expected maximum
    dsr = m.dsr_from_moments(PAPER_SR, 1250, -3.0, 10.0, n_trials=100, var_trials_sr=PAPER_V)
    assert round(dsr, 4) == 0.9004
    assert dsr == pytest.approx(m.psr_from_moments(PAPER_SR, sr0, 1250, -3.0, 10.0))


def test_dsr_paper_follow_up_statements():
    n46 = m.dsr_from_moments(PAPER_SR, 1250, -3.0, 10.0, n_trials=46, var_trials_sr=PAPER_V)
    assert round(n46, 4) == 0.9505
    # with normal moments (skew 0, RAW kurtosis 3) up to N = 88 trials still clear 0.95
    assert m.dsr_from_moments(PAPER_SR, 1250, 0.0, 3.0, 88, PAPER_V) >= 0.95
    assert m.dsr_from_moments(PAPER_SR, 1250, 0.0, 3.0, 89, PAPER_V) < 0.95


def test_dsr_paper_example_misses_with_excess_kurtosis():
    sr0 = m.expected_max_sharpe(100, PAPER_V)
    excess = m.psr_from_moments(PAPER_SR, sr0, 1250, -3.0, 10.0 - 3.0)
    assert round(excess, 4) != 0.9004


def test_expected_max_sharpe_closed_form_with_stdlib():
    g = 0.5772156649015329
    for n, v in [(2, 0.01), (10, 0.04), (1000, 1e-3)]:
        want = math.sqrt(v) * (
            (1 - g) * PHI.inv_cdf(1 - 1 / n) + g * PHI.inv_cdf(1 - 1 / (n * math.e))
        )
        assert m.expected_max_sharpe(n, v) == pytest.approx(want, rel=1e-9)
    assert m.expected_max_sharpe(1, 0.04) == 0.0
    assert m.expected_max_sharpe(50, 0.0) == 0.0
    bars = [m.expected_max_sharpe(n, 0.04) for n in (2, 10, 100, 1000)]
    assert bars == sorted(bars) and bars[0] > 0
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="n_trials"):
            m.expected_max_sharpe(bad, 0.04)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="var_trials_sr"):
        m.expected_max_sharpe(10, -1.0)


def test_mlfinlab_numerical_examples():
    assert m.psr_from_moments(1.14, 1.0, 250, 0.0, 3.0) == pytest.approx(0.95727, abs=1e-4)
    assert m.min_trl_from_moments(1.14, 1.0, 0.0, 3.0, 0.05) == pytest.approx(228.73497, abs=1e-4)
    v = float(np.var([3.5, 1.01, 1.02]))  # mlfinlab uses the population std of the trials
    assert m.dsr_from_moments(1.14, 250, 0.0, 3.0, 3, v) == pytest.approx(0.95836, abs=1e-4)


def test_min_trl_frontier_paper_appendix():
    got = m.min_trl_from_moments(2 / math.sqrt(12), 1 / math.sqrt(12), -0.72, 5.78, alpha=0.05)
    assert round(got, 3) == 59.895
    # by construction PSR at exactly MinTRL observations is 1 - alpha
    psr = m.psr_from_moments(2 / math.sqrt(12), 1 / math.sqrt(12), got, -0.72, 5.78)
    assert psr == pytest.approx(0.95, abs=1e-12)


@pytest.mark.parametrize(("ppy", "years"), [(252, 2.73), (52, 2.83), (12, 3.24)])
def test_min_trl_frontier_paper_figures(ppy, years):
    k = math.sqrt(ppy)
    assert round(m.min_trl_from_moments(2 / k, 1 / k, 0.0, 3.0) / ppy, 2) == years


def test_min_trl_edge_cases():
    assert m.min_trl_from_moments(0.05, 0.05) == math.inf
    assert m.min_trl_from_moments(-0.01, 0.0) == math.inf
    with pytest.raises(ValueError, match="alpha"):
        m.min_trl_from_moments(0.1, 0.0, alpha=1.5)


def _hand_moments(r):
    n = len(r)
    mean = sum(r) / n
    sd1 = math.sqrt(sum((x - mean) ** 2 for x in r) / (n - 1))
    m2 = sum((x - mean) ** 2 for x in r) / n
    m3 = sum((x - mean) ** 3 for x in r) / n
    m4 = sum((x - mean) ** 4 for x in r) / n
    return mean / sd1, n, m3 / m2**1.5, m4 / m2**2


def test_psr_of_normal_sample_uses_raw_kurtosis_by_hand():
    r = list(np.random.default_rng(11).normal(0.001, 0.01, 2000))
    sr, n, skew, kurt = _hand_moments(r)
    assert kurt == pytest.approx(3.0, abs=0.3)  # raw kurtosis of a normal sample is ~3
    z = sr * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    assert m.probabilistic_sharpe_ratio(r) == pytest.approx(phi_cdf(z), rel=1e-10)
    assert m.return_moments(r) == pytest.approx((sr, n, skew, kurt), rel=1e-10)
    # the module's moments are the raw (Pearson) ones, not scipy/pandas' excess default
    assert m.return_moments(r)[3] == pytest.approx(stats.kurtosis(r, fisher=False))
    z_excess = sr * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 3 - 1) / 4 * sr**2)
    assert m.probabilistic_sharpe_ratio(r) != pytest.approx(phi_cdf(z_excess), rel=1e-10)


def test_psr_rejects_excess_kurtosis_passed_as_raw():
    with pytest.raises(ValueError, match="excess kurtosis"):
        m.psr_from_moments(0.1, 0.0, 500, 0.0, 0.0)  # 0 = excess kurtosis of a normal


def test_psr_properties():
    assert m.psr_from_moments(0.2, 0.2, 300) == pytest.approx(0.5)
    clean = m.psr_from_moments(0.1, 0.0, 500, 0.0, 3.0)
    nasty = m.psr_from_moments(0.1, 0.0, 500, -1.5, 9.0)
    assert nasty < clean
    assert clean == pytest.approx(phi_cdf(0.1 * math.sqrt(499) / math.sqrt(1 + 0.5 * 0.01)))
    assert math.isnan(m.probabilistic_sharpe_ratio([0.01] * 10))  # constant returns
    with pytest.raises(ValueError, match="at least 3"):
        m.probabilistic_sharpe_ratio([0.01, 0.02])


def test_dsr_on_returns_and_n_equals_one_is_psr_zero():
    r = np.random.default_rng(5).normal(0.001, 0.02, 1000)
    assert m.deflated_sharpe_ratio(r, 1, 0.0) == m.probabilistic_sharpe_ratio(r, 0.0)
    assert m.deflated_sharpe_ratio(r, 1, 0.123) == m.probabilistic_sharpe_ratio(r, 0.0)
    sr, n, skew, kurt = m.return_moments(r)
    many = m.deflated_sharpe_ratio(r, 100, 0.5 / 365)
    assert many == pytest.approx(m.dsr_from_moments(sr, n, skew, kurt, 100, 0.5 / 365))
    assert many < m.probabilistic_sharpe_ratio(r)
    trl = m.min_track_record_length(r)
    assert trl == pytest.approx(m.min_trl_from_moments(sr, 0.0, skew, kurt))


def test_sharpe_stats_bundle():
    r = pd.Series(np.random.default_rng(9).normal(0.002, 0.03, 730))
    s = m.sharpe_stats(r, "1d", n_trials=20, var_trials_sr=0.3 / 365)
    assert s.periods_per_year == 365
    assert s.sharpe_annualised == pytest.approx(m.sharpe_ratio(r, 365))
    assert s.psr == m.probabilistic_sharpe_ratio(r)
    assert s.dsr == m.deflated_sharpe_ratio(r, 20, 0.3 / 365)
    assert s.expected_max_sharpe == m.expected_max_sharpe(20, 0.3 / 365)
    d = s.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
