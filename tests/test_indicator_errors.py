"""LSTMForecast refuses bad arguments when it is built, the same way in every run mode: a
one-line InputError saying what to pass instead, before any bar is processed."""

from __future__ import annotations

from pathlib import Path

import backtrader as bt
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.lstm import LSTMForecaster
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.walkforward import WalkForward
from lstm_backtrader.strategies.feeds import candles_feed
from lstm_backtrader.strategies.lstm import LSTMForecast
from tests.conftest import make_candles

TINY = ForecasterConfig(lookback=8, units=(4,), epochs=1, dropout=0.0)
SPEC = WalkForwardSpec(train_bars=40, retrain_every=20)
MODES = [  # (runonce, preload, exactbars, live-like: preload off)
    {"runonce": True, "preload": True},
    {"runonce": False, "preload": True, "exactbars": -1},
    {"runonce": False, "preload": False, "exactbars": 1},
]


class Build(bt.Strategy):
    params = (("kw", None), ("on_line", False))
    started = False

    def __init__(self) -> None:
        target = self.data.close if self.p.on_line else self.data
        self.ind = LSTMForecast(target, **self.p.kw)

    def start(self) -> None:
        type(self).started = True


CASES = {
    "schedule-dict": (
        {"forecaster": TINY, "schedule": {"train_bars": 40}},
        r"schedule=\.\.\.\) is a dict: pass a WalkForwardSpec",
    ),
    "forecaster-dict": (
        {"forecaster": {"lookback": 8}, "schedule": SPEC},
        r"forecaster=\.\.\.\) is a dict: pass a ForecasterConfig",
    ),
    "model-and-forecaster": (
        {"model": "m.keras", "forecaster": TINY},
        r"got model= and forecaster=: pass model= alone",
    ),
    "model-and-walkforward": (
        {"model": "m.keras", "walkforward": WalkForward(TINY, SPEC)},
        r"got model= and walkforward=",
    ),
    "walkforward-and-schedule": (
        {"walkforward": WalkForward(TINY, SPEC), "schedule": SPEC},
        r"got walkforward= and schedule=: the WalkForward already holds",
    ),
    "missing-model-file": (
        {"model": "nowhere/x.keras"},
        r"model='nowhere/x\.keras'\): nowhere/x\.keras not found; pass the path",
    ),
    "config-as-model": ({"model": TINY}, r"model=\.\.\.\) is a ForecasterConfig: .*forecaster="),
    "unfitted-model": ({"model": LSTMForecaster(lookback=8)}, r"is an unfitted LSTMForecaster"),
    "nothing": ({}, r"needs model= .* or forecaster= with schedule="),
}


@pytest.mark.parametrize("mode", MODES, ids=["runonce", "next-preload", "next-exactbars1"])
@pytest.mark.parametrize("case", [*CASES, "on-a-line"])
def test_bad_arguments_fail_at_construction(case: str, mode: dict) -> None:
    if case == "on-a-line":
        kw, pattern = {"forecaster": TINY, "schedule": SPEC}, r"needs a data feed .* got a single"
    else:
        kw, pattern = CASES[case]
    cerebro = bt.Cerebro(stdstats=False, **mode)
    cerebro.adddata(candles_feed(make_candles(60)))
    cerebro.addstrategy(Build, kw=kw, on_line=case == "on-a-line")
    Build.started = False
    with pytest.raises(InputError, match=pattern) as info:
        cerebro.run()
    assert "\n" not in str(info.value)
    assert not Build.started  # refused while the strategy was built, before any bar


def test_missing_model_message_names_the_keras_file(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(candles_feed(make_candles(30)))
    cerebro.addstrategy(Build, kw={"model": str(path)})
    with pytest.raises(InputError) as info:
        cerebro.run()
    assert "model.keras not found" in str(info.value) and ".json" not in str(info.value)
