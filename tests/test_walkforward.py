"""WalkForward: truncation invariance, fold boundaries and purging, the fold cache, real data."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.backtests.data.validate import validate_ohlcv
from lstm_backtrader.models.baselines import DriftForecaster, PersistenceForecaster
from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.walkforward import FOLD_COLUMNS, WalkForward, WalkForwardResult
from tests.conftest import make_candles, splice_candles

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

TINY = ForecasterConfig(
    lookback=8, units=(4,), epochs=3, batch_size=32, validation_fraction=0.1, patience=2, seed=1
)
N, TRAIN, EVERY, T = 200, 100, 35, 150  # folds start at bars 100, 135, 170


def _wf(warm: bool = True, **kw: object) -> WalkForward:
    spec = WalkForwardSpec(
        train_bars=TRAIN, retrain_every=EVERY, warm_start=warm, warm_start_epochs=2
    )
    return WalkForward(TINY, spec, **kw)  # type: ignore[arg-type]


def _same(a: pd.Series, b: pd.Series) -> None:
    pd.testing.assert_series_equal(a, b, check_exact=True, check_freq=False)  # NaN == NaN


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    return make_candles(N, seed=21)


@pytest.fixture(scope="module")
def full_run(series: pd.DataFrame) -> Callable[[bool], WalkForwardResult]:
    done: dict[bool, WalkForwardResult] = {}

    def get(warm: bool) -> WalkForwardResult:
        if warm not in done:
            done[warm] = _wf(warm).run(series)
        return done[warm]

    return get


# --------------------------------------------------------------------------- truncation
@pytest.mark.parametrize("warm", [True, False], ids=["warm", "scratch"])
def test_truncation_invariance(
    series: pd.DataFrame, full_run: Callable[[bool], WalkForwardResult], warm: bool
) -> None:
    full = full_run(warm)
    assert full.folds["fold"].tolist() == [0, 1, 2]
    expected_epochs = 3 if not warm else None
    if expected_epochs:
        assert (full.folds["epochs"] <= 3).all()
    else:
        assert (full.folds["epochs"].iloc[1:] <= 2).all()  # warm-started folds train fewer epochs
    truncated = _wf(warm).run(series.iloc[: T + 1])
    noisy_input = splice_candles(series, T)
    noisy = _wf(warm).run(noisy_input)
    keep = slice(0, T + 1)
    for other in (truncated, noisy):
        _same(full.forecasts.iloc[keep], other.forecasts.iloc[keep])
        _same(full.fold_id.iloc[keep], other.fold_id.iloc[keep])
        _same(full.age.iloc[keep], other.age.iloc[keep])
        _same(full.model_cutoff.iloc[keep], other.model_cutoff.iloc[keep])
    assert full.forecasts.iloc[:TRAIN].isna().all()
    assert full.forecasts.iloc[TRAIN:].notna().all()
    # the test can see a change: the noisy tail changes later forecasts
    assert not np.array_equal(
        full.forecasts.to_numpy()[T + 1 :], noisy.forecasts.to_numpy()[T + 1 :]
    )


def test_validation_windows_end_before_forecasts(
    series: pd.DataFrame, full_run: Callable[[bool], WalkForwardResult], tmp_path: Path
) -> None:
    """Through the cache's saved sidecars: validation windows and labels precede each fold."""
    result = _wf(True, cache_dir=tmp_path).run(series)
    _same(result.forecasts, full_run(True).forecasts)  # cache on/off gives the same forecasts
    pos = series.index.get_loc
    assert len(result.model_paths) == len(result.folds)
    for row, model_path in zip(result.folds.itertuples(), result.model_paths, strict=True):
        assert model_path is not None and Path(model_path).parent.parent == tmp_path / "folds"
        side = json.loads(Path(model_path).with_suffix(".json").read_text())
        assert side["weights_sha256"] == row.model_hash
        first = pos(row.first_forecast)
        val_first, val_last = (pos(pd.Timestamp(t)) for t in side["val_index"])
        train_last = pos(pd.Timestamp(side["train_index"][1]))
        assert train_last < val_first <= val_last
        assert val_last + TINY.horizon < first  # last label (t, t+h] ends before the fold
        assert pos(pd.Timestamp(side["train_range"][1])) == first - 1 == pos(row.train_end)


