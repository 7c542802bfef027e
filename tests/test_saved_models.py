"""Forecaster files saved by an earlier version still load, and forecast as they did.

``tests/fixtures/saved_models/`` holds one saved file per JSON-sidecar kind (the baselines of
every target and the logistic direction baseline), written by the code of the day they were
made, with the forecasts they gave then (``expected.json``). Whatever the save/load code
becomes, these files must load through :func:`load_forecaster` and give the same forecasts —
or, when a format change is deliberate, fail with the one-line ``ModelFileError`` and a new
``FORMAT_VERSION``; regenerate with ``python tests/test_saved_models.py`` only then.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.factory import build_forecaster, load_forecaster
from lstm_backtrader.models.infra.errors import ModelFileError

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "saved_models"

#: file stem -> the configuration it was saved with.
CONFIGS: dict[str, ForecasterConfig] = {
    "persistence": ForecasterConfig(kind="persistence"),
    "drift": ForecasterConfig(kind="drift"),
    "base_rate": ForecasterConfig(kind="base_rate", target="direction"),
    "vol_persistence": ForecasterConfig(kind="persistence", target="volatility"),
    "ewma": ForecasterConfig(kind="ewma", target="volatility"),
    "har": ForecasterConfig(kind="har", target="volatility"),
    "garch": ForecasterConfig(kind="garch", target="volatility", lookback=100),
    "logistic": ForecasterConfig(kind="logistic", target="direction", lookback=10),
}


def _candles():
    sys.path.insert(0, str(HERE.parent))
    from tests.conftest import make_candles

    return make_candles(400, seed=7)


def _forecasts(model, candles) -> list[float | None]:
    values = model.predict(candles).to_numpy(dtype="float64")[-30:]
    return [None if not np.isfinite(v) else float(v) for v in values]


@pytest.mark.parametrize("stem", sorted(CONFIGS))
def test_saved_file_loads_and_forecasts_as_when_saved(stem: str) -> None:
    expected = json.loads((FIXTURES / "expected.json").read_text())
    model = load_forecaster(FIXTURES / f"{stem}.json")
    assert model.kind == CONFIGS[stem].kind
    assert model.config == CONFIGS[stem]
    got = _forecasts(model, _candles())
    assert len(got) == 30 and sum(v is not None for v in got) >= 25
    np.testing.assert_allclose(
        np.array(got, dtype="float64"),
        np.array(expected[stem], dtype="float64"),
        rtol=0,
        atol=1e-12,
    )


@pytest.mark.parametrize("stem", sorted(CONFIGS))
def test_save_load_round_trip_is_exact(stem: str, tmp_path: Path) -> None:
    candles = _candles()
    model = build_forecaster(CONFIGS[stem]).fit(candles.iloc[:300])
    model.save(tmp_path / "m.keras")
    back = load_forecaster(tmp_path / "m.keras")
    assert back.model_hash() == model.model_hash()
    assert _forecasts(back, candles) == _forecasts(model, candles)


@pytest.mark.parametrize("stem", ["har", "logistic", "persistence"])
def test_tampered_file_is_refused_in_one_line(stem: str, tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / f"{stem}.json").read_text())
    key = {"har": "state", "logistic": "intercept", "persistence": "value"}[stem]
    doc[key] = (
        {k: v + 1 for k, v in doc[key].items()} if isinstance(doc[key], dict) else doc[key] + 1
    )
    (tmp_path / "m.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="does not match its hash") as err:
        load_forecaster(tmp_path / "m.json")
    assert "\n" not in str(err.value)
    del doc[key]
    (tmp_path / "m.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="missing or malformed"):
        load_forecaster(tmp_path / "m.json")


def regenerate() -> None:
    """Write the fixtures with today's code (only after a deliberate format change)."""
    FIXTURES.mkdir(parents=True, exist_ok=True)
    candles = _candles()
    expected = {}
    for stem, config in CONFIGS.items():
        model = build_forecaster(config).fit(candles.iloc[:300])
        model.save(FIXTURES / f"{stem}.keras")
        expected[stem] = _forecasts(model, candles)
    (FIXTURES / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    regenerate()
