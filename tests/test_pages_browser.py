"""The HTML pages in a real headless browser (Chromium): at 1,400 px nothing overflows
sideways, no raw Python representation is shown, and the figures the run page and the
tearsheet share agree (or the run page says why beside the link).

Skipped with a reason when no Chromium is installed (``apt-get install chromium``).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from lstm_backtrader.backtests.cli import app
from tests.conftest import make_candles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "no Chromium on this machine (apt-get install chromium): pages not checked in a browser",
        allow_module_level=True,
    )

WIDTH = 1400
#: What a raw repr or a missing value looks like when it leaks onto a page.
RAW = re.compile(
    r"\b(None|nan|NaN|NaT|inf)\b|Timestamp\(|ForecasterConfig\(|WalkForwardSpec\(|object at 0x"
    r"|<bound method|\{'|\['"
)

PROBE = """<script>
window.addEventListener('load', function () {
  var d = document.documentElement, wide = [];
  document.querySelectorAll('body *').forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.right > d.clientWidth + 0.5) wide.push(el.tagName + '.' + el.className);
  });
  var out = {scrollWidth: d.scrollWidth, clientWidth: d.clientWidth, wide: wide.slice(0, 5),
             text: document.body.innerText};
  var pre = document.createElement('pre');
  pre.id = 'PROBE';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def measure(page: Path, tmp: Path) -> dict:
    """Open ``page`` (a copy with a measuring script) in headless Chromium at 1,400 px."""
    probe = tmp / f"probe-{page.parent.name}-{page.name}"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"))
    res = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp / 'profile'}",
            f"--window-size={WIDTH},1000",
            "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=3000",
            "--dump-dom",
            probe.as_uri(),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="PROBE">(.*?)</pre>', res.stdout, re.S)
    assert found, f"no measurement from Chromium: {res.stderr[-500:]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real run folder and a real sweep folder (drift model: no TensorFlow needed; entry -1
    so the strategy holds a position and the tearsheet has figures)."""
    tmp = tmp_path_factory.mktemp("pages")
    data = tmp / "eth-held-out.csv"
    make_candles(420, seed=11, price=2_000.0).to_csv(data)
    cfg = tmp / "run.toml"
    cfg.write_text(
        f'[data]\nsource = "file"\npath = "{data}"\n[model]\nkind = "drift"\n'
        "[walkforward]\ntrain_bars = 200\nretrain_every = 25\n[strategy]\nentry = -1.0\n"
    )
    runner = CliRunner()
    run = runner.invoke(app, ["backtest", "--config", str(cfg), "--reports-dir",
                              str(tmp / "reports"), "--cache-dir", str(tmp / "cache")])  # fmt: skip
    assert run.exit_code == 0, run.output
    sweep_cfg = tmp / "sweep.toml"
    sweep_cfg.write_text(
        f'base = "{cfg}"\n[grid]\n"strategy.entry" = [-1.0, 0.001]\n"strategy.exit" = [0.0, -0.01]\n'
    )
    sweep = runner.invoke(app, ["sweep", "--config", str(sweep_cfg), "--out", str(tmp / "sweep"),
                                "--cache-dir", str(tmp / "cache")])  # fmt: skip
    assert sweep.exit_code == 0, sweep.output
    run_dir = (tmp / "reports" / "latest").resolve()
    return {
        "run": run_dir / "index.html",
        "tearsheet": run_dir / "tearsheet.html",
        "sweep": tmp / "sweep" / "index.html",
    }


@pytest.mark.parametrize("name", ["run", "tearsheet", "sweep"])
def test_no_horizontal_overflow_at_1400_px(pages: dict[str, Path], name: str, tmp_path) -> None:
    got = measure(pages[name], tmp_path)
    assert got["scrollWidth"] <= got["clientWidth"], (name, got["scrollWidth"], got["wide"])


@pytest.mark.parametrize("name", ["run", "sweep"])
def test_no_raw_representation_is_shown(pages: dict[str, Path], name: str, tmp_path) -> None:
    text = measure(pages[name], tmp_path)["text"]
    leaks = sorted({m.group(0) for m in RAW.finditer(text)})
    assert not leaks, (name, leaks, [ln for ln in text.splitlines() if RAW.search(ln)][:5])


def test_run_page_names_the_file_and_the_out_of_sample_window(pages, tmp_path) -> None:
    text = measure(pages["run"], tmp_path)["text"]
    assert "Walk-forward LSTM backtest — eth-held-out.csv 1d" in text
    assert "eth-held-out.csv · 1d · out-of-sample 2020-07-19 → 2021-02-23 (220 bars)" in text
    assert re.search(r"run \d{4}-\d\d-\d\d \d\d:\d\d UTC · took [\d.]+ s · lstm-backtrader ", text)
    assert "binance" not in text  # the default exchange is not shown for a file's run


def test_shared_figures_agree_with_the_tearsheet_or_are_explained(pages, tmp_path) -> None:
    run = json.loads((pages["run"].parent / "summary.json").read_text())
    rows = {r["strategy"]: r for r in run["strategies"]["rows"]}
    sheet = measure(pages["tearsheet"], tmp_path)["text"]
    sharpe = re.search(r"\nSharpe\t([-\d.]+)\t([-\d.]+)", sheet)
    assert sharpe, "no Sharpe row in the tearsheet"
    assert float(sharpe.group(1)) == round(rows["Buy & hold"]["sharpe"], 2)
    assert float(sharpe.group(2)) == round(rows["LSTM"]["sharpe"], 2)
    page_text = measure(pages["run"], tmp_path)["text"]
    for note in run["tearsheet_notes"]:  # every remaining difference is stated on the page
        assert " ".join(note.split()) in " ".join(page_text.split())


@pytest.fixture(scope="module")
def target_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run pages of the volatility and direction targets (HAR and logistic as the model: no
    TensorFlow) and a sweep whose grid varies the target (drift forecasts return and
    volatility)."""
    tmp = tmp_path_factory.mktemp("target-pages")
    data = tmp / "eth-held-out.csv"
    make_candles(420, seed=11, price=2_000.0).to_csv(data)
    runner = CliRunner()
    out: dict[str, Path] = {}
    head = f'[data]\nsource = "file"\npath = "{data}"\n'
    schedule = "[walkforward]\ntrain_bars = 200\nretrain_every = 110\n"
    for target, kind in (("volatility", "har"), ("direction", "logistic")):
        cfg = tmp / f"{target}.toml"
        # the volatility page also carries conformal intervals (their table and figure)
        extra = "[intervals]\nlevel = 0.9\nwindow = 20\n" if target == "volatility" else ""
        cfg.write_text(head + f'[model]\nkind = "{kind}"\ntarget = "{target}"\nlookback = 5\n'
                       + schedule + extra)  # fmt: skip
        reports = tmp / f"reports-{target}"
        run = runner.invoke(app, ["backtest", "--config", str(cfg), "--reports-dir",
                                  str(reports), "--cache-dir", str(tmp / "cache")])  # fmt: skip
        assert run.exit_code == 0, run.output
        out[target] = (reports / "latest").resolve() / "index.html"
    base = tmp / "drift.toml"
    base.write_text(head + '[model]\nkind = "drift"\n' + schedule)
    sweep_cfg = tmp / "sweep.toml"
    sweep_cfg.write_text(f'base = "{base}"\n[grid]\n"model.target" = ["return", "volatility"]\n')
    sweep = runner.invoke(app, ["sweep", "--config", str(sweep_cfg), "--out", str(tmp / "sweep"),
                                "--cache-dir", str(tmp / "cache")])  # fmt: skip
    assert sweep.exit_code == 0, sweep.output
    out["sweep"] = tmp / "sweep" / "index.html"
    return out


