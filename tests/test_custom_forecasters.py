"""Any forecaster with the protocol, walked forward: a user's Keras network (a GRU from a
builder) and a scikit-learn regressor, through the engine, the fold cache, executors, the
indicator, the truncation test and ``lstm-bt backtest`` selected in the TOML."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lstm_backtrader.backtests.cli import app
from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.infra.executor import make_executor
from lstm_backtrader.models.keras_forecaster import KerasForecaster
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.sklearn_forecaster import SklearnForecaster
from lstm_backtrader.models.walkforward import WalkForward
from lstm_backtrader.strategies.lstm import LSTMForecast
from lstm_backtrader.strategies.runner import make_cerebro
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
GRU = f"{EXAMPLES / 'custom_keras_gru.py'}:build_gru"
RIDGE = "sklearn.linear_model:Ridge"
SPEC = WalkForwardSpec(train_bars=120, retrain_every=40, warm_start=False)


def _gru(**kw: object) -> KerasForecaster:
    return KerasForecaster(builder=GRU, lookback=8, epochs=2, batch_size=32, **kw)  # type: ignore[arg-type]


def _ridge(**kw: object) -> SklearnForecaster:
    return SklearnForecaster(
        estimator=RIDGE,
        estimator_params={"alpha": 5.0},
        lookback=8,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return make_candles(220, seed=21)


@pytest.mark.parametrize("make", [_gru, _ridge], ids=["keras-gru", "sklearn-ridge"])
def test_walk_forward_is_reproducible_and_truncation_invariant(make, candles, tmp_path) -> None:
    full = WalkForward(make(), SPEC, cache_dir=tmp_path / "a").run(candles)
    again = WalkForward(make(), SPEC, cache_dir=tmp_path / "b").run(candles)
    np.testing.assert_array_equal(full.forecasts.to_numpy(), again.forecasts.to_numpy())
    assert full.forecasts.iloc[120:].notna().all() and full.forecasts.iloc[:120].isna().all()
    t = 175
    altered = candles.copy()
    altered.iloc[t + 1 :] = make_candles(220, seed=99, price=500.0).iloc[t + 1 :].to_numpy()
    cut = WalkForward(make(), SPEC, cache_dir=tmp_path / "c").run(altered)
    np.testing.assert_array_equal(
        full.forecasts.iloc[: t + 1].to_numpy(), cut.forecasts.iloc[: t + 1].to_numpy()
    )
    assert not np.array_equal(full.forecasts.to_numpy(), cut.forecasts.to_numpy(), equal_nan=True)


def test_sklearn_saves_arrays_never_a_pickle(candles, tmp_path) -> None:
    model = _ridge().fit(candles.iloc[:150])
    path = model.save(tmp_path / "ridge.keras")
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["ridge.json", "ridge.npz"]
    with np.load(tmp_path / "ridge.npz", allow_pickle=False) as data:  # loads without pickle
        assert "coef_" in data.files
    back = SklearnForecaster.load(path)
    np.testing.assert_array_equal(
        back.predict(candles).to_numpy(), model.predict(candles).to_numpy()
    )
    assert back.model_hash() == model.model_hash()
    assert back.predict_last(candles) == pytest.approx(model.predict(candles).iloc[-1])
    tree = SklearnForecaster(estimator="sklearn.tree:DecisionTreeRegressor", lookback=8)
    with pytest.raises(InputError, match="cannot be saved without pickle"):
        tree.fit(candles.iloc[:150]).save(tmp_path / "tree.keras")


def test_sklearn_folds_on_two_processes_equal_serial(candles, tmp_path) -> None:
    serial = WalkForward(_ridge(), SPEC).run(candles)
    with make_executor(workers=2) as ex:
        parallel = WalkForward(_ridge(), SPEC, executor=ex, cache_dir=tmp_path).run(candles)
    np.testing.assert_array_equal(serial.forecasts.to_numpy(), parallel.forecasts.to_numpy())


def test_editing_the_builder_retrains_its_folds(candles, tmp_path) -> None:
    builder = tmp_path / "my_gru.py"
    shutil.copy(EXAMPLES / "custom_keras_gru.py", builder)
    make = lambda: KerasForecaster(builder=f"{builder}:build_gru", lookback=8, epochs=1)  # noqa: E731
    WalkForward(make(), SPEC, cache_dir=tmp_path / "cache").run(candles)
    assert (
        WalkForward(make(), SPEC, cache_dir=tmp_path / "cache").run(candles).folds["cached"].all()
    )
    builder.write_text(builder.read_text() + "\n# an edit\n")
    rerun = WalkForward(make(), SPEC, cache_dir=tmp_path / "cache").run(candles)
    assert not rerun.folds["cached"].any()


def test_bad_builders_and_estimators_are_one_line(candles, tmp_path) -> None:
    flat = tmp_path / "flat.py"
    flat.write_text(
        "import keras\n"
        "def build(lookback, n_features, seed):\n"
        "    return keras.Sequential([keras.Input(shape=(lookback, n_features)),"
        " keras.layers.Flatten()])\n"
    )
    with pytest.raises(InputError, match=r"output shape \(None, 24\): it must map"):
        KerasForecaster(builder=f"{flat}:build", lookback=8, epochs=1).fit(candles.iloc[:150])
    with pytest.raises(InputError, match="file .*nope.py not found"):
        KerasForecaster(builder=f"{tmp_path}/nope.py:build", lookback=8).fit(candles.iloc[:150])
    with pytest.raises(InputError, match="use 'package.module:name'"):
        KerasForecaster(builder="no-colon", lookback=8).fit(candles.iloc[:150])
    with pytest.raises(InputError, match="config field 'builder' is missing"):
        ForecasterConfig(kind="keras")
    with pytest.raises(InputError, match="'estimator' is for kind 'sklearn', not 'lstm'"):
        ForecasterConfig(estimator=RIDGE)
    with pytest.raises(InputError, match="estimator_params for sklearn.linear_model:Ridge"):
        SklearnForecaster(estimator=RIDGE, estimator_params={"nope": 1}).fit(candles.iloc[:150])


@pytest.mark.parametrize("make", [_gru, _ridge], ids=["keras-gru", "sklearn-ridge"])
def test_as_an_indicator_in_once_and_next_modes(make, candles, tmp_path) -> None:
    values = []
    for runonce, preload in ((True, True), (False, False)):
        cerebro = make_cerebro(candles, runonce=runonce, preload=preload)

        class Probe(bt.Strategy):
            def __init__(self) -> None:
                self.fc = LSTMForecast(
                    self.data, forecaster=make(), schedule=SPEC, cache_dir=tmp_path / "cache"
                )
                self.seen: list[float] = []

            def prenext(self) -> None:
                self.seen.append(float(self.fc.forecast[0]))

            def next(self) -> None:
                self.seen.append(float(self.fc.forecast[0]))

        cerebro.addstrategy(Probe)
        (strat,) = cerebro.run()
        values.append(np.array(strat.seen))
    np.testing.assert_allclose(values[0], values[1], atol=1e-6, equal_nan=True)
    assert np.isfinite(values[0][120:]).all()


@pytest.mark.parametrize(
    ("model", "needs"),
    [
        ('kind = "keras"\nbuilder = "gru.py:build_gru"\nepochs = 1\n', "gru.py"),
        ('kind = "sklearn"\nestimator = "sklearn.linear_model:Ridge"\n'
         "estimator_params = { alpha = 3.0 }\n", None),
    ],
    ids=["keras", "sklearn"],
)  # fmt: skip
def test_selected_in_the_toml_for_lstm_bt_backtest(model, needs, candles, tmp_path) -> None:
    if needs:
        shutil.copy(EXAMPLES / "custom_keras_gru.py", tmp_path / needs)  # relative to the TOML
    data = tmp_path / "candles.csv"
    candles.to_csv(data)
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        f'[data]\nsource = "file"\npath = "{data}"\n[model]\nlookback = 8\n{model}'
        "[walkforward]\ntrain_bars = 120\nretrain_every = 40\n[strategy]\nentry = 0.0\n"
    )
    result = CliRunner().invoke(
        app, ["backtest", "--config", str(cfg), "--reports-dir", str(tmp_path / "r"),
              "--cache-dir", str(tmp_path / "c")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output[-1500:]
    run = (tmp_path / "r" / "latest").resolve()
    manifest = json.loads((run / "manifest.json").read_text())
    kind = manifest["config"]["model"]["kind"]
    assert kind in ("keras", "sklearn")
    forecasts = pd.read_csv(run / "forecasts.csv")
    assert forecasts["forecast"].notna().sum() == len(candles) - 120


def test_a_builder_edited_in_a_running_process_runs_its_new_code(tmp_path) -> None:
    """The code that runs is the code whose hash keys the fold cache, also when the file is
    edited while the process (a notebook) keeps running."""
    from lstm_backtrader.models.plugins import code_hash, resolve

    path = tmp_path / "b.py"
    path.write_text("VERSION = 'v1'\ndef build(lookback, n_features, seed):\n    return VERSION\n")
    spec = f"{path}:build"
    first = code_hash(spec, "builder")
    assert resolve(spec, "builder")(1, 1, 0) == "v1"
    path.write_text(path.read_text().replace("'v1'", "'v2'"))
    assert resolve(spec, "builder")(1, 1, 0) == "v2"
    assert code_hash(spec, "builder") != first


def test_a_sweep_file_names_its_builder_relative_to_itself(candles, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(EXAMPLES / "custom_keras_gru.py", folder / "gru.py")
    candles.to_csv(folder / "candles.csv")
    (folder / "sweep.toml").write_text(
        '[data]\nsource = "file"\npath = "candles.csv"\n'
        '[model]\nkind = "keras"\nbuilder = "gru.py:build_gru"\nlookback = 8\nepochs = 1\n'
        "[walkforward]\ntrain_bars = 120\nretrain_every = 50\n"
        '[grid]\n"strategy.entry" = [0.0, 0.001]\n'
    )
    monkeypatch.chdir(tmp_path)  # run from elsewhere: paths are the sweep file's
    result = CliRunner().invoke(
        app, ["sweep", "--config", str(folder / "sweep.toml"), "--out", str(tmp_path / "out"),
              "--cache-dir", str(tmp_path / "c")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output[-1500:]
    summary = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert len(summary["trials"]) == 2
