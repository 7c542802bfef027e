"""``lstm_backtrader.backtests.sweep.store``: trial cache files round-trip as strict JSON, a
stale or corrupt file is a miss, and a sweep recomputes only the trial whose file is corrupt."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from lstm_backtrader.backtests.sweep import (
    TRIAL_SCHEMA,
    load_sweep,
    read_cached_trial,
    run_sweep,
    write_cached_trial,
)
from tests.conftest import make_candles
from tests.test_sweep_runner import TINY

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_a_trial_round_trips_as_strict_json(tmp_path: Path) -> None:
    result = {"sharpe": np.float64(0.5), "n_trades": np.int64(3), "beats_bh": np.bool_(True),
              "psr": math.nan, "ic": -math.inf, "oos_start": "2020-01-01", "rmse": None}  # fmt: skip
    path = write_cached_trial(tmp_path, "abc123", "key", result)
    assert path == tmp_path / "trials" / "abc123.json"
    doc = json.loads(path.read_text(encoding="utf-8"))  # strict: NaN would not parse back
    assert doc["schema"] == TRIAL_SCHEMA and doc["trial_id"] == "abc123" and doc["key"] == "key"
    got = read_cached_trial(tmp_path, "abc123", "key")
    assert got == {"sharpe": 0.5, "n_trades": 3, "beats_bh": True, "psr": None, "ic": None,
                   "oos_start": "2020-01-01", "rmse": None}  # fmt: skip
    assert type(got["n_trades"]) is int and type(got["beats_bh"]) is bool


def test_a_missing_stale_or_corrupt_trial_is_a_miss(tmp_path: Path) -> None:
    assert read_cached_trial(tmp_path, "abc123", "key") is None
    path = write_cached_trial(tmp_path, "abc123", "key", {"sharpe": 1.0})
    assert read_cached_trial(tmp_path, "abc123", "other key") is None
    doc = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**doc, "schema": "lstm-bt.trial/0"}))
    assert read_cached_trial(tmp_path, "abc123", "key") is None
    for broken in ("{not json", "[]", json.dumps({**doc, "result": [1]})):
        path.write_text(broken)
        assert read_cached_trial(tmp_path, "abc123", "key") is None


def test_a_corrupt_trial_is_recomputed_alone(tmp_path: Path) -> None:
    make_candles(300).to_csv(tmp_path / "c.csv")
    (tmp_path / "s.toml").write_text(
        # no grid: the base alone × 2 seeds
        TINY.replace("[model]", '[model]\nkind = "persistence"') + '[[assets]]\npath = "c.csv"\n'
    )
    sweep = load_sweep(tmp_path / "s.toml")
    done = run_sweep(sweep, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert (done.computed, done.cached) == (2, 0)
    victim = tmp_path / "cache" / "trials" / f"{done.table['trial_id'].iloc[0]}.json"
    victim.write_text("{not json")
    again = run_sweep(sweep, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert (again.computed, again.cached) == (1, 1)
    assert json.loads(victim.read_text())["trial_id"] == done.table["trial_id"].iloc[0]
