"""``lstm_backtrader.backtests.sweep.output``: the sweep folder's page and ``sweep.json``, on
the tiny LSTM sweep of ``test_sweep_runner`` run through ``lstm-bt sweep``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_sweep_runner import N_TRIALS, run_cli_sweep, write_sweep_inputs

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_cli_sweep(write_sweep_inputs(tmp_path_factory.mktemp("sweep")), "first")


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
