"""LSTMForecaster on tiny real Keras models: windows, scaling, determinism, save/load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.factory import load_forecaster
from lstm_backtrader.models.infra.errors import InputError, ModelFileError
from lstm_backtrader.models.lstm import LSTMForecaster
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

TINY = dict(lookback=8, units=(4, 4), epochs=3, batch_size=32, validation_fraction=0.1)
NAMES = ("log_return", "hl_range", "log_volume_change")


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return make_candles(260, seed=11)


@pytest.fixture(scope="module")
def fitted(data: pd.DataFrame) -> LSTMForecaster:
    return LSTMForecaster(**TINY).fit(data.iloc[:200])


@pytest.fixture(scope="module")
def saved(fitted: LSTMForecaster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "lstm.keras"
    fitted.save(path)
    return path


def test_config_round_trip_and_params() -> None:
    f = LSTMForecaster(**TINY)
    cfg = f.config
    assert isinstance(cfg, ForecasterConfig) and cfg.kind == "lstm" and cfg.units == (4, 4)
    again = ForecasterConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert LSTMForecaster.from_config(again).get_params() == f.get_params()
    assert f.context_bars == 9
    with pytest.raises(InputError):
        LSTMForecaster(lookback=0).config  # noqa: B018
    with pytest.raises(InputError):
        ForecasterConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_fit_records_state(fitted: LSTMForecaster, data: pd.DataFrame) -> None:
    assert 1 <= fitted.n_epochs_ <= 3 and len(fitted.history_["loss"]) == fitted.n_epochs_
    assert np.isfinite(fitted.best_val_loss_)
    assert fitted.best_val_loss_ == min(fitted.history_["val_loss"])
    assert fitted.train_range_ == (data.index[0], data.index[199])
    assert len(fitted.data_hash_) == 64


def test_windows_validation_and_scaler_use_training_rows_only(
    fitted: LSTMForecaster, data: pd.DataFrame
) -> None:
    train = data.iloc[:200]
    idx = train.index
    # labelled windows end at bars 8 .. 198 (feature warm-up 1 + lookback 8; label needs t+1)
    ends = np.arange(8, 199)
    n_val = int(len(ends) * 0.1)
    assert list(fitted.val_index_) == list(idx[ends[-n_val:]])  # the chronologically last ones
    assert list(fitted.train_index_) == list(idx[ends[:-n_val]])
    assert fitted.val_index_.min() > fitted.train_index_.max()
    # scaler statistics == those of the training windows' feature rows, computed independently
    c, h, lo, v = (train[k].to_numpy() for k in ("close", "high", "low", "volume"))
    rows = np.column_stack(
        [
            np.r_[np.nan, np.log(c[1:] / c[:-1])],
            np.log(h / lo),
            np.r_[np.nan, np.diff(np.log1p(v))],
        ]
    )
    first, last = ends[0] - 8 + 1, ends[-n_val - 1]
    block = rows[first : last + 1]
    np.testing.assert_allclose(fitted.scaler_.mean_, block.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(fitted.scaler_.scale_, block.std(axis=0), rtol=1e-12)
    y = np.log(c[1:] / c[:-1])[ends[:-n_val]]
    assert fitted.target_mean_ == pytest.approx(y.mean(), rel=1e-12)
    assert fitted.target_std_ == pytest.approx(y.std(), rel=1e-12)


def test_horizon_purges_between_train_and_validation(data: pd.DataFrame) -> None:
    f = LSTMForecaster(**{**TINY, "units": (4,), "epochs": 1}, horizon=3).fit(data.iloc[:120])
    pos = data.index.get_indexer
    gap = pos(f.val_index_[:1])[0] - pos(f.train_index_[-1:])[0]
    assert gap == 3  # last training label (t, t+3] ends where the first validation window ends
    assert pos(f.val_index_[-1:])[0] == 119 - 3


def test_predict_shape_warmup_and_last(fitted: LSTMForecaster, data: pd.DataFrame) -> None:
    pred = fitted.predict(data)
    assert pred.name == "forecast_fwd_ret_1" and pred.index.equals(data.index)
    assert pred.iloc[:8].isna().all() and pred.iloc[8:].notna().all()
    for end in (40, 200, 260):
        last = fitted.predict_last(data.iloc[:end])
        assert abs(last - pred.iloc[end - 1]) < 1e-6
    assert np.isnan(fitted.predict_last(data.iloc[:5]))
    # a forecast at t never changes when later bars do (inference is row-independent)
    np.testing.assert_array_equal(fitted.predict(data.iloc[:230]).to_numpy(), pred.to_numpy()[:230])


def test_same_seed_bit_identical(fitted: LSTMForecaster, data: pd.DataFrame) -> None:
    again = LSTMForecaster(**TINY).fit(data.iloc[:200])
    assert again.model_hash() == fitted.model_hash()
    np.testing.assert_array_equal(again.predict(data).to_numpy(), fitted.predict(data).to_numpy())


def test_reused_trainer_matches_a_fresh_process(
    fitted: LSTMForecaster, data: pd.DataFrame, tmp_path: Path
) -> None:
    """The compiled steps are reused across fits (lstm_backtrader.models.trainer): fits of other
    architectures and seeds in between, or a brand-new process, give the same weights."""
    LSTMForecaster(**{**TINY, "units": (3,), "seed": 7}).fit(data.iloc[:150])
    LSTMForecaster(**{**TINY, "seed": 8}).fit(data.iloc[10:200])
    again = LSTMForecaster(**TINY).fit(data.iloc[:200])
    assert again.model_hash() == fitted.model_hash()
    csv = tmp_path / "candles.csv"
    data.iloc[:200].to_csv(csv)
    code = (
        "import sys, pandas as pd\n"
        "from lstm_backtrader.models.lstm import LSTMForecaster\n"
        f"df = pd.read_csv(sys.argv[1], index_col=0, parse_dates=True)\n"
        f"print(LSTMForecaster(**{TINY!r}).fit(df).model_hash())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(csv)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    reread = pd.read_csv(csv, index_col=0, parse_dates=True)
    pd.testing.assert_frame_equal(reread, data.iloc[:200], check_freq=False)
    assert out.stdout.strip().splitlines()[-1] == fitted.model_hash()


def test_warm_start_from_forecaster_and_file(
    fitted: LSTMForecaster, saved: Path, data: pd.DataFrame
) -> None:
    a = LSTMForecaster(**TINY).fit(data.iloc[30:230], init_weights_from=fitted, epochs=1)
    b = LSTMForecaster(**TINY).fit(data.iloc[30:230], init_weights_from=saved, epochs=1)
    assert a.n_epochs_ == 1 and a.model_hash() == b.model_hash()
    assert a.scaler_.mean_.tolist() != fitted.scaler_.mean_.tolist()  # scaler refitted
    with pytest.raises(InputError, match="architecture"):
        LSTMForecaster(**{**TINY, "units": (5,)}).fit(data.iloc[:200], init_weights_from=fitted)


def test_warm_start_from_a_file_this_process_did_not_save(
    fitted: LSTMForecaster, saved: Path, data: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the memo of saved files the weights are read from the ``.keras`` file itself
    (into the process's inference network): same weights, same fit; another architecture's
    file is refused in one line."""
    import lstm_backtrader.models.lstm as lstm_module

    monkeypatch.setattr(lstm_module, "saved_weights", lambda path: None)
    a = LSTMForecaster(**TINY).fit(data.iloc[30:230], init_weights_from=fitted, epochs=1)
    b = LSTMForecaster(**TINY).fit(data.iloc[30:230], init_weights_from=saved, epochs=1)
    assert a.model_hash() == b.model_hash()
    with pytest.raises(ModelFileError, match="another architecture"):
        LSTMForecaster(**{**TINY, "units": (5,)}).fit(data.iloc[:200], init_weights_from=saved)


