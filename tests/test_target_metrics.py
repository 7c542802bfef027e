"""Probability and volatility forecast metrics: log loss, Brier, reliability, QLIKE, MSE on log
variance and the DM/HLN test of any loss differential."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.metrics import (
    brier_score,
    diebold_mariano,
    diebold_mariano_losses,
    forecast_metrics,
    log_loss,
    mse_log_var,
    probability_metrics,
    qlike,
    reliability_table,
    target_metrics,
    volatility_metrics,
)


def test_log_loss_and_brier_by_hand() -> None:
    p, y = [0.8, 0.3, 0.5], [1.0, 0.0, 1.0]
    assert log_loss(p, y) == pytest.approx(-(np.log(0.8) + np.log(0.7) + np.log(0.5)) / 3)
    assert brier_score(p, y) == pytest.approx((0.04 + 0.09 + 0.25) / 3)
    assert log_loss([0.0, 1.0], [1.0, 0.0]) == pytest.approx(
        -np.log(1e-15), rel=1e-4
    )  # clipped, finite
    with pytest.raises(InputError, match="0 or 1"):
        log_loss([0.5], [0.3])
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        brier_score([1.5], [1.0])


def test_reliability_table() -> None:
    p = [0.05, 0.15, 0.12, 0.95, 1.0]
    y = [0.0, 1.0, 0.0, 1.0, 1.0]
    t = reliability_table(p, y, bins=10)
    assert list(t.columns) == [
        "bin_low",
        "bin_high",
        "mean_predicted",
        "observed_frequency",
        "count",
    ]
    assert t["count"].tolist() == [1, 2, 2] and t["count"].sum() == 5
    row = t.iloc[1]
    assert row["bin_low"] == pytest.approx(0.1) and row["mean_predicted"] == pytest.approx(0.135)
    assert row["observed_frequency"] == 0.5 and t.iloc[2]["bin_high"] == 1.0


def test_qlike_and_mse_log_var_by_hand() -> None:
    f, y = np.log([0.02, 0.03]), np.log([0.025, 0.03])
    ratio = (0.025 / 0.02) ** 2
    assert qlike(f, y) == pytest.approx((ratio - np.log(ratio) - 1) / 2)
    assert mse_log_var(f, y) == pytest.approx((np.log(ratio) ** 2) / 2)
    assert qlike(y, y) == 0.0
    # QLIKE punishes under-forecasting variance more than over-forecasting it
    assert qlike(y - 0.2, y) > qlike(y + 0.2, y)


def test_dm_on_losses_matches_dm_on_errors() -> None:
    rng = np.random.default_rng(0)
    e1, e2 = rng.normal(size=200), rng.normal(size=200) * 1.1
    a = diebold_mariano(e1, e2, h=3)
    b = diebold_mariano_losses(e1**2, e2**2, h=3, loss="squared")
    assert a == b


def test_probability_metrics_against_the_base_rate() -> None:
    rng = np.random.default_rng(1)
    signal = rng.normal(size=2000)
    y = (signal + rng.normal(size=2000) > 0).astype(float)
    p = 1 / (1 + np.exp(-1.5 * signal))
    m = probability_metrics(p, y, float(y.mean()))
    assert m.n == 2000 and m.log_loss_ratio < 0.9 and m.brier_ratio < 0.9
    assert m.dm_log_loss.statistic < -5 and m.dm_log_loss.loss == "log"
    assert sum(r["count"] for r in m.reliability) == 2000
    assert m.to_dict()["dm_brier"]["loss"] == "brier"


def test_volatility_metrics_against_a_baseline() -> None:
    rng = np.random.default_rng(2)
    true = np.log(0.03) + 0.3 * np.sin(np.arange(500) / 20)
    realised = true + rng.normal(0, 0.3, 500)
    m = volatility_metrics(pd.Series(true), pd.Series(realised), float(np.mean(realised)))
    assert m.qlike_ratio < 1 and m.mse_log_var_ratio < 1 and m.dm_qlike.p_value < 0.01
    assert m.dm_mse_log_var.loss == "mse_log_var"


def test_target_metrics_dispatch() -> None:
    rng = np.random.default_rng(3)
    f, y = rng.normal(size=50) * 0.01, rng.normal(size=50) * 0.01
    assert target_metrics("return", f, y, 0.0) == forecast_metrics(f, y, 0.0)
    assert target_metrics("volatility", f, y).qlike == qlike(f, y)
    with pytest.raises(InputError, match="target"):
        target_metrics("price", f, y)
