"""Calendar features (``dow_sin``, ``dow_cos``, ``hour_sin``, ``hour_cos``): exact values from the
bar's open time, no look-ahead (truncation), and the same forecasts from the walk-forward engine
and from ``LSTMForecast`` in its batched and bar-by-bar paths."""

from __future__ import annotations

from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.features import OHLCV_FEATURES, compute_features
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.walkforward import WalkForward
from lstm_backtrader.strategies.feeds import candles_feed
from lstm_backtrader.strategies.lstm import LSTMForecast
from tests.conftest import make_candles, splice_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CALENDAR = ("dow_sin", "dow_cos", "hour_sin", "hour_cos")
CONFIG = ForecasterConfig(
    lookback=6, units=(4,), epochs=1, batch_size=32, dropout=0.0, seed=5,
    features=("log_return", "hl_range", *CALENDAR),
)  # fmt: skip
SPEC = WalkForwardSpec(train_bars=80, retrain_every=40)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return make_candles(180, seed=9, freq="5h", start="2024-01-01")  # Monday 00:00 UTC


def test_values_come_from_the_open_time(bars: pd.DataFrame) -> None:
    f = compute_features(bars, CALENDAR)
    # bar 0 opens Monday 00:00, bar 1 Monday 05:00, bar 5 Tuesday 01:00
    assert f.iloc[0].tolist() == pytest.approx([0.0, 1.0, 0.0, 1.0])
    assert f["hour_sin"].iloc[1] == pytest.approx(np.sin(2 * np.pi * 5 / 24))
    assert f["dow_sin"].iloc[5] == pytest.approx(np.sin(2 * np.pi / 7))
    assert f["hour_cos"].iloc[5] == pytest.approx(np.cos(2 * np.pi / 24))
    days = bars.index.dayofweek.to_numpy()
    np.testing.assert_allclose(np.arctan2(f["dow_sin"], f["dow_cos"]) % (2 * np.pi),
                               2 * np.pi * days / 7, atol=1e-12)  # fmt: skip
    assert not set(CALENDAR) & OHLCV_FEATURES  # they need the time index, not bare rows
    with pytest.raises(InputError, match="DatetimeIndex"):
        compute_features(bars.reset_index(drop=True), ["dow_sin"])


def test_no_look_ahead_and_the_indicator_agrees(bars: pd.DataFrame, tmp_path: Path) -> None:
    wf = WalkForward(CONFIG, SPEC, cache_dir=tmp_path)
    full = wf.run(bars).forecasts
    assert full.iloc[SPEC.train_bars :].notna().all()
    t = 130
    cut = wf.run(splice_candles(bars, t)).forecasts
    pd.testing.assert_series_equal(cut.iloc[: t + 1], full.iloc[: t + 1])
    assert not np.allclose(cut.iloc[t + 2 :], full.iloc[t + 2 :])  # the splice did change bars

    for preload, runonce, exactbars in ((True, True, 0), (False, False, 1)):
        seen: list[float] = []
        cerebro = bt.Cerebro(stdstats=False, preload=preload, runonce=runonce,
                             exactbars=exactbars)  # fmt: skip
        cerebro.adddata(candles_feed(bars))
        cerebro.addstrategy(Take, wf=wf, out=seen)
        cerebro.run()
        np.testing.assert_allclose(seen, full.to_numpy(), rtol=0, atol=1e-6, equal_nan=True)


class Take(bt.Strategy):
    """Every bar's forecast, taken as the bar passes."""

    params = (("wf", None), ("out", None))

    def __init__(self) -> None:
        self.fc = LSTMForecast(self.data, walkforward=self.p.wf)

    def prenext(self) -> None:
        self.p.out.append(float(self.fc.forecast[0]))

    def next(self) -> None:
        self.prenext()
