"""Volatility baselines (persistence, EWMA, HAR, GARCH) and the direction baselines (base rate,
logistic): same protocol as the return baselines, causal forecasts, JSON save/load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.baselines import BaseRateForecaster, PersistenceForecaster
from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.direction_baselines import LogisticForecaster
from lstm_backtrader.models.factory import build_forecaster, load_forecaster
from lstm_backtrader.models.forecaster import clone
from lstm_backtrader.models.infra.errors import InputError, ModelFileError
from lstm_backtrader.models.targets import bar_variance, target_fwd_logvol, target_fwd_up
from lstm_backtrader.models.vol_baselines import (
    EWMA_LAMBDA,
    EWMAForecaster,
    GARCHForecaster,
    HARForecaster,
)
from tests.conftest import make_candles

VOL = {
    "persistence": lambda: PersistenceForecaster(target="volatility", horizon=2, lookback=20),
    "ewma": lambda: EWMAForecaster(horizon=2, lookback=20),
    "har": lambda: HARForecaster(horizon=2),
    "garch": lambda: GARCHForecaster(horizon=2, lookback=20),
}
DIRECTION = {
    "base_rate": lambda: BaseRateForecaster(horizon=2),
    "logistic": lambda: LogisticForecaster(horizon=2, lookback=5),
}
ALL = {**VOL, **DIRECTION}


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    return make_candles(400, seed=5)


@pytest.mark.parametrize("name", sorted(ALL))
def test_protocol_names_and_truncation(series: pd.DataFrame, name: str) -> None:
    """Fitted on bars < 250; alter every bar after T: every forecast up to T is identical."""
    f = ALL[name]().fit(series.iloc[:250])
    pred = f.predict(series)
    stem = "fwd_up" if name in DIRECTION else "fwd_logvol"
    assert pred.name == f"forecast_{stem}_2" and pred.index.equals(series.index)
    assert pred.iloc[f.context_bars + 1 :].notna().all()
    if name in DIRECTION:
        assert ((pred.dropna() > 0) & (pred.dropna() < 1)).all()
    t = 300
    other = make_candles(len(series) - t - 1, seed=77, price=float(series["close"].iloc[t]) * 2)
    other.index = series.index[t + 1 :]
    spliced = pd.concat([series.iloc[: t + 1], other])
    pd.testing.assert_series_equal(f.predict(spliced).iloc[: t + 1], pred.iloc[: t + 1])
    pd.testing.assert_series_equal(f.predict(series.iloc[: t + 1]), pred.iloc[: t + 1])
    # the bar-by-bar path gives the batched forecast
    assert f.predict_last(series.iloc[: t + 1]) == pytest.approx(pred.iloc[t], rel=1e-12)
    assert clone(f).config == f.config and not hasattr(clone(f), "state_")


@pytest.mark.parametrize("name", sorted(ALL))
def test_save_load_round_trip(series: pd.DataFrame, name: str, tmp_path: Path) -> None:
    f = ALL[name]().fit(series.iloc[:250])
    f.save(tmp_path / "m.keras")
    assert not list(tmp_path.glob("*.pkl")) and (tmp_path / "m.json").exists()
    back = load_forecaster(tmp_path / "m.keras")
    assert type(back) is type(f) and back.model_hash() == f.model_hash()
    pd.testing.assert_series_equal(back.predict(series), f.predict(series))
    assert build_forecaster(ForecasterConfig.from_dict(f.config.to_dict())).config == f.config
    side = tmp_path / "m.json"
    doc = json.loads(side.read_text())
    key = next(k for k in ("state", "coef", "value") if k in doc)
    doc[key] = (
        {k: v + 1 for k, v in doc[key].items()}
        if isinstance(doc[key], dict)
        else ([v + 1 for v in doc[key]] if isinstance(doc[key], list) else doc[key] + 0.5)
    )
    side.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="hash"):
        load_forecaster(tmp_path / "m.keras")


def test_persistence_and_ewma_formulas(series: pd.DataFrame) -> None:
    var = bar_variance(series).to_numpy()
    p = VOL["persistence"]().fit(series.iloc[:250]).predict(series)
    assert p.iloc[100] == pytest.approx(0.5 * np.log(2 * var[100]), rel=1e-12)
    e = EWMAForecaster(horizon=1, lookback=20).fit(series.iloc[:250])
    s = e.state_["start_var"]
    assert s == pytest.approx(np.mean(var[:250]), rel=1e-12)
    for v in var[100 - 19 : 101]:  # the recursion restarted 20 bars back
        s = EWMA_LAMBDA * s + (1 - EWMA_LAMBDA) * v
    assert e.predict(series).iloc[100] == pytest.approx(0.5 * np.log(s), rel=1e-10)


def test_har_recovers_its_own_coefficients(series: pd.DataFrame) -> None:
    f = HARForecaster(horizon=1).fit(series.iloc[:300])
    y = target_fwd_logvol(series.iloc[:300], 1).to_numpy()
    x = f._design(series.iloc[:300])
    ok = np.isfinite(x).all(axis=1) & np.isfinite(y)
    beta = np.linalg.lstsq(x[ok], y[ok], rcond=None)[0]
    np.testing.assert_allclose([f.state_[f"b{i}"] for i in range(4)], beta, rtol=1e-10)
    assert f.context_bars == 30


def test_base_rate_is_training_share_of_up(series: pd.DataFrame) -> None:
    f = BaseRateForecaster(horizon=3, direction_threshold=0.01).fit(series.iloc[:200])
    up = target_fwd_up(series["close"].iloc[:200], 3, 0.01).dropna()
    assert f.value_ == pytest.approx(up.mean(), rel=1e-12)
    assert f.config.target == "direction"


def test_logistic_single_class_falls_back_to_smoothed_rate(series: pd.DataFrame) -> None:
    f = LogisticForecaster(horizon=1, lookback=3, direction_threshold=10.0).fit(series.iloc[:60])
    pred = f.predict(series.iloc[:60]).dropna()
    assert np.allclose(pred, 1.0 / (len(pred) - 1 + 2 + 1), rtol=0.1)  # (0 + 1) / (n + 2)


def test_errors(series: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="volatility labels"):
        HARForecaster().fit(series.iloc[:20])
    with pytest.raises(InputError, match="not fitted"):
        GARCHForecaster().predict(series)
    with pytest.raises(InputError, match="kind 'ewma' forecasts volatility"):
        EWMAForecaster(target="return")


def test_garch_on_real_btc_is_stationary_and_plausible(btc_1d_raw: pd.DataFrame) -> None:
    train = btc_1d_raw.iloc[-1100:-365]
    f = GARCHForecaster(horizon=1).fit(train)
    st = f.state_
    assert 0 < st["alpha"] < 0.5 and 0.5 < st["beta"] < 1 and st["alpha"] + st["beta"] < 1
    pred = f.predict(btc_1d_raw.iloc[-425:]).dropna()
    assert len(pred) == 425 - f.context_bars + 1
    assert 0.01 < float(np.exp(pred.median())) < 0.08  # daily volatility of a few percent


def test_garch_filter_matches_arch_own_forecast(btc_1d_raw: pd.DataFrame) -> None:
    """With a long window the start value is forgotten: the forecast made at the last training
    bar equals arch's own h-step variance forecast of the fitted model."""
    from arch import arch_model

    train = btc_1d_raw.iloc[-1100:-365]
    f = GARCHForecaster(horizon=3, lookback=400).fit(train)
    r = 100 * np.diff(np.log(train["close"].to_numpy()))
    res = arch_model(r, mean="Constant", vol="GARCH", p=1, q=1, rescale=False).fit(disp="off")
    expected = 0.5 * np.log(
        res.forecast(horizon=3, reindex=False).variance.to_numpy()[-1].sum() / 1e4
    )
    assert f.predict(train).iloc[-1] == pytest.approx(expected, abs=1e-6)
