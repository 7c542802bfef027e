"""``lstm_backtrader.backtests.sweep.keys``: trial ids, trial cache keys and sweep ids are
stable (pinned: a change here, e.g. of a default setting such as ``warm_start_epochs``, makes
every cached trial a miss), and a trial id follows the data's hash, not its file."""

from __future__ import annotations

from pathlib import Path

import pytest

from lstm_backtrader.backtests import run
from lstm_backtrader.backtests.config import RunConfig
from lstm_backtrader.backtests.sweep import (
    SweepConfig,
    sweep_id_for,
    trial_cache_key,
    trial_id_for,
)

OVERRIDES = {"model": {"seed": 3, "units": [4]}, "strategy": {"entry": -0.001}}


def test_trial_ids_are_pinned() -> None:
    assert trial_id_for(RunConfig(), "abc") == "70584a5af3fb"
    assert trial_id_for(RunConfig().with_overrides(OVERRIDES), "f" * 64) == "d793b9677b59"


def test_trial_id_follows_the_data_hash_not_the_file(tmp_path: Path) -> None:
    here = RunConfig().with_overrides({"data": {"source": "file", "path": str(tmp_path / "a")}})
    there = here.with_overrides({"data": {"path": str(tmp_path / "b")}})
    assert trial_id_for(here, "abc") == trial_id_for(there, "abc") == "70584a5af3fb"
    assert trial_id_for(here, "abd") != trial_id_for(here, "abc")
    assert trial_id_for(here.with_overrides({"model": {"seed": 1}}), "abc") != "70584a5af3fb"


def test_trial_cache_key_is_pinned_and_follows_library_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(run, "package_versions", lambda: {"numpy": "1.0", "keras": "3.0"})
    key = trial_cache_key(RunConfig(), "abc")
    # bumping TRIAL_SCHEMA or the fold cache version changes this on purpose
    assert key == "41e3e213eabc679e280e94e42d23e8851f10d72ec2451a08c902441cd8cfccb4"
    monkeypatch.setattr(run, "package_versions", lambda: {"numpy": "1.1", "keras": "3.0"})
    assert trial_cache_key(RunConfig(), "abc") != key


@pytest.mark.parametrize(
    ("path", "ids", "expected"),
    [
        ("/x/My sweep.v2.toml", ["98f0a617f7ad", "60e386a83178"], "My-sweep-v2-21e455b4"),
        ("/x/+++.toml", [], "----e3b0c442"),
        ("/x/.toml", [], "-toml-e3b0c442"),
    ],
)
def test_sweep_id_is_the_file_stem_and_a_hash_of_the_trial_ids(
    path: str, ids: list[str], expected: str
) -> None:
    sweep = SweepConfig(path=path, title="t", base=RunConfig(), seeds=(1,))
    assert sweep_id_for(sweep, ids) == expected
