"""The install is reproducible: make run / make test install through constraints.txt, and the
environment running the suite holds exactly the pinned versions."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IGNORED = {"pip", "setuptools", "wheel", "lstm-backtrader"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[_norm(name)] = version.strip()
    return pins


def test_makefile_installs_through_the_constraints() -> None:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    installs = [ln for ln in text.splitlines() if "pip install" in ln and "-e" in ln]
    assert installs and all("-c $(CONSTRAINTS)" in ln for ln in installs), installs


def test_every_dependency_is_pinned_and_installed_at_its_pin() -> None:
    pins = _pins()
    doc = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    project = doc["project"]
    declared = list(project["dependencies"]) + [
        d for extra in project["optional-dependencies"].values() for d in extra
    ]
    for requirement in declared:
        name = _norm(re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0])
        assert name in pins, f"{name} (pyproject.toml) is not pinned in constraints.txt"
    drift = []
    for dist in importlib.metadata.distributions():
        name = _norm(dist.metadata["Name"])
        if name in IGNORED:
            continue
        if pins.get(name) != dist.version:
            drift.append(f"{name} {dist.version} (pinned: {pins.get(name, 'not pinned')})")
    assert not drift, (
        "this environment differs from constraints.txt (install with `make test`, or "
        f"regenerate with `make constraints`): {sorted(drift)}"
    )
