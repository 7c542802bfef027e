"""Memory across many walk-forward folds: a long run must not grow (issue 13, item 5).

A real (tiny) Keras LSTM walks forward over 80 small folds, warm-started and with a fold
cache, as the daily backtest does over its ~74 folds; the resident set (``VmRSS``) is read
after every fold through the engine's progress callback. The first folds warm TensorFlow up
(tracing, kernels, allocator pools), so the growth is measured from fold 10 to the last: it
must stay within :data:`MAX_GROWTH_MB` (one fold keeps ~3 KiB of results; a model, a trainer
or a Keras graph kept per fold would be MiBs each). ``benchmarks/bench_walkforward.py``
reports the same figures for the real configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.walkforward import WalkForward
from tests.conftest import make_candles

STATUS = Path("/proc/self/status")
TINY = ForecasterConfig(
    lookback=8, units=(4,), epochs=2, batch_size=32, validation_fraction=0.1, patience=2, seed=1
)
TRAIN, EVERY, FOLDS = 100, 5, 80
EARLY, LATE = 10, 60
MAX_GROWTH_MB = 24.0

pytestmark = [
    pytest.mark.skipif(not STATUS.is_file(), reason="needs /proc/self/status (Linux)"),
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]


def _rss_mb() -> float:
    for line in STATUS.read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line in /proc/self/status")


def test_rss_does_not_grow_over_many_folds(tmp_path: Path) -> None:
    rss: dict[int, float] = {}

    def after_fold(fold: int, n_folds: int, row: dict[str, Any]) -> None:
        if fold >= 0:
            rss[fold] = _rss_mb()

    spec = WalkForwardSpec(train_bars=TRAIN, retrain_every=EVERY, warm_start_epochs=1)
    wf = WalkForward(TINY, spec, cache_dir=tmp_path, progress=after_fold)
    res = wf.run(make_candles(TRAIN + FOLDS * EVERY, seed=13))

    assert len(res.folds) == FOLDS and sorted(rss) == list(range(FOLDS))
    assert not res.folds["cached"].any()
    assert np.isfinite(res.forecasts.iloc[TRAIN:]).all()
    growth = {f: rss[f] - rss[EARLY] for f in (LATE, FOLDS - 1)}
    trace = " ".join(f"{f}:{rss[f]:.1f}" for f in range(0, FOLDS, 10))
    for fold, mb in growth.items():
        assert mb < MAX_GROWTH_MB, (
            f"RSS grew {mb:.1f} MiB from fold {EARLY} to fold {fold} (RSS MiB by fold: {trace})"
        )


def test_rss_does_not_grow_over_many_model_loads(tmp_path: Path) -> None:
    """Loading reads the weights into the process's inference network: no Keras model is
    built per file (each grew the process by ~0.1-0.4 MiB for good; the bar-by-bar
    LSTMForecast path loads one model per fold)."""
    from lstm_backtrader.models.lstm import LSTMForecaster

    candles = make_candles(TRAIN + 40, seed=13)
    path = LSTMForecaster(TINY).fit(candles).save(tmp_path / "model.keras")
    rss: dict[int, float] = {}
    for i in range(LATE + 1):
        LSTMForecaster.load(path).predict(candles.iloc[-20:])
        rss[i] = _rss_mb()
    growth = rss[LATE] - rss[EARLY]
    assert growth < 2.0, f"RSS grew {growth:.1f} MiB over {LATE - EARLY} loads of one model"
