"""backtests.run: unique run folders, the latest pointer, data loading messages."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from lstm_backtrader.backtests import run as run_mod
from lstm_backtrader.backtests.config import DataConfig
from lstm_backtrader.backtests.run import claim_run_dir, point_latest
from lstm_backtrader.backtests.simulation import load_candles, missing_forecasts
from lstm_backtrader.models.infra.errors import InputError
from tests.conftest import make_candles


def test_concurrent_runs_with_the_same_id_get_distinct_folders(tmp_path: Path) -> None:
    got: list[Path] = []
    lock = threading.Lock()
    barrier = threading.Barrier(12)

    def claim() -> None:
        barrier.wait()
        path = claim_run_dir(tmp_path, "20260101-000000-abcdef12")
        with lock:
            got.append(path)

    threads = [threading.Thread(target=claim) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({p.name for p in got}) == 12
    assert {p.name for p in got} == {"20260101-000000-abcdef12"} | {
        f"20260101-000000-abcdef12-{n}" for n in range(2, 13)
    }


def test_latest_is_switched_atomically_under_concurrency(tmp_path: Path) -> None:
    dirs = [claim_run_dir(tmp_path, f"run{i}") for i in range(8)]
    threads = [threading.Thread(target=point_latest, args=(tmp_path, d)) for d in dirs * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latest = tmp_path / "latest"
    assert latest.is_symlink() and latest.resolve().parent == tmp_path.resolve()
    assert latest.resolve().name in {d.name for d in dirs}
    assert not list(tmp_path.glob(".latest-*"))  # no temporary link left behind


def test_two_runs_in_the_same_second_never_share_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole run: same config, same (forced) run id -> two complete, distinct folders."""
    from lstm_backtrader.backtests.config import load_config

    data = tmp_path / "c.csv"
    make_candles(120).to_csv(data)
    cfg_path = tmp_path / "run.toml"
    cfg_path.write_text(
        f'[data]\nsource = "file"\npath = "{data}"\n[model]\nkind = "persistence"\n'
        "[walkforward]\ntrain_bars = 60\nretrain_every = 30\n"
    )
    config = load_config(cfg_path)
    monkeypatch.setattr(run_mod, "run_id_for", lambda *a: "20260101-000000-samesame")
    a = run_mod.run_backtest(config, reports_dir=tmp_path / "reports", cache_dir=tmp_path / "c")
    b = run_mod.run_backtest(config, reports_dir=tmp_path / "reports", cache_dir=tmp_path / "c")
    assert a.run_dir != b.run_dir and b.run_dir.name.endswith("-2")
    for res in (a, b):
        manifest = json.loads((res.run_dir / "manifest.json").read_text())
        assert manifest["config"] == config.to_dict()
    assert (tmp_path / "reports" / "latest").resolve() == b.run_dir.resolve()


def test_too_few_candles_blame_since_until_only_when_given(tmp_path: Path) -> None:
    one = tmp_path / "one.csv"
    make_candles(1).to_csv(one)
    with pytest.raises(InputError, match=r"one.csv: only 1 candle\(s\); need at least 2"):
        load_candles(DataConfig(source="file", path=str(one)))
    two = tmp_path / "two.csv"
    make_candles(5).to_csv(two)
    with pytest.raises(InputError, match=r"\[data\] since/until leave 0 candle\(s\) of .*two.csv"):
        load_candles(DataConfig(source="file", path=str(two), since="2030-01-01"))


def test_missing_forecasts_are_counted_and_shown_never_silently_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A forecaster that returns NaN on some bars: the scores use the other bars, and the count
    is in summary.json, on the page's notes and in the log."""
    import numpy as np
    import pandas as pd

    from lstm_backtrader.backtests.config import RunConfig
    from lstm_backtrader.backtests.run import write_run
    from lstm_backtrader.backtests.simulation import simulate

    candles = make_candles(200, seed=7)
    config = RunConfig.from_dict({"walkforward": {"train_bars": 100, "retrain_every": 50}})
    holes = candles.index[[120, 121, 150]]

    def holey(c: pd.DataFrame) -> pd.Series:
        out = pd.Series(0.001, index=c.index)
        out[out.index.isin(holes)] = np.nan
        return out

    sim = simulate(candles, config, forecast_fn=holey)
    assert list(missing_forecasts(sim)) == list(holes)
    with caplog.at_level("WARNING"):
        summary = write_run(sim, config, tmp_path / "run", source={"file": "x.csv"}, command=[])
    assert "3 out-of-sample bar(s) have no forecast (first 2020-04-30" in caplog.text
    assert summary["data"]["missing_forecasts"] == 3
    assert any("3 out-of-sample bar(s) have no forecast" in n for n in summary["notes"])
    oos_known = (candles.index >= sim.oos_start).sum() - 1  # the last bar has no outcome yet
    assert summary["forecast"]["n"] == oos_known - 3


def test_a_hole_in_the_data_is_reported_once_per_run(tmp_path: Path, caplog) -> None:
    """The loader reports the hole; the indicator on the run's own feed does not repeat it."""
    from lstm_backtrader.backtests.config import RunConfig
    from lstm_backtrader.backtests.simulation import simulate

    candles = make_candles(200, seed=4).drop(make_candles(200, seed=4).index[150:153])
    path = tmp_path / "holed.csv"
    candles.to_csv(path)
    config = RunConfig.from_dict(
        {
            "data": {"source": "file", "path": str(path)},
            "model": {"kind": "drift"},
            "walkforward": {"train_bars": 100, "retrain_every": 40},
        }
    )
    with caplog.at_level("WARNING"):
        loaded, _ = load_candles(config.data)
        simulate(loaded, config, cache_dir=tmp_path / "cache")
    lines = [
        r.getMessage()
        for r in caplog.records
        if "gap" in r.getMessage() or "hole" in r.getMessage()
    ]
    assert len(lines) == 1 and "3 bar(s) missing" in lines[0], lines
