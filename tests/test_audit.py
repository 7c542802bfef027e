"""The look-ahead audit compares values, never dtypes: no false alarm when a strategy has no
fill before T; a real leak is still caught; a bad point count is an input error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.backtests.audit import audit, default_points
from lstm_backtrader.backtests.config import RunConfig
from lstm_backtrader.models.infra.errors import InputError
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CONFIG = RunConfig.from_dict(
    {"model": {"kind": "persistence"}, "walkforward": {"train_bars": 100, "retrain_every": 50}}
)


def test_strategy_without_fills_before_t_passes() -> None:
    candles = make_candles(300, seed=2)
    late = candles.index[250]

    def trades_late(c: pd.DataFrame) -> pd.Series:  # causal: a fixed date, not the data
        return pd.Series(np.where(c.index >= late, 0.05, -0.05), index=c.index)

    checks = audit(candles, CONFIG, points=[180], forecast_fn=trades_late)
    assert [c.variant for c in checks] == ["cut", "noise"]
    assert all(c.identical for c in checks), [c.first_difference for c in checks]


def test_a_leak_is_still_caught_with_the_first_difference() -> None:
    candles = make_candles(300, seed=2)

    def leaking(c: pd.DataFrame) -> pd.Series:
        return np.log(c["close"].shift(-1) / c["close"]).fillna(0.0)  # tomorrow's return

    checks = audit(candles, CONFIG, points=[180], forecast_fn=leaking)
    bad = [c for c in checks if not c.identical]
    assert bad and bad[0].first_difference.startswith("forecast at ")


@pytest.mark.parametrize("n", [0, -1])
def test_points_below_one_are_an_input_error(n: int) -> None:
    with pytest.raises(InputError, match=f"--points is {n}: check at least 1 cut point"):
        default_points(make_candles(300), CONFIG, n)


def test_a_refit_interval_longer_than_a_cut_is_audited_not_refused() -> None:
    """The audit's cut is shorter than the run's data: a retrain_every that fits the whole data
    but not the cut's out-of-sample part is fine (it used to be refused with exit code 2)."""
    candles = make_candles(300, seed=2)
    config = RunConfig.from_dict(
        {"model": {"kind": "persistence"}, "walkforward": {"train_bars": 100, "retrain_every": 190}}
    )
    checks = audit(candles, config, points=[180], forecast_fn=lambda c: c["close"] * 0.0)
    assert [c.variant for c in checks] == ["cut", "noise"] and all(c.identical for c in checks)
