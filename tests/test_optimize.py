"""cerebro.optstrategy with several processes after TensorFlow ran in the parent: a forked
worker fails fast with the fix (never hangs); with the spawn start method it works and gives
exactly the maxcpus=1 values. A fitted forecaster pickles at any time."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_backtrader.models.lstm import LSTMForecaster
from tests.conftest import make_candles

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "optimize_fixture"


def test_fitted_forecaster_pickles_after_predicting() -> None:
    candles = make_candles(120, seed=2)
    model = LSTMForecaster(lookback=8, units=(4,), epochs=1, batch_size=32).fit(candles.iloc[:90])
    before = model.predict(candles).to_numpy()
    model.predict_last(candles)  # the compiled single-window path is cached on the object too
    copy = pickle.loads(pickle.dumps(model))
    assert "_infer_fn" not in copy.__dict__ and copy.config == model.config
    np.testing.assert_array_equal(copy.predict(candles).to_numpy(), before)
    assert copy.predict_last(candles) == model.predict_last(candles)


def _run(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run_opt.py", mode, str(REPO)],
        cwd=FIXTURE,
        capture_output=True,
        text=True,
        timeout=240,  # the old behaviour was to hang forever: a timeout fails the test
    )


@pytest.mark.skipif(sys.platform != "linux", reason="fork is the default start method on Linux")
def test_forked_workers_after_tensorflow_fail_fast_naming_the_fix() -> None:
    res = _run("fork")
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert "TensorFlow was already used in the parent process" in last
    assert "multiprocessing.set_start_method('spawn')" in last and "maxcpus=1" in last


def test_spawned_workers_give_the_single_process_values() -> None:
    res = _run("spawn")
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out == {"same": True, "finite": 2 * (150 - 8), "runs": 2}
