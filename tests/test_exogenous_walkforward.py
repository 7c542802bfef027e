"""The walk-forward engine on a frame with joined exogenous columns and calendar features:
altering every main AND exogenous bar after T leaves every forecast up to T identical; the same
check fails for a join that shifts the exogenous series one bar into the future."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.backtests.data.exogenous import ExogenousSeries, join_exogenous
from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.walkforward import WalkForward
from tests.conftest import make_candles, splice_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FEATURES = ("log_return", "eth_log_return", "eth_hl_range", "fund_funding_rate",
            "dow_sin", "dow_cos")  # fmt: skip
CONFIG = ForecasterConfig(lookback=5, units=(4,), epochs=1, batch_size=32, dropout=0.0, seed=3,
                          features=FEATURES)  # fmt: skip
SPEC = WalkForwardSpec(train_bars=80, retrain_every=40)
T = 130  # main bar position; its close is the cut


def _series() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    main = make_candles(180, seed=4, start="2021-01-01")
    eth = make_candles(400, seed=5, freq="12h", start="2020-12-25", price=700.0)
    times = pd.date_range("2020-12-25", periods=600, freq="8h", tz="UTC") + pd.Timedelta("2ms")
    rates = np.random.default_rng(6).normal(1e-4, 3e-4, 600)
    return main, eth, pd.DataFrame({"funding_rate": rates}, index=times)


def _after_close(main: pd.DataFrame, eth: pd.DataFrame, fund: pd.DataFrame):
    """Every main bar after T and every exogenous value not known at T's close, altered."""
    close = main.index[T] + pd.Timedelta("1D")
    eth_pos = int(np.searchsorted(eth.index + pd.Timedelta("12h"), close, side="right")) - 1
    fund2 = fund.copy()
    late = fund2.index > close
    fund2.loc[late, "funding_rate"] = -fund2.loc[late, "funding_rate"] * 3
    return splice_candles(main, T), splice_candles(eth, eth_pos, seed=5), fund2


def _join(main, eth, fund, *, leaky: bool = False) -> pd.DataFrame:
    shift = pd.Timedelta("12h") if leaky else pd.Timedelta(0)  # one bar into the future
    eth = eth.set_axis(eth.index - shift)
    fund = fund.set_axis(fund.index - (pd.Timedelta("8h") if leaky else pd.Timedelta(0)))
    joined, _ = join_exogenous(main, [ExogenousSeries("eth", "candles", eth),
                                      ExogenousSeries("fund", "funding", fund)])  # fmt: skip
    return joined


@pytest.mark.parametrize("leaky", [False, True])
def test_truncation_with_exogenous_and_calendar_features(tmp_path: Path, leaky: bool) -> None:
    main, eth, fund = _series()
    wf = WalkForward(CONFIG, SPEC, cache_dir=tmp_path)
    full = wf.run(_join(main, eth, fund, leaky=leaky)).forecasts
    assert full.iloc[SPEC.train_bars :].notna().all()
    cut = wf.run(_join(*_after_close(main, eth, fund), leaky=leaky)).forecasts
    same = np.array_equal(cut.iloc[: T + 1].to_numpy(), full.iloc[: T + 1].to_numpy(),
                          equal_nan=True)  # fmt: skip
    assert same != leaky  # the honest join passes; the shifted one is caught
    assert not np.allclose(cut.iloc[T + 2 :], full.iloc[T + 2 :])  # the data did change
