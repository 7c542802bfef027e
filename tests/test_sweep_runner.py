"""``lstm_backtrader.backtests.sweep.runner``: ``lstm-bt sweep`` end to end — a rerun reuses
every cached trial, duplicate trials are rejected, worker processes give the serial table and
``run_trial`` pickles by reference — with real Keras and real Backtrader on a tiny model
(lookback 8, 4 units, 2 epochs, 2 folds) and 400 synthetic daily candles.

The sweep file and the CLI helper here are shared with ``test_sweep_table`` and
``test_sweep_output``, which run the same sweep in their own folder."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from lstm_backtrader.backtests import sweep as sweep_package
from lstm_backtrader.backtests.cli import app
from lstm_backtrader.backtests.sweep import CSV_COLUMNS, load_sweep, run_sweep
from lstm_backtrader.backtests.sweep import runner as runner_module
from lstm_backtrader.models.infra.errors import InputError
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
cli = CliRunner()

ASSET = "synthetic <b>"  # markup in a user string: must come out escaped
TINY = """
seeds = [1, 2]
[model]
lookback = 8
units = [4]
epochs = 2
batch_size = 32
dropout = 0.0
[walkforward]
train_bars = 200
retrain_every = 100
[strategy]
sma_fast = 5
sma_slow = 10
"""
SWEEP = (
    TINY
    + """
[grid]
"model.kind" = ["lstm", "persistence"]
"strategy.entry" = [0.0, -0.001]
[[assets]]
name = "synthetic <b>"
path = "candles.csv"
"""
)
PARAMS = ["model.kind", "strategy.entry"]
N_TRIALS = 2 * 2 * 2  # kinds × entries × seeds (× 1 asset)


def write_sweep_inputs(path: Path) -> Path:
    """``path`` with ``candles.csv``, ``other.csv`` and ``sweep.toml`` (:data:`SWEEP`)."""
    make_candles(400).to_csv(path / "candles.csv")
    make_candles(400, seed=1).to_csv(path / "other.csv")
    (path / "sweep.toml").write_text(SWEEP, encoding="utf-8")
    return path


def run_cli_sweep(work: Path, name: str) -> Path:
    """``lstm-bt sweep`` of ``work/sweep.toml`` into ``work/name`` (cache ``work/cache``)."""
    out = work / name
    args = ["sweep", "--config", str(work / "sweep.toml"), "--out", str(out),
            "--cache-dir", str(work / "cache")]  # fmt: skip
    result = cli.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"sweep: {out / 'index.html'}" in result.stdout
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sweep_inputs(tmp_path_factory.mktemp("sweep"))


@pytest.fixture(scope="module")
def first(work: Path) -> Path:
    return run_cli_sweep(work, "first")


@pytest.fixture(scope="module")
def table(first: Path) -> pd.DataFrame:
    return pd.read_csv(first / "sweep.csv")


def test_second_run_reuses_every_trial(work: Path, first: Path, table: pd.DataFrame) -> None:
    assert len(list((work / "cache" / "trials").glob("*.json"))) == N_TRIALS
    assert not table["cached"].any()
    shutil.rmtree(work / "cache" / "folds")  # a rerun that trained anything would recreate it
    second = pd.read_csv(run_cli_sweep(work, "second") / "sweep.csv")
    assert not (work / "cache" / "folds").exists()
    assert second["cached"].all()
    assert (second["seconds"] == 0).all()
    same = [c for c in table.columns if c not in ("cached", "seconds")]
    pd.testing.assert_frame_equal(second[same], table[same])


def test_every_trial_result_is_a_csv_column(work: Path, first: Path) -> None:
    for path in (work / "cache" / "trials").glob("*.json"):
        result = json.loads(path.read_text(encoding="utf-8"))["result"]
        assert set(result) <= set(CSV_COLUMNS), path.name


def test_duplicate_trials_are_rejected(tmp_path: Path) -> None:
    make_candles(300).to_csv(tmp_path / "c.csv")
    (tmp_path / "s.toml").write_text(
        'mode = "list"\n[[trials]]\n"model.units" = [4]\n[[trials]]\n"model.units" = [4]\n'
        '[[assets]]\npath = "c.csv"\n'
    )
    with pytest.raises(InputError, match=r"trials #1 and #2 are identical"):
        run_sweep(load_sweep(tmp_path / "s.toml"), cache_dir=tmp_path / "cache")


def test_two_worker_processes_give_the_serial_table(tmp_path: Path) -> None:
    make_candles(300).to_csv(tmp_path / "c.csv")
    (tmp_path / "s.toml").write_text(
        TINY.replace("[model]", '[model]\nkind = "persistence"')
        + '[grid]\n"strategy.entry" = [-0.001, -0.002]\n[[assets]]\npath = "c.csv"\n'
    )
    sweep = load_sweep(tmp_path / "s.toml")
    serial = run_sweep(sweep, out_dir=tmp_path / "a", cache_dir=tmp_path / "c1")
    parallel = run_sweep(sweep, out_dir=tmp_path / "b", cache_dir=tmp_path / "c2", workers=2)
    assert parallel.summary["executor"] != "serial" and parallel.computed == 4
    same = [c for c in serial.table.columns if c not in ("cached", "seconds")]
    pd.testing.assert_frame_equal(parallel.table[same], serial.table[same])


def test_run_trial_pickles_by_reference_to_its_module() -> None:
    # workers (processes, Dask) import it by this path: the package re-exports the same object
    assert sweep_package.run_trial is runner_module.run_trial
    assert runner_module.run_trial.__module__ == "lstm_backtrader.backtests.sweep.runner"
    data = pickle.dumps(sweep_package.run_trial)
    assert b"lstm_backtrader.backtests.sweep.runner" in data and b"run_trial" in data
    assert pickle.loads(data) is runner_module.run_trial
