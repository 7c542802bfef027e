"""The paper session (backtests/paper/session.py): a replayed session across fold boundaries
equals the backtest bar for bar; SIGKILL at named points and at random times, then restart,
gives the uninterrupted run's equity and order log; resuming checks the state file."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.backtests.paper.config import load_paper_config
from lstm_backtrader.backtests.paper.journal import KILL_ENV, Journal, OrderLog
from lstm_backtrader.backtests.paper.session import PaperResult, PaperSession
from lstm_backtrader.models.infra.errors import InputError
from tests.conftest import REPO_ROOT, make_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

N_BARS, TRAIN, EVERY = 100, 40, 15  # folds start at bars 40, 55, 70, 85: three boundaries
CONFIG = """
[model]
lookback = 4
units = [2]
epochs = 1
dropout = 0.0
seed = 3

[walkforward]
train_bars = {train}
retrain_every = {every}

[strategy]
entry = 0.0
exit = 0.0

[paper]
name = "{name}"
state_dir = "{state_dir}"
retrain = "{retrain}"
"""


def write_config(folder: Path, name: str, retrain: str = "sync") -> Path:
    """A session's TOML; ``retrain = "sync"`` (folds switch on their first bar, as in a plain
    backtest) unless asked (the asynchronous retraining is tested in test_paper_retrain.py)."""
    path = folder / f"{name}.toml"
    text = CONFIG.format(
        train=TRAIN, every=EVERY, name=name, state_dir=folder / "paper", retrain=retrain
    )
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("paper")


@pytest.fixture(scope="module")
def candles(work: Path) -> pd.DataFrame:
    frame = make_candles(N_BARS, seed=5)
    frame.to_csv(work / "candles.csv")
    return frame


@pytest.fixture(scope="module")
def reference(work: Path, candles: pd.DataFrame) -> PaperResult:
    """An uninterrupted replayed session (it also fills the fold cache the others load)."""
    cfg, paper = load_paper_config(write_config(work, "reference"))
    session = PaperSession(cfg, paper, replay=candles, speed=1e9, cache_dir=work / "folds")
    return session.run()


def fills_of(orders: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [o for o in orders if o["kind"] == "fill"]
    return pd.DataFrame(
        {
            "time": pd.DatetimeIndex([pd.Timestamp(o["time"]) for o in rows]),
            "side": [o["side"] for o in rows],
            "size": [o["size"] for o in rows],
            "price": [o["price"] for o in rows],
            "commission": [o["commission"] for o in rows],
        }
    )


def test_replayed_session_equals_the_backtest_bar_for_bar(
    work: Path, candles: pd.DataFrame, reference: PaperResult
) -> None:
    from lstm_backtrader.backtests.simulation import simulate

    cfg, _ = load_paper_config(write_config(work, "reference"))
    sim = simulate(candles, cfg, cache_dir=work / "folds")
    lstm = sim.records["LSTM"]
    paper = reference.equity[reference.equity.index >= reference.trade_from]
    assert reference.trade_from == sim.oos_start
    assert paper.index.equals(lstm.equity.index.as_unit("ns"))
    np.testing.assert_array_equal(paper["value"].to_numpy(), lstm.equity.to_numpy())
    np.testing.assert_array_equal(paper["position"].to_numpy(), lstm.position.to_numpy())
    fills = fills_of(reference.orders)
    assert len(fills) >= 4, "the strategy should trade a few times over 60 bars"
    assert len(fills) == len(lstm.fills)
    assert list(fills["time"]) == list(lstm.fills["time"])
    assert list(fills["side"]) == list(lstm.fills["side"])
    for col in ("size", "price", "commission"):
        np.testing.assert_array_equal(fills[col].to_numpy(), lstm.fills[col].to_numpy("float64"))
    # the forecasts came from the folds the backtest used, switching at the same bars
    oos = sim.fold_id[sim.fold_id.index >= sim.oos_start]
    np.testing.assert_array_equal(paper["fold"].to_numpy(), oos.to_numpy("float64"))
    assert sorted(set(paper["fold"])) == [0.0, 1.0, 2.0, 3.0]  # three fold boundaries crossed
    np.testing.assert_allclose(
        paper["forecast"].to_numpy(), sim.forecasts[paper.index].to_numpy(), rtol=0, atol=1e-6
    )


def test_the_session_folder_holds_every_bar_once_and_a_status_page(
    candles: pd.DataFrame, reference: PaperResult
) -> None:
    folder = reference.folder
    journal = Journal(folder / "journal.jsonl")
    assert [c.open_ms for c in journal.candles] == list(candles.index.as_unit("ms").asi8)
    assert [c.close for c in journal.candles] == list(candles["close"])
    ids = [o["id"] for o in OrderLog(folder / "orders.jsonl").records]
    assert len(ids) == len(set(ids)) > 0
    state = json.loads((folder / "state.json").read_text())
    assert state["bar"] == candles.index[-1].isoformat() and state["bar_seq"] == N_BARS - 1
    page = (folder / "index.html").read_text()
    for text in ("Equity vs buy &amp; hold", "<polyline", "Recent orders", "Data health", "fold"):
        assert text in page
    assert "<script" not in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")
    assert reference.new_bars == N_BARS - TRAIN and reference.replayed_bars == TRAIN


def test_a_changed_state_file_is_an_error_not_silently_accepted(
    work: Path, candles: pd.DataFrame, reference: PaperResult
) -> None:
    import shutil

    copy = work / "paper" / "tampered"
    shutil.copytree(reference.folder, copy)
    state = json.loads((copy / "state.json").read_text())
    state["cash"] += 1.0
    (copy / "state.json").write_text(json.dumps(state))
    cfg, paper = load_paper_config(write_config(work, "tampered"))
    session = PaperSession(cfg, paper, replay=candles, speed=1e9, cache_dir=work / "folds")
    with pytest.raises(InputError, match=r"state.json: replayed state differs .* \(cash "):
        session.run()


def test_another_config_on_an_existing_session_is_refused(
    work: Path, candles: pd.DataFrame, reference: PaperResult
) -> None:
    cfg, paper = load_paper_config(write_config(work, "reference"))
    cfg = cfg.with_overrides({"strategy": {"fee": 0.002}})
    with pytest.raises(InputError, match=r"session.json: this session was started with another"):
        PaperSession(cfg, paper, replay=candles, speed=1e9, cache_dir=work / "folds")


# --- SIGKILL and restart --------------------------------------------------------------------


def run_cli(
    config: Path, csv: Path, cache: Path, kill: str | None, speed: float
) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}
    env.pop(KILL_ENV, None)
    if kill:
        env[KILL_ENV] = kill
    cmd = [sys.executable, "-m", "lstm_backtrader.backtests.cli", "-q", "paper",
           "--config", str(config), "--replay", str(csv), "--speed", str(speed),
           "--cache-dir", str(cache)]  # fmt: skip
    return subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


#: Named points (the n-th visit in that process) and random times, one after the other on the
#: same session folder: halfway through a journal line, after an order was logged and before its
#: fill, halfway through the state file, after a fold's model was trained or loaded, right after
#: a commit.
#: Mid-write of a journal line, between an order and its fill, mid-write of the snapshot, right
#: after a fold's training, and a random moment (each kill costs a process start: ~7 s).
KILLS = [("mid_journal", 2), ("placed", 1), ("random", 0), ("mid_state", 2), ("fold", 1)]
BAR_SECONDS = 0.04  # replay pace of the killed runs


def test_sigkill_anywhere_then_restart_equals_the_uninterrupted_run(
    work: Path, candles: pd.DataFrame, reference: PaperResult
) -> None:
    config = write_config(work, "killed")
    csv, cache = work / "candles.csv", work / "folds"
    speed = 86_400 / BAR_SECONDS
    folder = work / "paper" / "killed"
    bars_seen = []
    for point, arg in KILLS:
        if point == "random":  # at a random time once the session runs on new bars
            size = (folder / "journal.jsonl").stat().st_size
            proc = run_cli(config, csv, cache, None, speed)
            deadline = time.monotonic() + 60
            while (folder / "journal.jsonl").stat().st_size == size and proc.poll() is None:
                assert time.monotonic() < deadline, "the session never took a new bar"
                time.sleep(0.01)
            time.sleep(random.Random(arg).uniform(0.0, 0.5))
            proc.send_signal(signal.SIGKILL)
        else:
            proc = run_cli(config, csv, cache, f"{point}:{arg}", speed)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGKILL, (point, proc.returncode, err[-800:])
        bars_seen.append(len(Journal(folder / "journal.jsonl")))
    print("journal length after each kill:", bars_seen)
    assert bars_seen[-1] < N_BARS, "every kill should land before the end"
    assert (folder / "state.json.tmp-killed").exists()  # the mid_state kill left a torn temp
    final = run_cli(config, csv, cache, None, 1e9)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    assert "0 new" not in out
    got = pd.read_csv(folder / "equity.csv", index_col=0, parse_dates=True)
    want = pd.read_csv(reference.folder / "equity.csv", index_col=0, parse_dates=True)
    pd.testing.assert_frame_equal(got, want)
    orders = OrderLog(folder / "orders.jsonl").records
    ids = [o["id"] for o in orders]
    assert len(ids) == len(set(ids)), "an order logged twice"
    assert orders == reference.orders
    journal = Journal(folder / "journal.jsonl")
    assert [c.open_ms for c in journal.candles] == list(candles.index.as_unit("ms").asi8)
    assert bars_seen == sorted(bars_seen)  # the journal only grows


def test_a_torn_last_journal_line_is_dropped_and_a_damaged_one_refused(tmp_path: Path) -> None:
    from lstm_backtrader.strategies.livefeed import Candle

    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.append([Candle(1000 * i, 1.0, 2.0, 0.5, 1.5, 10.0) for i in range(3)])
    whole = path.read_bytes()
    path.write_bytes(whole + whole.splitlines(keepends=True)[0][:25])  # a cut write
    assert len(Journal(path)) == 3
    assert path.read_bytes() == whole  # the torn bytes are gone
    lines = whole.splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[1].replace(b"1.5", b"1.6") + lines[2])
    with pytest.raises(InputError, match=r"journal.jsonl: line 2 is damaged"):
        Journal(path)


def test_no_look_ahead_values_up_to_t_ignore_every_later_bar(
    work: Path, candles: pd.DataFrame, reference: PaperResult
) -> None:
    from tests.conftest import splice_candles

    t = 62  # inside fold 1; the spliced bars retrain folds 2 and 3
    spliced = splice_candles(candles, t)
    cfg, paper = load_paper_config(write_config(work, "spliced"))
    other = PaperSession(cfg, paper, replay=spliced, speed=1e9, cache_dir=work / "folds").run()
    upto = candles.index[t]
    mine = reference.equity[reference.equity.index <= upto]
    pd.testing.assert_frame_equal(other.equity[other.equity.index <= upto], mine)
    assert not other.equity.iloc[-1].equals(reference.equity.iloc[-1])  # the splice mattered
    theirs = [o for o in other.orders if pd.Timestamp(o["bar"]) <= upto]
    assert theirs == [o for o in reference.orders if pd.Timestamp(o["bar"]) <= upto]
