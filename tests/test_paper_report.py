"""``lstm-bt report paper/<name>`` (backtests/paper/report.py): the quantstats tearsheet of a paper
session's paper period (bars from ``trade_from`` on) vs buy and hold, offline; too short or
corrupt sessions are one line with exit code 2; the status page links the tearsheet."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lstm_backtrader.backtests.cli import app
from lstm_backtrader.backtests.paper.config import load_paper_config
from lstm_backtrader.backtests.paper.report import paper_period
from lstm_backtrader.backtests.paper.session import PaperSession
from tests.conftest import make_candles
from tests.test_paper_cli import one_error_line
from tests.test_paper_session import N_BARS, TRAIN, write_config
from tests.test_report_tearsheet import _guard_network, _metrics_table, _shown

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
runner = CliRunner()
NEW_BARS = N_BARS - TRAIN  # the paper period: the whole replay after the warm-up (four folds)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No socket leaves the machine and quantstats' download helpers raise."""
    _guard_network(monkeypatch)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("paper-report")


@pytest.fixture(scope="module")
def session(work: Path) -> Path:
    """A replayed session: TRAIN warm-up bars, then NEW_BARS paper bars."""
    config = write_config(work, "rep")
    cfg, paper = load_paper_config(config)
    replay = make_candles(N_BARS, seed=5)
    PaperSession(cfg, paper, replay=replay, speed=1e9, cache_dir=work / "folds",
                 max_bars=NEW_BARS).run()  # fmt: skip
    return paper.folder


@pytest.fixture(scope="module")
def report(work: Path, session: Path) -> dict[str, object]:
    """``lstm-bt report`` run once on the session (the tearsheet and what the CLI printed), with
    the network guards on (module fixtures run before the function-scoped autouse ones)."""
    from tests.fake_binance import guard_loopback

    with pytest.MonkeyPatch.context() as mp:
        guard_loopback(mp)
        _guard_network(mp)
        result = runner.invoke(app, ["report", str(session), "--cache-dir", str(work / "cache")])
    assert result.exit_code == 0, result.output[-800:]
    return {"output": result.output, "html": (session / "tearsheet.html").read_text("utf-8")}


def copy_session(session: Path, work: Path, name: str) -> Path:
    target = work / "copies" / name
    shutil.copytree(session, target)
    (target / "tearsheet.html").unlink(missing_ok=True)
    return target


def report_error(folder: Path, work: Path) -> str:
    result = runner.invoke(app, ["report", str(folder), "--cache-dir", str(work / "cache")])
    assert result.exit_code == 2, (result.exit_code, result.output[-800:])
    return one_error_line(result.output)


def test_report_writes_the_tearsheet_of_the_paper_period(
    session: Path, report: dict[str, object]
) -> None:
    html = str(report["html"])
    assert str(session / "tearsheet.html") in " ".join(str(report["output"]).split())
    assert "Paper session rep vs buy &amp; hold" in html
    assert "Periods/Year: 365" in html
    equity = pd.read_csv(session / "equity.csv", index_col="timestamp", parse_dates=["timestamp"])
    state = json.loads((session / "state.json").read_text())
    trade_from = pd.Timestamp(state["trade_from"])
    assert len(equity) == TRAIN + NEW_BARS and equity.index[TRAIN] == trade_from
    paper = equity[equity.index >= trade_from]
    table = _metrics_table(html)
    for column, series in (("Paper", paper["value"]), ("Buy & hold", paper["buy_hold"])):
        total = series.iloc[-1] / series.iloc[0] - 1.0
        assert _shown(table["Cumulative Return"][column]) == round(total * 100, 2)
        returns = series.pct_change().iloc[1:]
        sharpe = returns.mean() / returns.std(ddof=1) * math.sqrt(365)
        assert _shown(table["Sharpe"][column]) == round(sharpe, 2)
    # the period starts at the first paper bar, not at the warm-up
    assert f"<dt>{trade_from:%e %b, %Y} - {paper.index[-1]:%e %b, %Y}</dt>" in html
    assert paper["position"].abs().sum() > 0, "the strategy should trade in the paper period"


def test_bars_before_trade_from_are_excluded(session: Path, work: Path, report: dict) -> None:
    folder = copy_session(session, work, "warmup-changed")
    equity = pd.read_csv(folder / "equity.csv", index_col="timestamp")
    rng = np.random.default_rng(1)
    for col in ("value", "buy_hold"):  # scramble the warm-up rows only
        equity.iloc[:TRAIN, equity.columns.get_loc(col)] *= rng.uniform(0.5, 2.0, TRAIN)
    equity.to_csv(folder / "equity.csv")
    paper, trade_from, ppy = paper_period(folder)
    assert paper.index[0] == trade_from and len(paper) == NEW_BARS and ppy == 365
    result = runner.invoke(app, ["report", str(folder), "--cache-dir", str(work / "cache")])
    assert result.exit_code == 0, result.output[-800:]
    assert _metrics_table((folder / "tearsheet.html").read_text("utf-8")) == _metrics_table(
        str(report["html"])
    )


def test_a_too_short_paper_period_is_one_line(session: Path, work: Path) -> None:
    folder = copy_session(session, work, "short")
    equity = pd.read_csv(folder / "equity.csv", index_col="timestamp")
    state = json.loads((folder / "state.json").read_text())
    state["trade_from"] = pd.Timestamp(equity.index[-2]).isoformat()
    (folder / "state.json").write_text(json.dumps(state))
    line = report_error(folder, work)
    assert str(folder) in line and "2 bar(s) in the paper period" in line, line
    assert not (folder / "tearsheet.html").exists()


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("equity.csv", "timestamp,value\nnot a time,1\n"),
        ("equity.csv", "date,worth\n2020-01-01,1\n"),
        ("state.json", "{not json"),
        ("state.json", '{"trade_from": "soon"}'),
        ("session.json", '{"bar": "often"}'),
    ],
)
def test_corrupt_files_are_one_line_naming_the_file(
    session: Path, work: Path, name: str, damage: str
) -> None:
    folder = copy_session(session, work, f"bad-{name}-{len(damage)}")
    (folder / name).write_text(damage)
    line = report_error(folder, work)
    assert str(folder / name) in line and "corrupt" in line, line


def test_a_run_folder_still_needs_its_files(work: Path) -> None:
    empty = work / "empty"
    empty.mkdir()
    assert "not a run folder (summary.json is missing)" in report_error(empty, work)
    half = work / "half-paper"
    half.mkdir()
    (half / "session.json").write_text("{}")
    assert "not a paper session folder (state.json is missing)" in report_error(half, work)


def test_status_page_links_the_tearsheet_once_written(
    session: Path, work: Path, report: dict
) -> None:
    folder = copy_session(session, work, "status")  # without tearsheet.html
    link = re.compile(r"<a href='tearsheet\.html'>")
    assert not link.search((folder / "index.html").read_text("utf-8"))
    (folder / "tearsheet.html").write_text(str(report["html"]), encoding="utf-8")
    config = write_config(work, "status")
    config.write_text(config.read_text().replace(str(work / "paper"), str(folder.parent)))
    cfg, paper = load_paper_config(config)
    assert paper.folder == folder
    # resuming the exhausted-or-stopped session re-commits its last bar: the page is rewritten
    PaperSession(cfg, paper, replay=make_candles(N_BARS, seed=5), speed=1e9,
                 cache_dir=work / "folds", max_bars=1).run()  # fmt: skip
    assert link.search((folder / "index.html").read_text("utf-8"))