def test_save_load_round_trip(saved: Path, fitted: LSTMForecaster, data: pd.DataFrame) -> None:
    loaded = LSTMForecaster.load(saved)
    np.testing.assert_array_equal(loaded.predict(data).to_numpy(), fitted.predict(data).to_numpy())
    assert loaded.config == fitted.config and loaded.train_range_ == fitted.train_range_
    assert loaded.data_hash_ == fitted.data_hash_
    assert type(load_forecaster(saved)) is LSTMForecaster
    side = json.loads(saved.with_suffix(".json").read_text())
    assert side["format_version"] == 1 and side["features"] == list(NAMES)
    assert {"keras", "tensorflow", "numpy"} <= set(side["versions"])
    assert zipfile.is_zipfile(saved)


def test_loaded_forecaster_saves_again_identically(
    saved: Path, fitted: LSTMForecaster, data: pd.DataFrame, tmp_path: Path
) -> None:
    """A loaded model can be saved again (it used to lack train_index_), and the second save
    holds the same sidecar facts and predicts the same."""
    loaded = LSTMForecaster.load(saved)
    again = loaded.save(tmp_path / "again.keras")
    first = json.loads(saved.with_suffix(".json").read_text())
    second = json.loads(again.with_suffix(".json").read_text())
    for key in (
        "train_index",
        "val_index",
        "n_train_windows",
        "n_val_windows",
        "scaler",
        "target",
        "config",
        "train_range",
        "data_hash",
        "weights_sha256",
        "history",
    ):
        assert second[key] == first[key], key  # fmt: skip
    assert loaded.train_windows_ == fitted.train_windows_
    assert loaded.train_windows_[2] == len(fitted.train_index_)
    reloaded = LSTMForecaster.load(again)
    np.testing.assert_array_equal(
        reloaded.predict(data).to_numpy(), fitted.predict(data).to_numpy()
    )