# --------------------------------------------------------------------------- boundaries
@pytest.mark.parametrize("expanding", [False, True], ids=["rolling", "expanding"])
def test_fold_boundaries_purge_and_gap_with_drift(candles: pd.DataFrame, expanding: bool) -> None:
    h, gap = 2, 4  # gap > h: 2 extra bars of embargo on top of the purge
    seen: list[tuple[int, int]] = []
    wf = WalkForward(
        DriftForecaster(horizon=h),
        WalkForwardSpec(train_bars=100, retrain_every=30, expanding=expanding, gap=gap),
        progress=lambda i, n, row: seen.append((i, n)),
    )
    res = wf.run(candles)
    folds = res.folds
    assert list(folds.columns) == list(FOLD_COLUMNS)
    assert folds["fold"].tolist() == list(range(7)) and seen == [(i, 7) for i in range(-1, 7)]
    c = candles["close"].to_numpy()
    idx = candles.index
    for k, row in folds.iterrows():
        first = 100 + 30 * k
        start = 0 if expanding else first - 100
        last_label = first - 1 - gap
        assert row.first_forecast == idx[first] and row.train_start == idx[start]
        assert row.train_end == idx[last_label + h] and last_label + h < first
        assert row.last_forecast == idx[min(first + 30, 300) - 1]
        t = np.arange(start, last_label + 1)
        expected = np.mean(np.log(c[t + h] / c[t]))
        got = res.forecasts.iloc[first : first + 30].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-12)
        assert res.age.iloc[first] == first - (last_label + h)
        assert not row.cached and np.isfinite(row.rmse)
    assert res.forecasts.iloc[:100].isna().all() and res.forecasts.iloc[100:].notna().all()
    assert (res.fold_id.iloc[:100] == -1).all() and (res.age.iloc[:100] == -1).all()
    assert res.fold_id.iloc[-1] == 6 and res.model_cutoff.iloc[:100].isna().all()


def test_folds_anchored_at_start(candles: pd.DataFrame) -> None:
    wf = WalkForward(PersistenceForecaster(), WalkForwardSpec(train_bars=100, retrain_every=30))
    long, short = wf.run(candles).folds, wf.run(candles.iloc[:245]).folds
    cols = ["fold", "train_start", "train_end", "first_forecast"]
    pd.testing.assert_frame_equal(long[cols].iloc[: len(short)], short[cols])
    assert short["last_forecast"].iloc[-1] == candles.index[244]  # last span shorter


def test_bad_parameters_and_short_input(candles: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="gap"):
        WalkForward(DriftForecaster(horizon=3), WalkForwardSpec(train_bars=50, gap=2)).run(candles)
    with pytest.raises(InputError, match="retrain_every"):
        WalkForwardSpec(train_bars=50, retrain_every=0)  # refused when the schedule is made
    res = WalkForward(DriftForecaster(), WalkForwardSpec(train_bars=400)).run(candles)
    assert res.folds.empty and res.forecasts.isna().all() and (res.fold_id == -1).all()


