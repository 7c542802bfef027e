"""Volatility targeting and probability gating on real Backtrader: next-bar fills, fractional
sizes, the cap, the no-trade band, the LSTM's own lines."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.walkforward import WalkForward
from lstm_backtrader.strategies.costs import DEFAULT_STAKE
from lstm_backtrader.strategies.runner import run_strategy
from lstm_backtrader.strategies.targeted import IntervalGate, ProbabilityGate, VolTargetStrategy
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

N = 80


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return make_candles(N, seed=11, price=60_000.0)


def _exposure(rec, candles: pd.DataFrame) -> pd.Series:
    """Held position value at each close as a share of stake x equity."""
    return rec.position * candles["close"] / (DEFAULT_STAKE * rec.equity)


def test_vol_target_exposure_follows_the_forecast_and_fills_next_bar(candles) -> None:
    # per-bar vol 2% for 40 bars, then 4%: annualised 0.382 and 0.764
    vol = pd.Series(np.where(np.arange(N) < 40, 0.02, 0.04), index=candles.index)
    rec = run_strategy(
        candles, VolTargetStrategy, forecasts=vol, target_vol=0.3, band=0.05,
        fee=0.0, slippage=0.0,
    )  # fmt: skip
    first, second = 0.3 / (0.02 * math.sqrt(365)), 0.3 / (0.04 * math.sqrt(365))
    # decided at bar 0's close, filled at bar 1's open: fractional BTC at 60,000
    assert rec.fills.iloc[0]["time"] == candles.index[1]
    assert 0 < rec.fills.iloc[0]["size"] < 1
    assert rec.position.iloc[0] == 0.0
    want0 = first * DEFAULT_STAKE * 10_000.0 / candles["close"].iloc[0]
    assert rec.fills.iloc[0]["size"] == pytest.approx(want0)
    # the vol step at bar 40 (known at its close) is traded at bar 41's open, not before
    sells = rec.fills[rec.fills["side"] == "sell"]
    assert sells.iloc[0]["time"] >= candles.index[41]
    assert (rec.fills["time"] != candles.index[40]).all()
    exp = _exposure(rec, candles)
    assert exp.iloc[38] == pytest.approx(first, abs=0.06)  # within the band of the target
    assert exp.iloc[-1] == pytest.approx(second, abs=0.06)


def test_vol_target_cap_and_band(candles) -> None:
    calm = pd.Series(0.001, index=candles.index)  # annualised 1.9%: 26x wanted, capped
    rec = run_strategy(candles, VolTargetStrategy, forecasts=calm, target_vol=0.5, max_leverage=0.8)
    assert _exposure(rec, candles).iloc[2:].max() <= 0.8 + 0.1  # the cap, drift within the band
    assert _exposure(rec, candles).iloc[2] == pytest.approx(0.8, abs=0.02)
    # a forecast wobbling inside the band never trades after the first fill
    wobble = pd.Series(0.02 * (1 + 0.02 * np.sin(np.arange(N))), index=candles.index)
    quiet = run_strategy(candles, VolTargetStrategy, forecasts=wobble, target_vol=0.3, band=0.2)
    assert len(quiet.fills) == 1
    busy = run_strategy(candles, VolTargetStrategy, forecasts=wobble, target_vol=0.3, band=0.0)
    assert len(busy.fills) > 20


def test_constant_vol_is_fixed_leverage(candles) -> None:
    rec = run_strategy(candles, VolTargetStrategy, constant_vol=0.6, target_vol=0.3, band=0.1)
    exp = _exposure(rec, candles)
    assert exp.iloc[1] == pytest.approx(0.5, abs=0.02)
    assert ((exp.iloc[1:] - 0.5).abs() <= 0.1 + 1e-9).all()


def test_vol_target_waits_for_a_forecast_and_refuses_bad_settings(candles) -> None:
    vol = pd.Series(np.where(np.arange(N) < 30, np.nan, 0.03), index=candles.index)
    rec = run_strategy(candles, VolTargetStrategy, forecasts=vol)
    assert rec.fills.iloc[0]["time"] == candles.index[31]
    with pytest.raises(InputError, match="target_vol"):
        run_strategy(candles, VolTargetStrategy, forecasts=vol, target_vol=0.0)
    with pytest.raises(InputError, match="band"):
        run_strategy(candles, VolTargetStrategy, forecasts=vol, band=-1.0)


def test_probability_gate_sizes_by_kelly_and_exits_below_threshold(candles) -> None:
    p = np.full(N, 0.4)
    p[10:30] = 0.8  # Kelly 2p - 1 = 0.6, half Kelly 0.3
    p[30:50] = 0.52  # at or under the threshold: flat
    p[50:] = 0.95  # 0.9 half-Kelly 0.45 -> capped at 0.4
    probs = pd.Series(p, index=candles.index)
    rec = run_strategy(
        candles, ProbabilityGate, forecasts=probs, threshold=0.55, kelly_multiplier=0.5,
        max_fraction=0.4, band=0.05, fee=0.0, slippage=0.0,
    )  # fmt: skip
    exp = _exposure(rec, candles)
    assert (rec.position.iloc[:11] == 0).all()  # decided at bar 10's close, filled at 11's open
    assert rec.fills.iloc[0]["time"] == candles.index[11]
    assert exp.iloc[11] == pytest.approx(0.3, abs=0.01)
    assert rec.position.iloc[31] == 0.0 and rec.position.iloc[30] > 0  # exit at 31's open
    assert (rec.position.iloc[31:51] == 0).all()
    assert exp.iloc[51] == pytest.approx(0.4, abs=0.01)
    assert len(rec.trades) == 1  # one closed round trip (the last one is still open)
    with pytest.raises(InputError, match="threshold"):
        run_strategy(candles, ProbabilityGate, forecasts=probs, threshold=1.0)


def test_interval_gate_trades_only_when_the_interval_excludes_zero(candles) -> None:
    mu = np.full(N, 0.01)
    half = np.full(N, 0.02)  # interval mu ± 0.02: contains zero
    half[10:30] = 0.005  # [0.005, 0.015]: above zero
    mu[50:60], half[50:60] = 0.05, 0.01  # [0.04, 0.06]: Kelly far above the cap
    idx = candles.index
    lower = pd.Series(mu - half, index=idx)
    upper = pd.Series(mu + half, index=idx)
    lower.iloc[:5] = np.nan  # no interval yet (too few past scores): nothing traded
    spread = pd.Series(0.001, index=idx)
    rec = run_strategy(
        candles, IntervalGate, forecasts=pd.Series(mu, index=idx), lower=lower, upper=upper,
        spread=spread, level=0.9, kelly_multiplier=0.5, max_fraction=0.8, band=0.02,
        fee=0.0, slippage=0.0,
    )  # fmt: skip
    exp = _exposure(rec, candles)
    z = 1.6448536269514722  # standard normal quantile of 0.95
    want = 0.5 * 0.01 / ((0.005 / z) ** 2 + 0.001**2)  # half Kelly: 0.5 mu / sigma^2
    want = min(0.8, want)
    assert want == 0.8  # a 0.5% half-width is a sharp interval: the cap binds
    assert (rec.position.iloc[:11] == 0).all()  # decided at bar 10's close, filled at 11's open
    assert rec.fills.iloc[0]["time"] == idx[11]
    assert exp.iloc[11] == pytest.approx(want, abs=0.01)
    assert rec.position.iloc[30] > 0 and rec.position.iloc[31] == 0.0  # zero back inside
    assert (rec.position.iloc[31:51] == 0).all()
    assert exp.iloc[51] == pytest.approx(0.8, abs=0.01)  # capped
    assert (rec.position.iloc[61:] == 0).all()

    # the gate open means mu > z * sigma, so mu / sigma^2 > z / sigma: the Kelly fraction of a
    # one-bar interval is far above 1 and the cap or the multiplier sets the size
    small = run_strategy(
        candles, IntervalGate, forecasts=pd.Series(0.03, index=idx),
        lower=pd.Series(0.001, index=idx), upper=pd.Series(0.059, index=idx),
        level=0.9, kelly_multiplier=0.002, max_fraction=1.0, band=0.02, fee=0.0, slippage=0.0,
    )  # fmt: skip
    kelly = 0.03 / (0.029 / z) ** 2
    assert kelly > z / (0.029 / z)
    assert _exposure(small, candles).iloc[1] == pytest.approx(0.002 * kelly, abs=0.01)
    assert 0.1 < 0.002 * kelly < 0.5


def test_interval_gate_refuses_bad_settings(candles) -> None:
    s = pd.Series(0.01, index=candles.index)
    with pytest.raises(InputError, match="lower= and upper="):
        run_strategy(candles, IntervalGate, forecasts=s)
    with pytest.raises(InputError, match="level"):
        run_strategy(candles, IntervalGate, forecasts=s, lower=s, upper=s, level=1.0)
    with pytest.raises(InputError, match="max_fraction"):
        run_strategy(candles, IntervalGate, forecasts=s, lower=s, upper=s, max_fraction=0)


def test_strategies_read_the_lstm_lines(tmp_path) -> None:
    """Driven by a walk-forward LSTM: the strategy trades its ``vol`` (``prob``) line, whose
    values are the walk-forward's out-of-sample forecasts."""
    bars = make_candles(120, seed=4, price=60_000.0)
    spec = WalkForwardSpec(train_bars=70, retrain_every=50)
    tiny = dict(lookback=8, units=(4,), epochs=1, batch_size=32, dropout=0.0, seed=3)
    cases = (
        ("volatility", VolTargetStrategy, {"band": 0.0}),
        ("direction", ProbabilityGate, {"band": 0.0, "threshold": 0.0}),
    )
    for target, strategy, params in cases:
        cfg = ForecasterConfig(target=target, **tiny)
        wf = WalkForward(cfg, spec, cache_dir=tmp_path)
        want = wf.run(bars).forecasts
        series = np.exp(want) if target == "volatility" else want
        replay = run_strategy(bars, strategy, forecasts=series, **params)
        live = run_strategy(bars, strategy, walkforward=wf, **params)
        pd.testing.assert_frame_equal(live.fills, replay.fills)
        assert live.fills.iloc[0]["time"] > bars.index[70]  # no trade before the first model


def test_interval_gate_reads_the_lstm_interval_lines(tmp_path) -> None:
    """Driven by a walk-forward LSTM with intervals, the gate trades exactly what replaying the
    walk-forward's forecasts and bounds trades (here the interval is made narrow enough to
    open: a level of 0.05)."""
    from lstm_backtrader.models.conformal import IntervalSpec

    bars = make_candles(160, seed=8, price=60_000.0)
    spec = WalkForwardSpec(train_bars=70, retrain_every=50)
    cfg = ForecasterConfig(lookback=8, units=(4,), epochs=1, batch_size=32, dropout=0.0, seed=3)
    wf = WalkForward(cfg, spec, cache_dir=tmp_path, intervals=IntervalSpec(level=0.05, window=10))
    res = wf.run(bars)
    params = dict(level=0.05, kelly_multiplier=0.01, max_fraction=0.5, band=0.0)
    replay = run_strategy(bars, IntervalGate, forecasts=res.forecasts, lower=res.lower,
                          upper=res.upper, **params)  # fmt: skip
    live = run_strategy(bars, IntervalGate, walkforward=wf, **params)
    pd.testing.assert_frame_equal(live.fills, replay.fills)
    assert len(live.fills) > 0  # the gate did open