def _copy(saved: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / saved.name
    target.write_bytes(saved.read_bytes())
    target.with_suffix(".json").write_text(saved.with_suffix(".json").read_text())
    return target


def test_bad_files_raise_model_file_error(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        LSTMForecaster.load(tmp_path / "missing.keras")
    truncated = _copy(saved, tmp_path / "trunc")
    truncated.write_bytes(truncated.read_bytes()[:500])
    with pytest.raises(ModelFileError, match="truncated or modified"):
        LSTMForecaster.load(truncated)
    bad_json = _copy(saved, tmp_path / "json")
    bad_json.with_suffix(".json").write_text('{"format": "lstm-backtr')
    with pytest.raises(ModelFileError, match="corrupt"):
        LSTMForecaster.load(bad_json)
    old = _copy(saved, tmp_path / "old")
    doc = json.loads(old.with_suffix(".json").read_text())
    old.with_suffix(".json").write_text(json.dumps({**doc, "format_version": 99}))
    with pytest.raises(ModelFileError, match="version 99"):
        LSTMForecaster.load(old)
    no_side = _copy(saved, tmp_path / "noside")
    no_side.with_suffix(".json").unlink()
    with pytest.raises(ModelFileError, match="sidecar not found"):
        LSTMForecaster.load(no_side)
    # a consistent-looking but corrupt zip (hash updated) still fails cleanly on load
    garbage = _copy(saved, tmp_path / "garbage")
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    doc = json.loads(garbage.with_suffix(".json").read_text())
    from lstm_backtrader.models.infra.fileio import sha256_file

    doc["keras_sha256"] = sha256_file(garbage)
    garbage.with_suffix(".json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="corrupt"):
        LSTMForecaster.load(garbage)
    for err in (ModelFileError,):
        assert issubclass(err, InputError)


def test_fit_too_short_and_unfitted(
    data: pd.DataFrame, fitted: LSTMForecaster, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="labelled windows"):
        LSTMForecaster(**TINY).fit(data.iloc[:10])
    with pytest.raises(InputError, match="not fitted"):
        LSTMForecaster(**TINY).predict(data)
    with pytest.raises(InputError, match=".keras"):
        fitted.save(tmp_path / "x.h5")


def test_predict_is_batched_not_per_bar(fitted: LSTMForecaster, data: pd.DataFrame) -> None:
    fn = fitted._inference_fn()
    shapes: list[tuple[int, ...]] = []

    def counting(x: np.ndarray) -> object:
        shapes.append(tuple(x.shape))
        return fn(x)

    fitted._infer_fn = counting
    try:
        long = pd.concat([data, make_candles(300, seed=2, start="2021-01-01")])
        fitted.predict(long)
    finally:
        fitted._infer_fn = fn
    assert shapes == [(256, 8, 3), (256, 8, 3), (256, 8, 3)]  # 552 windows, padded chunks
    with pytest.raises(InputError, match="close"):
        fitted.predict(data.drop(columns=["close"]))


def test_refit_same_object_predicts_with_the_new_weights(data: pd.DataFrame) -> None:
    """The inference network is shared per architecture: refitting one forecaster object must
    swap its new weights in (not keep serving the old ones)."""
    f = LSTMForecaster(**TINY).fit(data.iloc[:200])
    before = f.predict(data).to_numpy()
    f.set_params(seed=5).fit(data.iloc[20:220])
    fresh = LSTMForecaster(**{**TINY, "seed": 5}).fit(data.iloc[20:220])
    np.testing.assert_array_equal(f.predict(data).to_numpy(), fresh.predict(data).to_numpy())
    assert not np.array_equal(f.predict(data).to_numpy(), before, equal_nan=True)


def test_fits_and_predictions_in_threads_match_serial(data: pd.DataFrame) -> None:
    """One network, optimizer and inference network per architecture are shared by the
    process (a Dask worker may run several tasks in threads): concurrent fits and predictions
    take turns and give exactly the serial results."""
    from concurrent.futures import ThreadPoolExecutor

    seeds = (3, 4)
    serial = [LSTMForecaster(**{**TINY, "seed": s}).fit(data.iloc[:200]) for s in seeds]
    long = pd.concat([data, make_candles(600, seed=2, start="2021-01-01")])
    expected = [f.predict(long).to_numpy() for f in serial]
    with ThreadPoolExecutor(2) as pool:
        fitted = list(
            pool.map(lambda s: LSTMForecaster(**{**TINY, "seed": s}).fit(data.iloc[:200]), seeds)
        )
        for _ in range(3):
            got = list(pool.map(lambda f: f.predict(long).to_numpy(), serial))
            for g, e in zip(got, expected, strict=True):
                np.testing.assert_array_equal(g, e)
    assert [f.model_hash() for f in fitted] == [f.model_hash() for f in serial]


def test_predict_last_values_from_bare_ohlcv_rows_equals_the_frame_path(
    fitted: LSTMForecaster, data: pd.DataFrame
) -> None:
    """The indicator's bar-by-bar path (no frame built) gives the frame path's forecast."""
    batched = fitted.predict(data).to_numpy()
    rows = data[["open", "high", "low", "close", "volume"]].to_numpy()
    for end in (fitted.context_bars, 150, 230, len(data)):
        fast = fitted.predict_last_values(rows[:end])
        assert fast == fitted.predict_last(data.iloc[:end])
        assert abs(fast - batched[end - 1]) < 1e-6
    assert np.isnan(fitted.predict_last_values(rows[:5]))
