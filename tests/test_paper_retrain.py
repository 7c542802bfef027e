"""Asynchronous retraining of a paper session (backtests/paper/retrain.py): the bar loop goes on
while a worker process trains the next fold, the switch bar is recorded, and the backtest over
the journal with the recorded switches equals the session bar for bar — also after a SIGKILL
during a training."""

from __future__ import annotations

import json
import signal
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lstm_backtrader.backtests.cli import app
from lstm_backtrader.backtests.paper.config import load_paper_config
from lstm_backtrader.backtests.paper.journal import Journal, OrderLog
from lstm_backtrader.backtests.paper.record import paper_inputs
from lstm_backtrader.backtests.paper.retrain import SWITCHES_FILE, LiveSwitches, read_switches
from lstm_backtrader.backtests.paper.session import PaperResult, PaperSession
from lstm_backtrader.models.infra.errors import InputError
from tests.conftest import make_candles
from tests.test_paper_session import N_BARS, TRAIN, fills_of, run_cli, write_config

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
DAY_NS = 86_400 * 10**9
BAR_SECONDS = 0.2  # replay pace: the first training (a process start) spans many bars


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("retrain")


@pytest.fixture(scope="module")
def candles(work: Path) -> pd.DataFrame:
    frame = make_candles(N_BARS, seed=5)  # test_paper_session's candles
    frame.to_csv(work / "candles.csv")
    return frame


@pytest.fixture(scope="module")
def session(work: Path, candles: pd.DataFrame) -> PaperResult:
    cfg, paper = load_paper_config(write_config(work, "async", retrain="async"))
    run = PaperSession(cfg, paper, replay=candles, speed=86_400 / BAR_SECONDS,
                       cache_dir=work / "folds")  # fmt: skip
    return run.run()


def assert_equals_backtest_from_record(folder: Path, equity: pd.DataFrame, cache: Path) -> Any:
    """The backtest over the journal's candles with the recorded switches makes the session's
    equity, positions, fills, folds and forecasts, bar for bar."""
    from lstm_backtrader.backtests.simulation import simulate

    inputs = paper_inputs(folder)
    sim = simulate(inputs.candles, inputs.config, cache_dir=cache, switches=inputs.switches)
    lstm = sim.records["LSTM"]
    paper = equity[equity.index >= sim.oos_start]
    assert paper.index.equals(lstm.equity.index.as_unit("ns"))
    np.testing.assert_array_equal(paper["value"].to_numpy(), lstm.equity.to_numpy())
    np.testing.assert_array_equal(paper["position"].to_numpy(), lstm.position.to_numpy())
    oos = sim.fold_id[sim.fold_id.index >= sim.oos_start]
    np.testing.assert_array_equal(paper["fold"].to_numpy(), oos.to_numpy("float64"))
    np.testing.assert_allclose(
        paper["forecast"].to_numpy(), sim.forecasts[paper.index].to_numpy(), atol=1e-6
    )
    fills = fills_of(OrderLog(folder / "orders.jsonl").records)
    assert list(fills["time"]) == list(lstm.fills["time"])
    np.testing.assert_array_equal(fills["size"].to_numpy(), lstm.fills["size"].to_numpy("float64"))
    return sim


def test_the_loop_goes_on_while_a_fold_trains_and_the_switch_is_recorded(
    session: PaperResult,
) -> None:
    records = [json.loads(line)["r"] for line in (session.folder / SWITCHES_FILE).open()]
    assert [r["fold"] for r in records] == list(range(len(records)))
    assert records, "the first fold should train and switch during the replay"
    fold = session.equity["fold"]
    for rec in records:
        assert rec["how"] == "async" and rec["t"] > rec["first"]  # never on its own first bar
        first = pd.Timestamp(rec["first"], unit="ms", tz="UTC")
        switch = pd.Timestamp(rec["t"], unit="ms", tz="UTC")
        # the bars in between were forecast by an earlier model, or none (the loop did not wait)
        assert (fold[(fold.index >= first) & (fold.index < switch)] < rec["fold"]).all()
        assert fold[switch] >= rec["fold"]
    assert (np.diff(fold.to_numpy()) >= 0).all()
    state = json.loads((session.folder / "state.json").read_text())
    assert state["retrain"] == "async"
    begun = session.equity["fold"].index.isin(
        [pd.Timestamp(r["first"], unit="ms", tz="UTC") for r in records]
    )
    assert begun.sum() == len(records)
    assert len(records) + len(state["training"]) == 4  # four folds begun: switched or training
    page = (session.folder / "index.html").read_text()
    assert "Took over" in page and "bar(s) later" in page


def test_the_backtest_with_the_recorded_switches_equals_the_session(
    work: Path, session: PaperResult
) -> None:
    sim = assert_equals_backtest_from_record(session.folder, session.equity, work / "folds")
    assert sim.folds["cached"].all()  # the worker's models, found in the fold cache


