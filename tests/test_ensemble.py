"""Seed ensembles and Monte-Carlo dropout in the walk-forward: k = 1 is today's run, members
train identically in this process or in worker processes, MC dropout is deterministic, and
spreads are positive and truncation-safe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.ensemble import combine, member_seed
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.infra.executor import ProcessExecutor
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.walkforward import WalkForward, WalkForwardResult
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

N, TRAIN, EVERY, T = 170, 100, 35, 150  # folds start at bars 100, 135
LSTM = dict(lookback=8, units=(4,), epochs=2, batch_size=32, seed=1)
SPEC = WalkForwardSpec(train_bars=TRAIN, retrain_every=EVERY, warm_start=True, warm_start_epochs=1)


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    return make_candles(N, seed=21)


@pytest.fixture(scope="module")
def single(series: pd.DataFrame) -> WalkForwardResult:
    return WalkForward(ForecasterConfig(**LSTM), SPEC).run(series)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pair(series: pd.DataFrame) -> WalkForwardResult:
    return WalkForward(ForecasterConfig(**LSTM, ensemble=2), SPEC).run(series)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def procs() -> Iterator[ProcessExecutor]:
    with ProcessExecutor(2) as ex:
        yield ex


def test_member_seeds_are_derived_and_member_zero_keeps_the_seed() -> None:
    seeds = [member_seed(42, i) for i in range(4)]
    assert seeds[0] == 42 and len(set(seeds)) == 4
    assert seeds == [member_seed(42, i) for i in range(4)]  # reproducible
    assert all(0 <= s < 2**31 - 2**16 for s in seeds)


def test_k1_is_todays_run(series: pd.DataFrame, single: WalkForwardResult) -> None:
    cfg = ForecasterConfig(**LSTM, ensemble=1, mc_dropout=0)  # type: ignore[arg-type]
    assert cfg.to_json() == ForecasterConfig(**LSTM).to_json()  # same fold-cache keys
    again = WalkForward(cfg, SPEC).run(series)
    pd.testing.assert_series_equal(again.forecasts, single.forecasts, check_exact=True)
    assert single.spread is None and single.lower is None
    assert list(single.frame().columns) == ["forecast", "fold", "model_cutoff", "age"]


def test_ensemble_is_the_members_mean_and_spread(
    single: WalkForwardResult, pair: WalkForwardResult, series: pd.DataFrame
) -> None:
    other = ForecasterConfig(**{**LSTM, "seed": member_seed(1, 1)})  # type: ignore[arg-type]
    second = WalkForward(other, SPEC).run(series)
    mean, spread = combine([single.forecasts.to_numpy(), second.forecasts.to_numpy()], [None] * 2)
    np.testing.assert_array_equal(pair.forecasts.to_numpy(), mean)
    np.testing.assert_array_equal(pair.spread.to_numpy(), spread)  # type: ignore[union-attr]
    oos = pair.spread.iloc[TRAIN:]  # type: ignore[union-attr]
    assert (oos > 0).all() and pair.spread.iloc[:TRAIN].isna().all()  # type: ignore[union-attr]
    assert pair.spread.name == "spread_fwd_ret_1"  # type: ignore[union-attr]
    assert list(pair.frame().columns)[-1] == "spread"
    assert pair.folds["fold"].tolist() == [0, 1]


def test_ensemble_on_two_processes_equals_serial(
    series: pd.DataFrame, pair: WalkForwardResult, procs: ProcessExecutor, tmp_path: Path
) -> None:
    cfg = ForecasterConfig(**LSTM, ensemble=2)  # type: ignore[arg-type]
    par = WalkForward(cfg, SPEC, executor=procs, cache_dir=tmp_path).run(series)
    pd.testing.assert_series_equal(par.forecasts, pair.forecasts, check_exact=True)
    pd.testing.assert_series_equal(par.spread, pair.spread, check_exact=True)  # type: ignore[arg-type]
    again = WalkForward(cfg, SPEC, cache_dir=tmp_path).run(series)  # from the cache
    assert again.folds["cached"].all()
    pd.testing.assert_series_equal(again.forecasts, pair.forecasts, check_exact=True)


def test_mc_dropout_is_deterministic_with_a_positive_spread(
    series: pd.DataFrame, tmp_path: Path
) -> None:
    cfg = ForecasterConfig(**{**LSTM, "units": (4, 4)}, dropout=0.3, mc_dropout=6)  # type: ignore[arg-type]
    first = WalkForward(cfg, SPEC, cache_dir=tmp_path).run(series)
    assert first.spread is not None and (first.spread.iloc[TRAIN:] > 0).all()
    again = WalkForward(cfg, SPEC).run(series)  # fresh, no cache
    pd.testing.assert_series_equal(again.forecasts, first.forecasts, check_exact=True)
    pd.testing.assert_series_equal(again.spread, first.spread, check_exact=True)  # type: ignore[arg-type]
    cached = WalkForward(cfg, SPEC, cache_dir=tmp_path).run(series)
    assert cached.folds["cached"].all()
    pd.testing.assert_series_equal(cached.spread, first.spread, check_exact=True)  # type: ignore[arg-type]
    short = WalkForward(cfg, SPEC, cache_dir=tmp_path).run(series.iloc[: T + 1])  # truncated
    keep = slice(0, T + 1)
    np.testing.assert_array_equal(short.forecasts.to_numpy(), first.forecasts.to_numpy()[keep])
    np.testing.assert_array_equal(short.spread.to_numpy(), first.spread.to_numpy()[keep])  # type: ignore[union-attr]
    plain = WalkForward(cfg.replace(mc_dropout=0), SPEC).run(series)
    assert not np.array_equal(
        plain.forecasts.to_numpy()[TRAIN:], first.forecasts.to_numpy()[TRAIN:]
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ensemble": 0}, "config field 'ensemble' is 0: use an integer >= 1"),
        ({"ensemble": 2.5}, "config field 'ensemble' is 2.5: use an integer >= 1"),
        ({"mc_dropout": -1}, "config field 'mc_dropout' is -1: use an integer >= 0"),
        ({"mc_dropout": 1}, "'mc_dropout' is 1: use 0 (off) or >= 2 samples"),
        ({"mc_dropout": 4, "dropout": 0.0}, "'mc_dropout' needs dropout > 0"),
        ({"kind": "persistence", "ensemble": 3}, "'ensemble' is for kind 'lstm' or 'keras'"),
        ({"kind": "har", "target": "volatility", "mc_dropout": 4}, "is for kind 'lstm', not"),
    ],
)
def test_bad_uncertainty_settings_are_one_line_errors(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError) as err:
        ForecasterConfig(**changes)  # type: ignore[arg-type]
    assert message in str(err.value) and "\n" not in str(err.value)


def test_cold_ensemble_folds_through_the_executor_equal_serial(
    series: pd.DataFrame, procs: ProcessExecutor
) -> None:
    cold = WalkForwardSpec(train_bars=TRAIN, retrain_every=EVERY, warm_start=False)
    cfg = ForecasterConfig(**LSTM, ensemble=2)  # type: ignore[arg-type]
    serial = WalkForward(cfg, cold).run(series)
    par = WalkForward(cfg, cold, executor=procs).run(series)
    pd.testing.assert_frame_equal(par.frame(), serial.frame(), check_exact=True)
    assert (serial.spread.iloc[TRAIN:] > 0).all()  # type: ignore[union-attr]
