"""Model switches (a live session's record of when each fold's model took over): the engine and
LSTMForecast in every run mode use fold k - 1's model until fold k's recorded switch bar, the
same fold models (training data unchanged), and nothing after a bar changes it."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.schedule import ModelSwitches, WalkForwardSpec
from lstm_backtrader.models.walkforward import WalkForward
from lstm_backtrader.strategies.feeds import candles_feed
from tests.conftest import make_candles
from tests.test_indicator_folds import Record  # forecast, fold and age of every bar

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TINY = ForecasterConfig(lookback=8, units=(4,), epochs=2, batch_size=32, dropout=0.0, seed=7)
SPEC = WalkForwardSpec(train_bars=60, retrain_every=30)  # folds start at 60, 90, 120


def _switches(candles: pd.DataFrame, positions: list[int]) -> ModelSwitches:
    ns = candles.index.as_unit("ns").asi8
    return ModelSwitches(tuple((k, int(ns[p])) for k, p in enumerate(positions)))


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return make_candles(140, seed=71)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("switch-cache")


@pytest.fixture(scope="module")
def plain(candles, cache):
    return WalkForward(TINY, SPEC, cache_dir=cache).run(candles)


def test_switches_on_the_fold_boundaries_change_nothing(candles, cache, plain) -> None:
    on_time = WalkForward(
        TINY, SPEC, cache_dir=cache, switches=_switches(candles, [60, 90, 120])
    ).run(candles)
    for name in ("forecasts", "fold_id", "age"):
        pd.testing.assert_series_equal(getattr(on_time, name), getattr(plain, name))


def test_a_late_switch_keeps_the_previous_model_until_it(candles, cache, plain) -> None:
    late = WalkForward(TINY, SPEC, cache_dir=cache, switches=_switches(candles, [63, 97, 120])).run(
        candles
    )
    fold, fc, age = late.fold_id.to_numpy(), late.forecasts.to_numpy(), late.age.to_numpy()
    assert (fold[:63] == -1).all() and np.isnan(fc[:63]).all()  # no model before fold 0's switch
    assert (fold[63:97] == 0).all() and (fold[97:120] == 1).all() and (fold[120:] == 2).all()
    # from its switch on a fold's forecasts are the plain run's (same model, same bars)
    for start, stop in ((63, 90), (97, 120), (120, 140)):
        np.testing.assert_array_equal(fc[start:stop], plain.forecasts.to_numpy()[start:stop])
    # before it, the previous model goes on: fold 0 forecasts bars 90..96, ageing
    fold0 = WalkForward(TINY, SPEC.replace(retrain_every=80), cache_dir=cache).run(candles)
    np.testing.assert_allclose(fc[90:97], fold0.forecasts.to_numpy()[90:97], atol=1e-6)
    assert (np.diff(age[63:97]) == 1).all()
    assert late.folds["model_hash"].tolist() == plain.folds["model_hash"].tolist()  # same models


def test_a_fold_never_switched_to_leaves_the_previous_model_on(candles, cache, plain) -> None:
    never = WalkForward(TINY, SPEC, cache_dir=cache, switches=_switches(candles, [60])).run(candles)
    assert len(never.folds) == 1
    assert (never.fold_id.to_numpy()[60:] == 0).all()
    assert never.age.to_numpy()[-1] == 139 - 59


@pytest.mark.parametrize("times", [((1, 0),), ((0, 5), (1, 4))], ids=["fold-order", "time-order"])
def test_a_malformed_switch_record_is_refused(times) -> None:
    with pytest.raises(InputError, match="model switches"):
        ModelSwitches(times)


@pytest.mark.parametrize(
    ("preload", "runonce", "exactbars"),
    [(True, True, 0), (True, False, 0), (False, False, 1), (False, False, -2)],
)
def test_every_run_mode_follows_the_switches(candles, cache, preload, runonce, exactbars) -> None:
    switches = _switches(candles, [62, 95, 131])
    expected = WalkForward(TINY, SPEC, cache_dir=cache, switches=switches).run(candles)
    cerebro = bt.Cerebro(stdstats=False, preload=preload, runonce=runonce, exactbars=exactbars)
    cerebro.adddata(candles_feed(candles))
    kw = dict(forecaster=TINY, schedule=SPEC, cache_dir=cache, switches=switches)
    cerebro.addstrategy(Record, kw=kw)
    (strat,) = cerebro.run()
    rows = np.asarray(strat.rows)
    np.testing.assert_allclose(rows[:, 0], expected.forecasts.to_numpy(), atol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(rows[:, 1], expected.fold_id.to_numpy())
    np.testing.assert_array_equal(rows[:, 2], expected.age.to_numpy())


@pytest.mark.parametrize("cut", [93, 125])
def test_bars_after_t_change_nothing_up_to_t(candles, cache, cut) -> None:
    switches = _switches(candles, [62, 95, 131])
    full = WalkForward(TINY, SPEC, cache_dir=cache, switches=switches).run(candles)
    altered = candles.copy()
    altered.iloc[cut + 1 :, :4] *= 1.7  # every price after T changed
    short = WalkForward(TINY, SPEC, cache_dir=cache, switches=switches)
    for frame in (candles.iloc[: cut + 1], altered):
        res = short.run(frame)
        for name in ("forecasts", "fold_id", "age"):
            a = getattr(full, name).to_numpy()[: cut + 1]
            b = getattr(res, name).to_numpy()[: cut + 1]
            np.testing.assert_allclose(a, b, atol=1e-6, equal_nan=True)
