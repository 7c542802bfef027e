"""``lstm-bt cache info|prune``: entries are stamped at every use and pruned by last use,
on a real fold cache (a walk-forward run) and real report pieces."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lstm_backtrader.backtests.cli import app
from lstm_backtrader.backtests.report.pieces import PieceStore, piece_entries
from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.foldstore import fold_entries
from lstm_backtrader.models.schedule import WalkForwardSpec
from lstm_backtrader.models.walkforward import WalkForward
from tests.conftest import make_candles

runner = CliRunner()
DAY = 86_400.0


def _age(path: Path, days: float) -> None:
    t = time.time() - days * DAY
    os.utime(path, (t, t))


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A cache with the folds of a persistence walk-forward and two report pieces."""
    root = tmp_path / "cache"
    wf = WalkForward(
        ForecasterConfig(kind="persistence"),
        WalkForwardSpec(train_bars=60, retrain_every=40),
        cache_dir=root,
    )
    wf.run(make_candles(200, seed=3))
    store = PieceStore(root / "report")
    store.get("a", "k1", "json", lambda: b'{"a": 1}')
    store.get("b", "k2", "json", lambda: b'{"b": 2}')
    return root


def test_a_cache_hit_stamps_the_entry(cache: Path) -> None:
    folds = fold_entries(cache)
    assert len(folds) == 4  # bars 60..199 in folds of 40
    for entry, _ in folds:
        _age(entry / "fold.json", 40)
    _age(cache / "report" / "k1.json", 40)
    WalkForward(
        ForecasterConfig(kind="persistence"),
        WalkForwardSpec(train_bars=60, retrain_every=40),
        cache_dir=cache,
    ).run(make_candles(200, seed=3))
    assert PieceStore(cache / "report").get("a", "k1", "json", lambda: b"{}") == b'{"a": 1}'
    now = time.time()
    assert all(now - t < 60 for _, t in fold_entries(cache))
    assert all(now - t < 60 for _, t in piece_entries(cache / "report"))


def test_prune_removes_only_what_was_not_used_recently(cache: Path) -> None:
    folds = fold_entries(cache)
    for entry, _ in folds[:3]:
        _age(entry / "fold.json", 40)
    _age(cache / "report" / "k2.json", 40)

    dry = runner.invoke(app, ["cache", "prune", "--older-than", "30", "--dry-run",
                              "--cache-dir", str(cache)])  # fmt: skip
    assert dry.exit_code == 0, dry.output
    assert "would remove 3 fold models" in dry.output and "1 report pieces" in dry.output
    assert len(fold_entries(cache)) == 4 and len(piece_entries(cache / "report")) == 2

    done = runner.invoke(app, ["cache", "prune", "--older-than", "30", "--cache-dir", str(cache)])
    assert done.exit_code == 0, done.output
    assert "removed 3 fold models" in done.output
    assert [e for e, _ in fold_entries(cache)] == [folds[3][0]]
    assert [p.name for p, _ in piece_entries(cache / "report")] == ["k1.json"]
    assert not [p for p in (cache / "folds").iterdir() if p.name.startswith(".tmp-prune")]

    info = runner.invoke(app, ["cache", "info", "--cache-dir", str(cache)])
    assert info.exit_code == 0, info.output
    assert "fold models" in info.output and "report pieces" in info.output

    # what was pruned is rebuilt by the next run, with the same forecasts
    wf = WalkForward(
        ForecasterConfig(kind="persistence"),
        WalkForwardSpec(train_bars=60, retrain_every=40),
        cache_dir=cache,
    )
    assert wf.run(make_candles(200, seed=3)).forecasts.notna().sum() == 140
    assert len(fold_entries(cache)) == 4


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "soon"])
def test_bad_older_than_is_one_line_exit_2(value: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["cache", "prune", "--older-than", value,
                                 "--cache-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 2
    assert "older-than" in result.output and "Traceback" not in result.output


def test_a_file_as_cache_dir_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    result = runner.invoke(app, ["cache", "info", "--cache-dir", str(f)])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: --cache-dir {f}: not a folder"