def test_backtest_from_paper_on_the_command_line(work: Path, session: PaperResult) -> None:
    result = CliRunner().invoke(app, ["-q", "backtest", "--from-paper", str(session.folder),
                                      "--reports-dir", str(work / "reports"),
                                      "--cache-dir", str(work / "folds")])  # fmt: skip
    assert result.exit_code == 0, result.output[-600:]
    run = work / "reports" / "latest"
    equity = pd.read_csv(run / "equity.csv", index_col=0, parse_dates=True)
    paper = session.equity[session.equity.index >= session.trade_from]
    np.testing.assert_array_equal(equity["LSTM"].to_numpy(), paper["value"].to_numpy())
    manifest = json.loads((run / "summary.json").read_text())
    assert "paper session" in json.dumps(manifest)
    clash = CliRunner().invoke(
        app, ["backtest", "--from-paper", str(session.folder), "--epochs", "3"]
    )
    assert clash.exit_code == 2 and "drop --epochs" in clash.output
    assert len(clash.output.strip().splitlines()) == 1


def test_sigkill_during_a_training_then_restart(work: Path, candles: pd.DataFrame) -> None:
    config = write_config(work, "killed", retrain="async")
    csv, cache = work / "candles.csv", work / "killcache"
    folder = work / "paper" / "killed"
    proc = run_cli(config, csv, cache, "training:4", 86_400 / BAR_SECONDS)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err[-800:]
    killed_at = len(Journal(folder / "journal.jsonl"))
    before = read_switches(folder).times
    assert TRAIN < killed_at < N_BARS
    final = run_cli(config, csv, cache, None, 86_400 / BAR_SECONDS)
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err[-800:]
    after = read_switches(folder).times
    assert after[: len(before)] == before  # the record only grows
    assert len(after) > len(before), "the fold training at the kill switches after the restart"
    journal = Journal(folder / "journal.jsonl")
    assert [c.open_ms for c in journal.candles] == list(candles.index.as_unit("ms").asi8)
    ids = [o["id"] for o in OrderLog(folder / "orders.jsonl").records]
    assert len(ids) == len(set(ids))
    equity = pd.read_csv(folder / "equity.csv", index_col=0, parse_dates=True)
    assert_equals_backtest_from_record(folder, equity, cache)


# --- LiveSwitches alone, with a worker the test controls -----------------------------------
class _Worker:
    def __init__(self) -> None:
        self.jobs: list[Future[list[str]]] = []
        self.terminated = 0

    def submit(self, fn: Any, job: Any) -> Future[list[str]]:
        self.jobs.append(Future())
        return self.jobs[-1]

    def terminate(self) -> None:
        self.terminated += 1


def _job(*folds: int) -> Any:
    return lambda: SimpleNamespace(folds=folds)


def test_switches_are_recorded_at_the_first_bar_after_the_training(tmp_path: Path) -> None:
    worker = _Worker()
    live = LiveSwitches(tmp_path, history_until_ns=5 * DAY_NS, executor=lambda: worker)
    live.begin(0, 3 * DAY_NS, _job(0))  # a warm-up bar: at once, nothing trained elsewhere
    assert live.at(0) == 3 * DAY_NS and not worker.jobs
    live.begin(1, 8 * DAY_NS, _job(1))
    assert live.at(1) is None and live.pending == [1] and len(worker.jobs) == 1
    live.poll(9 * DAY_NS)  # still training
    live.begin(2, 10 * DAY_NS, _job(1, 2))  # begins while fold 1 trains: waits its turn
    assert len(worker.jobs) == 1
    worker.jobs[0].set_result(["h1"])
    live.poll(11 * DAY_NS)
    assert live.at(1) == 11 * DAY_NS and live.at(2) is None and len(worker.jobs) == 2
    worker.jobs[1].set_exception(RuntimeError("worker died"))
    live.poll(12 * DAY_NS)  # a failed training is logged and started again
    assert live.at(2) is None and len(worker.jobs) == 3 and worker.terminated == 1
    worker.jobs[2].set_result(["h2"])
    live.poll(13 * DAY_NS)
    assert live.at(2) == 13 * DAY_NS and live.pending == []
    again = LiveSwitches(tmp_path, history_until_ns=0)  # a resumed session reads the record
    assert [again.at(k) for k in range(4)] == [3 * DAY_NS, 11 * DAY_NS, 13 * DAY_NS, None]
    assert read_switches(tmp_path).times == ((0, 3 * DAY_NS), (1, 11 * DAY_NS), (2, 13 * DAY_NS))


def test_a_damaged_switch_record_is_refused_naming_the_line(tmp_path: Path) -> None:
    live = LiveSwitches(tmp_path, history_until_ns=10 * DAY_NS)
    for fold in range(3):
        live.begin(fold, (fold + 1) * DAY_NS, _job(fold))
    path = tmp_path / SWITCHES_FILE
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[2] + lines[1])
    with pytest.raises(InputError, match="switches.jsonl: line 2 is not fold 1's switch"):
        read_switches(tmp_path)


def test_from_paper_on_a_bad_folder_is_one_line(tmp_path: Path, session: PaperResult) -> None:
    import shutil

    def error(folder: Path) -> str:
        result = CliRunner().invoke(app, ["backtest", "--from-paper", str(folder)])
        assert result.exit_code == 2, result.output[-600:]
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.output, lines[:5]
        return lines[0]

    assert "not a paper session folder" in error(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(session.folder, copy)
    path = copy / SWITCHES_FILE
    path.write_text('{"r": {"fold": 0}, "crc": "0"}\n' + path.read_text())
    assert f"{path}: line 1 is damaged" in error(copy)
