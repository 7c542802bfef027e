"""The examples run end to end (tiny model, offline) and produce sensible numbers."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # backtrader's metaclass looks the module up
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_rsi_lstm_filter_quick(tmp_path, capsys) -> None:
    example = _load("rsi_lstm_filter")
    cache = tmp_path / "folds"
    results = example.main(["--quick", "--cache-dir", str(cache)])
    out = capsys.readouterr().out
    assert "fixed" in out and "walkforward" in out and "buy & hold" in out

    assert set(results) == {"fixed", "walkforward"}
    for r in results.values():
        assert math.isfinite(r["final_value"]) and r["final_value"] > 0
        assert math.isfinite(r["buy_hold_value"]) and r["buy_hold_value"] > 0
        assert r["n_forecasts"] > 100  # the indicator produced forecasts in both modes
        assert r["trades"] >= 0 and len(r["entries"]) >= r["trades"]
        # no forecast-driven decision or fill before the model exists / out of sample starts
        for e in r["entries"]:
            assert e["time"] >= r["trade_from"] > r["model_cutoff"]
            assert e["forecast"] > 0 and e["rsi"] < 30 and e["age"] >= 1
        if len(r["fills"]):
            assert (r["fills"]["time"] > r["model_cutoff"]).all()
            assert (r["fills"]["time"] > r["trade_from"]).all()  # fills come on the next bar
    # the two modes trade the same out-of-sample window, so buy-and-hold is the same
    fixed, wf = results["fixed"], results["walkforward"]
    assert fixed["buy_hold_value"] == pytest.approx(wf["buy_hold_value"])
    assert wf["first_forecast"] > wf["model_cutoff"]
    assert fixed["first_forecast"] <= fixed["model_cutoff"]  # in-sample ones exist, not traded
    assert all(e["fold"] == 0 for e in fixed["entries"])
    # walk-forward retrains every 120 bars (--quick), so no forecast comes from an older model
    assert all(e["fold"] >= 0 and 1 <= e["age"] <= 121 for e in wf["entries"])
    assert any(cache.iterdir())  # the walk-forward folds went to --cache-dir


@pytest.mark.parametrize("name", ["custom_keras_gru", "sklearn_ridge"])
def test_custom_forecaster_examples_quick(name: str, capsys) -> None:
    out = _load(name).main(["--quick"])
    assert out["folds"] == 2 and out["forecasts"] > 100
    assert 0.5 < out["ratio"] < 2.0  # judged against persistence, in a sane range
    assert "RMSE / persistence" in capsys.readouterr().out
