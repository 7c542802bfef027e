"""Forecast targets: the target setting on ForecasterConfig and the label series."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.targets import (
    VAR_FLOOR,
    bar_variance,
    forecast_name,
    label_columns,
    target_fwd_logvol,
    target_fwd_up,
    target_name,
    target_series,
)


def test_return_target_keeps_the_config_json_of_before() -> None:
    cfg = ForecasterConfig()
    doc = cfg.to_dict()
    assert "target" not in doc and "vol_estimator" not in doc and "direction_threshold" not in doc
    assert ForecasterConfig.from_dict(doc) == cfg


@pytest.mark.parametrize(
    ("changes", "keys"),
    [
        ({"target": "volatility", "vol_estimator": "parkinson"}, {"target", "vol_estimator"}),
        ({"target": "direction", "direction_threshold": 0.002}, {"target", "direction_threshold"}),
    ],
)
def test_target_fields_round_trip(changes: dict[str, object], keys: set[str]) -> None:
    cfg = ForecasterConfig(**changes)  # type: ignore[arg-type]
    doc = json.loads(cfg.to_json())
    assert keys <= set(doc) and ForecasterConfig.from_dict(doc) == cfg
    assert cfg.to_json() != ForecasterConfig().to_json()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"target": "price"}, "'target' is 'price': use one of return, direction, volatility"),
        ({"kind": "har"}, "kind 'har' forecasts volatility"),
        ({"kind": "sklearn", "estimator": "a:b", "target": "direction"}, "forecasts return"),
        ({"target": "volatility", "vol_estimator": "yang_zhang"}, "'vol_estimator'"),
        ({"vol_estimator": "parkinson"}, "is for target 'volatility', not 'return'"),
        ({"target": "volatility", "direction_threshold": 0.001}, "for target 'direction'"),
        ({"target": "direction", "direction_threshold": float("nan")}, "finite log return"),
        ({"target": "direction", "direction_threshold": "0.1"}, "finite log return"),
    ],
)
def test_target_settings_are_validated(kw: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match) as err:
        ForecasterConfig(**kw)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)


def test_bar_variance_formulas_and_floor() -> None:
    idx = pd.date_range("2024-01-01", periods=3, freq="1D", tz="UTC")
    c = pd.DataFrame(
        {"open": [100.0, 100.0, 5.0], "high": [110.0, 100.0, 5.0], "low": [95.0, 100.0, 5.0],
         "close": [105.0, 100.0, 5.0], "volume": 1.0},
        index=idx,
    )  # fmt: skip
    hl, co = np.log(110 / 95), np.log(105 / 100)
    pk = bar_variance(c, "parkinson")
    gk = bar_variance(c, "garman_klass")
    assert pk.iloc[0] == pytest.approx(hl**2 / (4 * np.log(2)), rel=1e-12)
    assert gk.iloc[0] == pytest.approx(0.5 * hl**2 - (2 * np.log(2) - 1) * co**2, rel=1e-12)
    assert pk.iloc[1] == VAR_FLOOR and gk.iloc[2] == VAR_FLOOR  # zero range: floored, finite
    assert gk.name == "bar_var_garman_klass"
    c.loc[idx[2], "low"] = 0.0
    assert np.isnan(bar_variance(c, "parkinson").iloc[2])


def test_direction_and_logvol_labels(candles: pd.DataFrame) -> None:
    h = 3
    close = candles["close"].to_numpy()
    up = target_fwd_up(candles["close"], h, threshold=0.01)
    ret = np.log(close[h:] / close[:-h])
    assert up.name == "target_fwd_up_3" and up.iloc[-h:].isna().all()
    np.testing.assert_array_equal(up.to_numpy()[:-h], (ret > 0.01).astype(float))
    var = bar_variance(candles).to_numpy()
    lv = target_fwd_logvol(candles, h)
    t = 10
    assert lv.iloc[t] == pytest.approx(0.5 * np.log(var[t + 1 : t + h + 1].sum()), rel=1e-12)
    assert lv.name == "target_fwd_logvol_3" and lv.iloc[-h:].isna().all()
    assert lv.iloc[:-h].notna().all()


def test_target_series_dispatch_and_names(candles: pd.DataFrame) -> None:
    for target, stem in (
        ("return", "fwd_ret"),
        ("direction", "fwd_up"),
        ("volatility", "fwd_logvol"),
    ):
        cfg = ForecasterConfig(target=target, horizon=2)
        s = target_series(candles, cfg)
        assert s.name == target_name(cfg) == f"target_{stem}_2"
        assert forecast_name(cfg) == f"forecast_{stem}_2"


def test_labels_only_look_forward(candles: pd.DataFrame) -> None:
    """The label at t changes when bars t+1..t+h change, never when bars <= t - 1 do alone."""
    cfg = ForecasterConfig(target="volatility", horizon=2)
    base = target_series(candles, cfg)
    changed = candles.copy()
    changed.iloc[:50, changed.columns.get_loc("high")] *= 1.1
    after = target_series(changed, cfg)
    pd.testing.assert_series_equal(base.iloc[50:], after.iloc[50:])


def test_real_btc_logvol_is_finite_and_plausible(btc_1d_raw: pd.DataFrame) -> None:
    lv = target_fwd_logvol(btc_1d_raw, 1).dropna()
    assert np.isfinite(lv).all() and len(lv) == len(btc_1d_raw) - 1
    daily_vol = float(np.exp(lv.median()))
    assert 0.01 < daily_vol < 0.06  # BTC's daily volatility is a few percent


def test_realized_estimator_reads_the_realized_var_column(candles: pd.DataFrame) -> None:
    rv = np.linspace(1e-4, 4e-4, len(candles))
    rv[[5, 6]] = [np.nan, 0.0]  # incomplete coverage; a bar whose intrabar closes never moved
    frame = candles.assign(realized_var=rv)
    var = bar_variance(frame, "realized")
    assert var.name == "bar_var_realized" and np.isnan(var.iloc[5]) and var.iloc[6] == VAR_FLOOR
    np.testing.assert_array_equal(var.to_numpy()[7:], rv[7:])
    h = 2
    lv = target_fwd_logvol(frame, h, "realized")
    assert lv.iloc[10] == pytest.approx(0.5 * np.log(rv[11] + rv[12]), rel=1e-12)
    assert lv.iloc[[3, 4]].isna().all() and lv.iloc[6:-h].notna().all()  # windows over bar 5
    # the range columns do not matter to it: only realized_var does
    moved = frame.assign(high=frame["high"] * 1.5)
    pd.testing.assert_series_equal(target_fwd_logvol(moved, h, "realized"), lv)


def test_realized_estimator_config_and_columns() -> None:
    cfg = ForecasterConfig(target="volatility", vol_estimator="realized")
    assert ForecasterConfig.from_dict(json.loads(cfg.to_json())) == cfg
    assert label_columns(cfg) == ("realized_var",)
    assert label_columns(cfg.replace(vol_estimator="parkinson")) == ("high", "low")


def test_realized_estimator_without_the_column_names_the_setting(candles: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"needs the column 'realized_var': set \[data\] intrabar"):
        target_series(candles, ForecasterConfig(target="volatility", vol_estimator="realized"))
    with pytest.raises(InputError, match="'garman_klass', 'parkinson' or 'realized'"):
        bar_variance(candles, "yang_zhang")
