"""``lstm-bt paper`` (backtests/cli/paper.py and backtests/paper/config.py): bad flags, config
fields, files and state are one line with exit code 2; SIGTERM stops after a committed bar."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lstm_backtrader.backtests.cli import app
from lstm_backtrader.backtests.paper.journal import Journal
from tests.conftest import REPO_ROOT, make_candles
from tests.test_paper_session import write_config

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
runner = CliRunner()


def one_error_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, lines[:6]
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in output
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    csv = tmp_path / "candles.csv"
    make_candles(100, seed=5).to_csv(csv)
    return write_config(tmp_path, "cli"), csv


def run(*args: str) -> str:
    result = runner.invoke(app, ["paper", *args])
    assert result.exit_code == 2, (result.exit_code, result.output[-800:])
    return one_error_line(result.output)


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ("poll_interval = 'fast'", "[paper] poll_interval is 'fast': expected a number"),
        ("colour = 1", "unknown field [paper] colour; known: name, state_dir"),
        ("cash = -5", "[paper] cash is -5.0: use a positive amount"),
        ("max_retries = 0", "[paper] max_retries is 0: use at least 1"),
    ],
)
def test_bad_paper_fields_name_the_field(files: tuple[Path, Path], extra: str, says: str) -> None:
    config, csv = files
    config.write_text(config.read_text() + extra + "\n")
    line = run("--config", str(config), "--replay", str(csv))
    assert str(config) in line and says in line, line


def test_bad_flags_files_and_sources_are_one_line(files: tuple[Path, Path], tmp_path: Path) -> None:
    config, csv = files
    assert "--speed is 0.0" in run("--config", str(config), "--replay", str(csv), "--speed", "0")
    assert "--max-bars is 0" in run("--config", str(config), "--replay", str(csv),
                                    "--max-bars", "0")  # fmt: skip
    missing = tmp_path / "nope.csv"
    assert str(missing) in run("--config", str(config), "--replay", str(missing))
    assert "[data] source is 'sample'" in run("--config", str(config))  # live needs an exchange
    short = tmp_path / "short.csv"
    make_candles(30).to_csv(short)
    assert "short.csv has only 30 bars" in run("--config", str(config), "--replay", str(short))
    bad_name = tmp_path / "bad_name.toml"
    bad_name.write_text(config.read_text().replace('name = "cli"', 'name = "../up"'))
    assert "[paper] name is '../up'" in run("--config", str(bad_name), "--replay", str(csv))


def test_a_damaged_journal_is_refused_naming_the_line(files: tuple[Path, Path]) -> None:
    from lstm_backtrader.strategies.livefeed import Candle

    config, csv = files
    folder = config.parent / "paper" / "cli"
    folder.mkdir(parents=True)
    Journal(folder / "journal.jsonl").append([Candle(i, 1.0, 2.0, 0.5, 1.5, 1.0) for i in range(3)])
    lines = (folder / "journal.jsonl").read_text().splitlines(keepends=True)
    (folder / "journal.jsonl").write_text(lines[0] + "{not json}\n" + lines[2])
    line = run("--config", str(config), "--replay", str(csv))
    assert "journal.jsonl: line 2 is damaged" in line


def test_sigterm_stops_after_a_committed_bar_and_the_run_resumes(files: tuple[Path, Path]) -> None:
    config, csv = files
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, "-m", "lstm_backtrader.backtests.cli", "-q", "paper", "--config",
           str(config), "--replay", str(csv), "--speed", str(86_400 / 0.2),
           "--cache-dir", str(config.parent / "folds")]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    folder = config.parent / "paper" / "cli"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (folder / "state.json").exists():
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    journal = Journal(folder / "journal.jsonl")
    state = json.loads((folder / "state.json").read_text())
    assert 40 < len(journal) < 100  # stopped early...
    assert state["bar_seq"] == len(journal) - 1  # ...after committing the last bar it took
    assert f"{len(journal) - 40} new" in out


def test_backtest_reads_the_same_toml_and_ignores_paper(files: tuple[Path, Path]) -> None:
    from lstm_backtrader.backtests.config import load_config
    from lstm_backtrader.backtests.paper.config import load_paper_config

    config, _ = files
    run_cfg, paper = load_paper_config(config)
    assert load_config(config) == run_cfg
    assert paper.name == "cli" and paper.folder == config.parent / "paper" / "cli"
