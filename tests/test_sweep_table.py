"""``lstm_backtrader.backtests.sweep.table``: the columns (the fields of ``TrialRow``), the
ranking by Sharpe ratio, the DSR over the true number of trials and the seed spread, on the
tiny LSTM sweep of ``test_sweep_runner`` run through ``lstm-bt sweep``."""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.backtests.report.stats import bar_returns
from lstm_backtrader.backtests.simulation import MODEL_NAME, load_candles, simulate
from lstm_backtrader.backtests.sweep import (
    CSV_COLUMNS,
    TrialRow,
    expand_trials,
    load_sweep,
    run_sweep,
    trial_id_for,
)
from lstm_backtrader.models import metrics
from lstm_backtrader.models.features import hash_candles
from tests.conftest import make_candles
from tests.test_sweep_runner import (
    ASSET,
    N_TRIALS,
    PARAMS,
    TINY,
    run_cli_sweep,
    write_sweep_inputs,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sweep_inputs(tmp_path_factory.mktemp("sweep"))


@pytest.fixture(scope="module")
def first(work: Path) -> Path:
    return run_cli_sweep(work, "first")


@pytest.fixture(scope="module")
def table(first: Path) -> pd.DataFrame:
    return pd.read_csv(first / "sweep.csv")


def test_csv_columns_are_the_trial_row_fields() -> None:
    assert tuple(f.name for f in dataclasses.fields(TrialRow)) == CSV_COLUMNS
    assert len(set(CSV_COLUMNS)) == len(CSV_COLUMNS)
    assert dataclasses.is_dataclass(TrialRow) and TrialRow.__dataclass_params__.frozen


def test_table_dtypes_follow_the_trial_row_types(tmp_path: Path) -> None:
    make_candles(300).to_csv(tmp_path / "c.csv")
    (tmp_path / "s.toml").write_text(
        TINY.replace("[model]", '[model]\nkind = "persistence"')
        + '[grid]\n"strategy.entry" = [-0.001]\n[[assets]]\npath = "c.csv"\n'
    )
    sweep = load_sweep(tmp_path / "s.toml")
    done = run_sweep(sweep, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    kinds = {int: "i", float: "f", bool: "b", str: "O"}
    for name, kind in typing.get_type_hints(TrialRow).items():
        assert done.table[name].dtype.kind == kinds[kind], name


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