# --------------------------------------------------------------------------- cache
def test_fold_cache_resume_rerun_change_and_corruption(
    series: pd.DataFrame, full_run: Callable[[bool], WalkForwardResult], tmp_path: Path
) -> None:
    fresh = full_run(True)
    calls: list[int] = []

    def interrupt(i: int, n: int, row: dict) -> None:
        calls.append(i)
        if i == 1:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        _wf(cache_dir=tmp_path, progress=interrupt).run(series)
    assert calls == [-1, 0, 1]  # -1: the start notice, then folds 0 and 1
    resumed = _wf(cache_dir=tmp_path).run(series)
    assert resumed.folds["cached"].tolist() == [True, True, False]
    _same(resumed.forecasts, fresh.forecasts)  # cached folds == freshly computed, bit for bit
    assert resumed.folds["model_hash"].tolist() == fresh.folds["model_hash"].tolist()

    rerun = _wf(cache_dir=tmp_path).run(series)
    assert rerun.folds["cached"].all()
    _same(rerun.forecasts, fresh.forecasts)
    entries = sorted((tmp_path / "folds").iterdir())
    assert len(entries) == 3
    assert {p.name for p in entries[0].iterdir()} == {
        "model.keras",
        "model.json",
        "forecasts.npy",
        "fold.json",
    }

    # changed tail: bars after 150 only touch fold 2's training (fold 1 only re-predicts)
    changed = _wf(cache_dir=tmp_path).run(splice_candles(series, 150, seed=5))
    assert changed.folds["cached"].tolist() == [True, True, False]
    _same(changed.forecasts.iloc[:151], fresh.forecasts.iloc[:151])

    # corrupt fold 0's metadata and truncate fold 1's model: both retrained, not trusted
    e0, e1 = (Path(p).parent for p in rerun.model_paths[:2])
    assert e0 in entries and e1 in entries and e0 != e1
    (e0 / "fold.json").write_text('{"key": ')
    keras_file = e1 / "model.keras"
    keras_file.write_bytes(keras_file.read_bytes()[:300])
    repaired = _wf(cache_dir=tmp_path).run(series)
    assert repaired.folds["cached"].tolist() == [False, False, True]
    _same(repaired.forecasts, fresh.forecasts)


# --------------------------------------------------------------------------- real data
def test_short_walk_forward_on_real_btc(btc_1d_raw: pd.DataFrame) -> None:
    data = validate_ohlcv(btc_1d_raw.iloc[-260:], source="btc_1d")
    spec = WalkForwardSpec(train_bars=150, retrain_every=55, warm_start_epochs=2)
    lstm = WalkForward(TINY, spec).run(data)
    pers = WalkForward(PersistenceForecaster(), spec).run(data)
    assert lstm.forecasts.iloc[150:].notna().all() and np.isfinite(lstm.forecasts.iloc[150:]).all()
    _same(lstm.fold_id, pers.fold_id)
    ratio = (lstm.folds["rmse"] / pers.folds["rmse"]).to_numpy()
    assert np.isfinite(ratio).all() and (ratio > 0.5).all() and (ratio < 2.0).all()


@pytest.mark.parametrize("workers", [1, 2])
def test_independent_folds_through_an_executor_match_serial(
    series: pd.DataFrame,
    full_run: Callable[[bool], WalkForwardResult],
    tmp_path: Path,
    workers: int,
) -> None:
    """Folds trained from scratch go through the executor (in this process, or in 2 spawned
    processes receiving configs and data slices, returning arrays and model-file bytes): the
    forecasts and weights equal the in-process run's, and the fold cache is filled."""
    from lstm_backtrader.models.infra.executor import make_executor

    reference = full_run(False)
    with make_executor(workers=workers) as ex:
        res = _wf(False, cache_dir=tmp_path, executor=ex).run(series)
    _same(res.forecasts, reference.forecasts)
    assert res.folds["model_hash"].tolist() == reference.folds["model_hash"].tolist()
    assert not res.folds["cached"].any()
    assert all(p is not None and Path(p).is_file() for p in res.model_paths)
    again = _wf(False, cache_dir=tmp_path).run(series)  # served from the cache, no executor
    assert again.folds["cached"].all()
    _same(again.forecasts, reference.forecasts)


def test_concurrent_runs_share_one_cache_safely(
    series: pd.DataFrame, full_run: Callable[[bool], WalkForwardResult], tmp_path: Path
) -> None:
    """Two runs writing the same fold cache at once (as concurrent sweep trials do): both get
    the reference forecasts, every entry is complete, no private build folder is left."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: _wf(False, cache_dir=tmp_path).run(series), range(2)))
    for res in runs:
        _same(res.forecasts, full_run(False).forecasts)
    entries = sorted((tmp_path / "folds").iterdir())
    assert [p.name.startswith(".tmp-") for p in entries] == [False] * 3
    again = _wf(False, cache_dir=tmp_path).run(series)
    assert again.folds["cached"].all()
    _same(again.forecasts, full_run(False).forecasts)
