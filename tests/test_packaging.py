"""The package installs as ``lstm_backtrader.*`` only: a user's own ``models/`` or
``strategies/`` folder never shadows it, and the old bare names are not installed."""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("backtests", "models", "strategies")
BARE_IMPORT = re.compile(r"^\s*(from|import)\s+(models|strategies|backtests)\b", re.M)


def _declared_packages() -> list[str]:
    doc = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return sorted(doc["tool"]["setuptools"]["packages"])


def test_every_package_folder_is_declared_under_the_namespace() -> None:
    found = sorted(
        "lstm_backtrader." + ".".join(init.parent.relative_to(REPO).parts)
        for root in ROOTS
        for init in (REPO / root).rglob("__init__.py")
    )
    assert _declared_packages() == found


def test_no_source_file_imports_a_bare_top_level_name() -> None:
    offenders = []
    for folder in (*ROOTS, "tests", "examples", "benchmarks"):
        for path in (REPO / folder).rglob("*.py"):
            if path.resolve() == Path(__file__).resolve():
                continue  # its user script imports the user's own models/ and strategies/
            text = path.read_text(encoding="utf-8")
            offenders += [
                f"{path.relative_to(REPO)}: {m.group(0).strip()}"
                for m in BARE_IMPORT.finditer(text)
            ]
    for path in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        text = path.read_text(encoding="utf-8")
        offenders += [
            f"{path.relative_to(REPO)}: {m.group(0).strip()}" for m in BARE_IMPORT.finditer(text)
        ]
    assert not offenders, offenders


USER_SCRIPT = textwrap.dedent(
    """
    import importlib.util, sys
    import backtrader as bt
    import pandas as pd

    from models import mine                       # the user's own models/ package
    from strategies.mine import UserStrategy     # the user's own strategies/ package
    from lstm_backtrader.backtests.data import sample
    from lstm_backtrader.models import ForecasterConfig
    from lstm_backtrader.strategies.feeds import candles_feed
    from lstm_backtrader.strategies.indicators import SeriesForecast

    assert mine.WHO == "user" and ForecasterConfig().lookback == 60
    assert importlib.util.find_spec("backtests") is None, "bare 'backtests' is installed"
    candles = sample().iloc[:120]
    forecasts = pd.Series(0.01, index=candles.index)

    class Both(UserStrategy):
        def __init__(self):
            super().__init__()
            self.fc = SeriesForecast(self.data, series=forecasts)

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(candles_feed(candles))
    cerebro.addstrategy(Both)
    (strat,) = cerebro.run()
    print("bars", strat.bars, "forecast", strat.fc.forecast[0])
    """
)


def _user_project(tmp_path: Path) -> Path:
    """A user's project folder with its own ``models`` and ``strategies`` packages."""
    (tmp_path / "models").mkdir(parents=True)
    (tmp_path / "models" / "__init__.py").write_text("")
    (tmp_path / "models" / "mine.py").write_text("WHO = 'user'\n")
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "__init__.py").write_text("")
    (tmp_path / "strategies" / "mine.py").write_text(
        "import backtrader as bt\n\n"
        "class UserStrategy(bt.Strategy):\n"
        "    def __init__(self):\n        self.bars = 0\n\n"
        "    def next(self):\n        self.bars += 1\n"
    )
    (tmp_path / "run.py").write_text(USER_SCRIPT)
    return tmp_path


def test_user_folder_with_its_own_models_and_strategies_imports_both(tmp_path: Path) -> None:
    project = _user_project(tmp_path)
    res = subprocess.run(
        [sys.executable, "run.py"], cwd=project, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert "bars 120 forecast 0.01" in res.stdout


def test_wheel_installs_only_the_namespace_and_imports_beside_user_folders(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=False
    )
    if files.returncode != 0:
        pytest.skip("not a git checkout: cannot list the source distribution's files")
    for name in files.stdout.splitlines():
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((REPO / name).read_bytes())
    build = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))",
            str(tmp_path / "dist"),
        ],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = tmp_path / "dist" / build.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        zf.extractall(tmp_path / "site")
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"lstm_backtrader"}, tops
    assert "lstm_backtrader/__init__.py" not in names  # PEP 420 namespace: no folder of its own
    assert any(n.startswith("lstm_backtrader/backtests/data/samples/") for n in names)
    # run the user's script against the unpacked wheel only: -S skips site-packages' .pth
    # files (the editable install's finder), then the dependencies' folder is added by hand
    project = _user_project(tmp_path / "project")
    site = sysconfig.get_paths()["purelib"]
    code = (
        f"import sys; sys.path[1:1] = [{str(tmp_path / 'site')!r}, {site!r}]; "
        "import runpy; runpy.run_path('run.py', run_name='__main__'); "
        "import lstm_backtrader.models as m; print('from', m.__file__)"
    )
    res = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "bars 120 forecast 0.01" in res.stdout
    assert f"from {tmp_path / 'site'}" in res.stdout