@pytest.mark.parametrize("name", ["volatility", "direction", "sweep"])
def test_target_pages_fit_and_show_no_raw_values(target_pages, name, tmp_path) -> None:
    got = measure(target_pages[name], tmp_path)
    assert got["scrollWidth"] <= got["clientWidth"], (name, got["scrollWidth"], got["wide"])
    leaks = sorted({m.group(0) for m in RAW.finditer(got["text"])})
    assert not leaks, (name, leaks)
    if name == "sweep":
        rows = pd.read_csv(target_pages["sweep"].parent / "sweep.csv")
        assert sorted(rows["model.target"]) == ["return", "volatility"]
    else:
        first = {"volatility": "QLIKE", "direction": "Log loss"}[name]
        assert f"Forecast diagnostics ({name})" in got["text"] and first in got["text"]
        if name == "volatility":
            assert "Conformal intervals" in got["text"], got["text"][:2000]


def test_paper_status_page_fits_and_agrees_with_its_state(tmp_path: Path) -> None:
    """The paper session's status page (rewritten after every bar) at 1,400 px: no overflow, no
    raw value, and the equity it shows is the one in state.json."""
    from tests.test_paper_session import write_config

    csv = tmp_path / "candles.csv"
    make_candles(100, seed=5).to_csv(csv)
    config = write_config(tmp_path, "page", retrain="async")  # the folds table with switches
    result = CliRunner().invoke(app, ["paper", "--config", str(config), "--replay", str(csv),
                                      "--speed", str(86_400 / 0.1),
                                      "--cache-dir", str(tmp_path / "folds")])  # fmt: skip
    assert result.exit_code == 0, result.output[-2000:]
    folder = tmp_path / "paper" / "page"
    got = measure(folder / "index.html", tmp_path)
    assert got["scrollWidth"] <= got["clientWidth"], got["wide"]
    assert not got["wide"], got["wide"]
    text = got["text"]
    assert not RAW.search(text), RAW.search(text)
    assert "Took over" in text
    state = json.loads((folder / "state.json").read_text())
    value = float(state["value"])
    shown = {float(m.replace(",", "")) for m in re.findall(r"\d[\d,]*\.\d\d", text)}
    assert round(value, 2) in shown, (value, sorted(shown)[:20])
