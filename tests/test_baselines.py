"""Persistence and drift baselines: same interface as the LSTM, no TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.models.baselines import DriftForecaster, PersistenceForecaster
from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.factory import build_forecaster, load_forecaster
from lstm_backtrader.models.infra.errors import InputError, ModelFileError

REPO = Path(__file__).resolve().parents[1]


def test_persistence_predicts_zero(candles: pd.DataFrame) -> None:
    f = PersistenceForecaster(horizon=2).fit(candles.iloc[:100])
    assert f.fit(candles.iloc[:100]) is f
    pred = f.predict(candles)
    assert pred.name == "forecast_fwd_ret_2" and (pred == 0.0).all()
    assert pred.index.equals(candles.index) and f.predict_last(candles) == 0.0


@pytest.mark.parametrize("h", [1, 5])
def test_drift_is_training_mean_of_target(candles: pd.DataFrame, h: int) -> None:
    train = candles.iloc[:120]
    c = train["close"].to_numpy()
    expected = np.mean(np.log(c[h:] / c[:-h]))
    f = DriftForecaster(horizon=h).fit(train)
    assert f.value_ == pytest.approx(expected, rel=1e-12)
    assert (f.predict(candles) == f.value_).all()


def test_config_and_factory_round_trip() -> None:
    for cls in (PersistenceForecaster, DriftForecaster):
        cfg = cls(horizon=3).config
        assert cfg.kind == cls.kind and cfg.horizon == 3
        again = ForecasterConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
        rebuilt = build_forecaster(again)
        assert type(rebuilt) is cls and rebuilt.horizon == 3
    with pytest.raises(InputError):
        ForecasterConfig(kind="oracle")


def test_save_load_and_bad_files(candles: pd.DataFrame, tmp_path: Path) -> None:
    f = DriftForecaster().fit(candles.iloc[:100])
    f.save(tmp_path / "drift.keras")
    side = tmp_path / "drift.json"
    assert side.exists() and not (tmp_path / "drift.keras").exists()
    back = load_forecaster(tmp_path / "drift.keras")
    assert type(back) is DriftForecaster and back.value_ == f.value_
    assert back.model_hash() == f.model_hash()
    doc = json.loads(side.read_text())
    side.write_text(json.dumps({**doc, "value": doc["value"] + 1}))
    with pytest.raises(ModelFileError, match="hash"):
        DriftForecaster.load(tmp_path / "drift.keras")
    side.write_text("{")
    with pytest.raises(ModelFileError, match="corrupt"):
        load_forecaster(tmp_path / "drift.keras")
    with pytest.raises(ModelFileError, match="not found"):
        load_forecaster(tmp_path / "none.keras")
    with pytest.raises(InputError, match="label"):
        DriftForecaster(horizon=5).fit(candles.iloc[:3])


def test_importing_models_baselines_and_walkforward_does_not_import_tensorflow() -> None:
    code = (
        "import sys, lstm_backtrader.models, lstm_backtrader.models.baselines, lstm_backtrader.models.features, lstm_backtrader.models.walkforward, "
        "lstm_backtrader.models.lstm, lstm_backtrader.models.config;"
        "from lstm_backtrader.models import WalkForward, PersistenceForecaster, LSTMForecaster;"
        "import pandas as pd;"
        "sys.path.insert(0, 'tests'); from conftest import make_candles;"
        "from lstm_backtrader.models import WalkForwardSpec;"
        "r = WalkForward(PersistenceForecaster(), WalkForwardSpec(train_bars=50, retrain_every=20))"
        ".run(make_candles(100));"
        "assert r.forecasts.notna().sum() == 50;"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules];"
        "assert not bad, bad"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
