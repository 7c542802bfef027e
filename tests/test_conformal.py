"""Conformal intervals: near-nominal coverage on a series with known noise, ACI adapting after
a regime change, no look-ahead (truncation test, and a leaky variant that the test catches),
per-fold and run coverage in the walk-forward, one-line errors for bad settings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.conformal import (
    IntervalSpec,
    conformal_intervals,
    interval_coverage,
    interval_width,
)
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.targets import target_series
from lstm_backtrader.models.walkforward import WalkForward
from tests.conftest import make_candles, splice_candles

N, TRAIN, EVERY, T = 400, 150, 60, 300


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    return make_candles(N, seed=5)


def _wf(cfg: ForecasterConfig, spec: IntervalSpec) -> WalkForward:
    return WalkForward(cfg, WalkForwardSpec(train_bars=TRAIN, retrain_every=EVERY), intervals=spec)


@pytest.mark.parametrize("method", ["split", "aci"])
def test_coverage_near_nominal_with_known_noise(method: str) -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(0.0, 1.0, 4000)
    lo, up = conformal_intervals(np.zeros_like(y), y, 1, IntervalSpec(0.9, 300, method, 0.01))
    assert np.isnan(lo[:9]).all() and np.isfinite(lo[9:]).all()  # 9 scores for 90%
    assert interval_coverage(lo, up, y) == pytest.approx(0.9, abs=0.015)
    assert interval_width(lo, up) == pytest.approx(2 * 1.6449, rel=0.05)  # the normal's 90%


def test_aci_adapts_after_a_regime_change() -> None:
    rng = np.random.default_rng(1)
    y = np.concatenate([rng.normal(0, 1, 1500), rng.normal(0, 3, 1500)])
    f = np.zeros_like(y)
    after = slice(1500, 1800)
    split = conformal_intervals(f, y, 1, IntervalSpec(0.9, 1000, "split"))
    aci = conformal_intervals(f, y, 1, IntervalSpec(0.9, 1000, "aci", gamma=0.02))
    cov_split = interval_coverage(split[0][after], split[1][after], y[after])
    cov_aci = interval_coverage(aci[0][after], aci[1][after], y[after])
    assert cov_split < 0.75 and cov_aci > 0.85
    assert interval_coverage(aci[0][1500:], aci[1][1500:], y[1500:]) == pytest.approx(0.9, abs=0.02)


def _intervals_up_to_t_unchanged(full: object, other: object) -> None:
    keep = slice(0, T + 1)
    for name in ("lower", "upper"):
        a, b = getattr(full, name).iloc[keep], getattr(other, name).iloc[keep]
        assert a.notna().sum() > 50
        pd.testing.assert_series_equal(b, a, check_exact=True, check_freq=False)


@pytest.mark.parametrize("method", ["split", "aci"])
@pytest.mark.parametrize(
    "cfg",
    [
        ForecasterConfig(kind="persistence", horizon=3),
        ForecasterConfig(kind="persistence", target="volatility", horizon=2),
    ],
    ids=["return-h3", "volatility-h2"],
)
def test_truncation_lower_upper(series: pd.DataFrame, cfg: ForecasterConfig, method: str) -> None:
    spec = IntervalSpec(0.8, window=40, method=method, gamma=0.05)
    full = _wf(cfg, spec).run(series)
    assert full.lower.name == full.forecasts.name.replace("forecast_", "lower_")  # type: ignore[union-attr]
    for other in (
        _wf(cfg, spec).run(series.iloc[: T + 1]),
        _wf(cfg, spec).run(splice_candles(series, T)),
    ):
        _intervals_up_to_t_unchanged(full, other)


def test_a_leaky_interval_is_caught_by_the_truncation_test(series: pd.DataFrame) -> None:
    """Using the score of bar s at s + h - 1 (one bar before its target is realised) changes
    an interval up to T when the bars after T change: the test above would fail."""
    cfg = ForecasterConfig(kind="persistence", horizon=3)
    spec = IntervalSpec(0.8, window=40)

    def leaky(candles: pd.DataFrame) -> np.ndarray:
        fc = _wf(cfg, IntervalSpec()).run(candles).forecasts.to_numpy()
        return conformal_intervals(fc, target_series(candles, cfg).to_numpy(), 2, spec)[0]

    def honest(candles: pd.DataFrame) -> np.ndarray:
        fc = _wf(cfg, IntervalSpec()).run(candles).forecasts.to_numpy()
        return conformal_intervals(fc, target_series(candles, cfg).to_numpy(), 3, spec)[0]

    spliced = splice_candles(series, T)
    keep = slice(0, T + 1)
    assert not np.array_equal(leaky(series)[keep], leaky(spliced)[keep], equal_nan=True)
    np.testing.assert_array_equal(honest(series)[keep], honest(spliced)[keep])


def test_fold_and_run_coverage(series: pd.DataFrame) -> None:
    cfg = ForecasterConfig(kind="persistence")
    res = _wf(cfg, IntervalSpec(0.9, window=100)).run(series)
    assert list(res.folds.columns[-2:]) == ["coverage", "width"]
    assert list(res.frame().columns[-2:]) == ["lower", "upper"]
    realised = target_series(series, cfg)
    summary = res.interval_summary(realised)
    assert 0.8 < summary["coverage"] <= 1.0 and summary["width"] > 0
    lo, up = res.lower.to_numpy(), res.upper.to_numpy()  # type: ignore[union-attr]
    sel = res.fold_id.to_numpy() == 1
    assert res.folds["coverage"].iloc[1] == interval_coverage(lo[sel], up[sel], realised[sel])
    ok = np.isfinite(lo)
    assert ok[TRAIN + 10 :].all()
    assert (lo[ok] <= res.forecasts.to_numpy()[ok]).all() and (up[ok] >= lo[ok]).all()


def test_direction_gets_no_interval_and_off_changes_nothing(series: pd.DataFrame) -> None:
    cfg = ForecasterConfig(kind="base_rate", target="direction")
    res = _wf(cfg, IntervalSpec(0.9)).run(series)
    assert res.lower is not None and res.lower.isna().all() and res.upper.isna().all()  # type: ignore[union-attr]
    plain = ForecasterConfig(kind="persistence")
    off = _wf(plain, IntervalSpec()).run(series)
    none = WalkForward(plain, WalkForwardSpec(train_bars=TRAIN, retrain_every=EVERY)).run(series)
    assert off.lower is None and list(off.folds.columns) == list(none.folds.columns)
    pd.testing.assert_frame_equal(off.frame(), none.frame())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": 1.0}, "interval level is 1.0: use 0 (off) or 0 < level < 1"),
        ({"level": -0.1}, "interval level is -0.1"),
        ({"level": 0.9, "window": 1}, "interval window is 1: use an integer >= 2"),
        ({"level": 0.9, "method": "cqr"}, "interval method is 'cqr': use one of split, aci"),
        ({"level": 0.9, "gamma": 0.0}, "interval gamma is 0.0: use 0 < gamma < 1"),
    ],
)
def test_bad_interval_settings_are_one_line_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as err:
        IntervalSpec(**kwargs)  # type: ignore[arg-type]
    assert message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InputError, match="pass an IntervalSpec"):
        WalkForward(ForecasterConfig(kind="persistence"), intervals=0.9)  # type: ignore[arg-type]
