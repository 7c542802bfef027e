"""docs/indicator.md stays runnable: its ``python`` blocks run in order in one namespace (the
``py`` blocks are fragments)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "indicator.md"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_code_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)  # the examples write model.keras, folds/ and run.csv here
    module = types.ModuleType("indicator_doc")  # Backtrader's metaclasses look classes' module up
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102
    assert (tmp_path / "run.csv").read_text().count("LSTM") > 0
    assert len(namespace["strat"].fc.folds_) == 2  # the 4h walk-forward's folds
