"""``lstm-bt sweep``: trial expansion, the ranked table with the DSR over the true number of
trials, the seed spread, the trial cache and the CLI — real Keras, real Backtrader, tiny model
(lookback 8, 4 units, 2 epochs, 2 folds) on 400 synthetic daily candles."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lstm_backtrader.backtests.cli import app
from lstm_backtrader.backtests.report.stats import bar_returns
from lstm_backtrader.backtests.run import MODEL_NAME, load_candles, simulate
from lstm_backtrader.backtests.sweep import (
    CSV_COLUMNS,
    expand_trials,
    load_sweep,
    run_sweep,
    trial_id_for,
)
from lstm_backtrader.models import metrics
from lstm_backtrader.models.features import hash_candles
from lstm_backtrader.models.infra.errors import InputError
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
runner = CliRunner()

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


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sweep")
    make_candles(400).to_csv(path / "candles.csv")
    make_candles(400, seed=1).to_csv(path / "other.csv")
    (path / "sweep.toml").write_text(SWEEP, encoding="utf-8")
    return path


def _sweep(work: Path, name: str) -> Path:
    out = work / name
    args = ["sweep", "--config", str(work / "sweep.toml"), "--out", str(out),
            "--cache-dir", str(work / "cache")]  # fmt: skip
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"sweep: {out / 'index.html'}" in result.stdout
    return out


@pytest.fixture(scope="module")
def first(work: Path) -> Path:
    return _sweep(work, "first")


@pytest.fixture(scope="module")
def table(first: Path) -> pd.DataFrame:
    return pd.read_csv(first / "sweep.csv")


# --------------------------------------------------------------------------- expansion


def test_grid_expands_to_product_times_seeds_times_assets(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text("[model]\nseed = 7\nepochs = 3\n")
    (tmp_path / "s.toml").write_text(
        'base = "base.toml"\nseeds = [1, 2, 3]\n'
        '[grid]\n"model.units" = [[16], [32, 32]]\n'
        "[grid.strategy]\nentry = [0.0, 0.001, 0.002]\n"
        '[[assets]]\nname = "a"\npath = "a.csv"\n[[assets]]\nsample = "1d"\n'
    )
    sweep = load_sweep(tmp_path / "s.toml")
    trials = expand_trials(sweep)
    assert len(trials) == 2 * 3 * 3 * 2
    assert [a.name for a in sweep.assets] == ["a", "sample 1d"]
    assert sweep.assets[0].data.source == "file"
    assert sweep.assets[0].data.path == str(tmp_path / "a.csv")  # relative to the sweep file
    combos = {(t.asset, t.config.model.units, t.config.strategy.entry, t.seed) for t in trials}
    assert len(combos) == len(trials)
    assert {t.config.model.seed for t in trials} == {1, 2, 3}
    assert all(t.config.model.seed == t.seed for t in trials)
    assert {t.config.model.units for t in trials} == {(16,), (32, 32)}
    assert all(t.config.model.epochs == 3 for t in trials)  # from the base file
    assert trials[0].params == (("model.units", (16,)), ("strategy.entry", 0.0))
    # trials differing only by seed share a group
    assert len({t.group for t in trials}) == 2 * 3 * 2


def test_list_mode_and_default_asset(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(
        'mode = "list"\nseeds = [5, 6]\n'
        '[[trials]]\n"model.units" = [8]\n'
        '[[trials]]\n"walkforward.warm_start" = false\n[trials.model]\nunits = [4, 4]\n'
    )
    sweep = load_sweep(tmp_path / "s.toml")
    trials = expand_trials(sweep)
    assert len(trials) == 2 * 2
    assert sweep.param_keys == ("model.units", "walkforward.warm_start")
    assert [a.name for a in sweep.assets] == ["sample 1d"]  # the base's [data]
    assert trials[0].params == (("model.units", (8,)), ("walkforward.warm_start", True))
    assert trials[-1].config.model.units == (4, 4) and not trials[-1].config.walkforward.warm_start


# --------------------------------------------------------------------------- the table


def test_csv_columns_and_ranking_by_sharpe(table: pd.DataFrame) -> None:
    pos = CSV_COLUMNS.index("asset") + 1
    assert list(table.columns) == [*CSV_COLUMNS[:pos], *PARAMS, *CSV_COLUMNS[pos:]]
    assert len(table) == N_TRIALS
    assert table["trial_id"].is_unique
    assert table["rank"].tolist() == list(range(1, N_TRIALS + 1))
    sharpe = table["sharpe"]
    finite = sharpe.dropna()
    assert finite.is_monotonic_decreasing
    assert sharpe.isna().sum() == 2  # persistence with entry 0 never trades: flat equity
    assert sharpe.iloc[-2:].isna().all()  # NaN ranked last
    assert (table["n_trials"] == N_TRIALS).all()
    assert set(table["asset"]) == {ASSET}
    assert table.groupby(PARAMS).size().eq(2).all()  # every parameter set × 2 seeds
    assert (table["beats_bh"] == (table["sharpe"] > table["bh_sharpe"])).all()


def test_dsr_uses_the_true_number_of_trials(work: Path, table: pd.DataFrame) -> None:
    srs = table["sharpe_per_bar"].dropna().to_numpy()
    var = float(np.var(srs, ddof=1))
    assert table["var_trials_sr"].iloc[0] == pytest.approx(var, rel=1e-12)
    assert table["expected_max_sharpe"].iloc[0] == pytest.approx(
        metrics.expected_max_sharpe(N_TRIALS, var), rel=1e-12
    )
    # recompute the top trial from scratch: its config from the sweep file, its id from the data
    top = table.iloc[0]
    sweep = load_sweep(work / "sweep.toml")
    candles, _ = load_candles(sweep.assets[0].data)
    trial = next(
        t
        for t in expand_trials(sweep)
        if trial_id_for(t.config, hash_candles(candles)) == top.trial_id
    )
    sim = simulate(candles, trial.config, cache_dir=work / "cache")
    returns = bar_returns(sim.records[MODEL_NAME])
    assert top.sharpe == pytest.approx(metrics.sharpe_ratio(returns, 365), rel=1e-9)
    assert top.psr == pytest.approx(metrics.probabilistic_sharpe_ratio(returns), rel=1e-9)
    assert top.dsr == pytest.approx(metrics.deflated_sharpe_ratio(returns, N_TRIALS, var), rel=1e-9)
    assert top.dsr < top.psr  # deflating for 8 trials costs something
    assert top.dsr != pytest.approx(metrics.deflated_sharpe_ratio(returns, 1, var))


def test_seed_spread_matches_pandas(first: Path, table: pd.DataFrame) -> None:
    spread = pd.read_csv(first / "seeds.csv")
    assert len(spread) == N_TRIALS // 2
    expected = table.groupby(PARAMS)[["sharpe", "cagr", "rmse_ratio"]].agg(["mean", "std"])
    for _, row in spread.iterrows():
        exp = expected.loc[(row["model.kind"], row["strategy.entry"])]
        assert row["n_seeds"] == 2 and row["seeds"] == "1 2"
        for col in ("sharpe", "cagr", "rmse_ratio"):
            for stat in ("mean", "std"):
                got, want = row[f"{col}_{stat}"], exp[(col, stat)]
                assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want), col
    lstm = spread[spread["model.kind"] == "lstm"]
    assert (lstm["sharpe_std"] > 0).all()  # seeds do change an LSTM's result
    persistence = spread[spread["model.kind"] == "persistence"]
    assert (persistence["rmse_ratio_mean"] == 1.0).all()
    assert (persistence["cagr_std"] == 0.0).all()  # ... and not persistence's


def test_page_is_self_contained_and_escaped(first: Path) -> None:
    page = (first / "index.html").read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "synthetic &lt;b&gt;" in page and "<b>" not in page
    assert "N = 8" in page
    for section in ("Trials ranked by Sharpe ratio", "Seed spread", "Deflated Sharpe Ratio"):
        assert section in page
    summary = json.loads((first / "sweep.json").read_text(encoding="utf-8"))
    assert summary["n_trials"] == N_TRIALS and summary["computed"] == N_TRIALS
    assert summary["assets"][0]["bh_sharpe"] is not None


# --------------------------------------------------------------------------- cache


def test_second_run_reuses_every_trial(work: Path, first: Path, table: pd.DataFrame) -> None:
    assert len(list((work / "cache" / "trials").glob("*.json"))) == N_TRIALS
    assert not table["cached"].any()
    shutil.rmtree(work / "cache" / "folds")  # a rerun that trained anything would recreate it
    second = pd.read_csv(_sweep(work, "second") / "sweep.csv")
    assert not (work / "cache" / "folds").exists()
    assert second["cached"].all()
    assert (second["seconds"] == 0).all()
    same = [c for c in table.columns if c not in ("cached", "seconds")]
    pd.testing.assert_frame_equal(second[same], table[same])


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


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '[grid]\n"model.unitz" = [[4]]\n',
            "[grid] key 'model.unitz': unknown field [model] unitz",
        ),
        ('[grid]\n"strategy.entry" = []\n', "[grid] strategy.entry is an empty list"),
        ('[grid]\n"model.seed" = [1, 2]\n', "list the seeds in 'seeds = [...]'"),
        ('[grid]\n"data.path" = ["x.csv"]\n', "vary the data with [[assets]]"),
        ('[grid]\n"model.units" = [4, 8]\n', "[grid] model.units=4: [model] units is 4"),
        ("seedz = [1]\n", "unknown key 'seedz'"),
        ("seeds = [1, 1]\n", "seeds [1, 1] repeat a value"),
        ('mode = "list"\n', "mode = 'list' needs one or more [[trials]] tables"),
        ('base = "missing.toml"\n', "missing.toml: config file not found"),
        ('[[assets]]\nname = "x"\nsampel = "1d"\n', "[[assets]] #1: unknown field [data] sampel"),
        ("[grid\n", "not valid TOML"),
    ],
)
def test_bad_sweep_file_is_one_line_exit_2(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body)
    result = runner.invoke(app, ["sweep", "--config", str(path), "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and str(path) in lines[0]
    assert expected in lines[0]


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
