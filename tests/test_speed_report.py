"""The report piece store (backtests.report.pieces): a rerun reads every rendered piece back and
writes byte-identical files, a changed input renders again, a corrupt entry is recovered, the
store holds rendered bytes only, and a fully cached run never imports matplotlib or quantstats.

Real files, real quantstats and matplotlib, on small synthetic data."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_backtrader.backtests.config import RunConfig
from lstm_backtrader.backtests.report.pieces import (
    PieceStats,
    PieceStore,
    looks_complete,
    piece_key,
)
from lstm_backtrader.backtests.run import REPORT_PIECES_DIR, RunResult, run_backtest, write_run
from lstm_backtrader.backtests.simulation import load_candles, simulate
from tests.conftest import REPO_ROOT, make_candles

#: Every piece of a run: 6 figures, the Backtrader chart, the tearsheet and its notes.
PIECES = {
    "plot-equity", "plot-equity_log", "plot-drawdowns", "plot-forecast", "plot-direction",
    "plot-folds", "backtrader-chart", "tearsheet", "tearsheet-notes",
}  # fmt: skip
_FOOTER = re.compile(rb"<p class='muted'>run [^<]*</p>")  # the run's date and duration


def _config(data: Path, fee: float = 0.001) -> RunConfig:
    return RunConfig.from_dict(
        {
            "data": {"source": "file", "path": str(data)},
            "model": {"kind": "sklearn", "estimator": "sklearn.linear_model:Ridge", "lookback": 10},
            "walkforward": {"train_bars": 100, "retrain_every": 50},
            "strategy": {"fee": fee, "entry": 0.0},
        }
    )


def _files(run_dir: Path) -> dict[str, bytes]:
    """The run folder's files but the manifest (it holds the run's time), the page's footer
    line blanked."""
    out = {}
    for p in sorted(run_dir.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            out[str(p.relative_to(run_dir))] = _FOOTER.sub(b"", p.read_bytes())
    return out


@dataclass(frozen=True)
class Built:
    """A cold ``run_backtest`` on small data: its fold cache and what it rendered."""

    data: Path
    cache: Path
    run: RunResult

    @property
    def store(self) -> Path:
        return self.cache / REPORT_PIECES_DIR

    def rebuild(self, run_dir: Path, store: Path, fee: float = 0.001) -> PieceStats:
        """The report again, into ``run_dir``, through the pieces in ``store``."""
        config = _config(self.data, fee)
        candles, source = load_candles(config.data)
        sim = simulate(candles, config, cache_dir=self.cache)
        pieces = PieceStore(store)
        write_run(sim, config, run_dir, source=source, command=[], pieces=pieces)
        return pieces.stats


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    tmp = tmp_path_factory.mktemp("pieces")
    data = tmp / "c.csv"
    make_candles(200, seed=8).to_csv(data)
    run = run_backtest(_config(data), reports_dir=tmp / "a", cache_dir=tmp / "cache", command=[])
    return Built(data, tmp / "cache", run)


def test_a_cold_run_renders_every_piece_once_into_the_fold_cache(built: Built) -> None:
    stats = built.run.report_pieces
    assert stats is not None and stats.hits == 0 and stats.repaired == 0
    assert sorted(stats.rendered) == sorted(PIECES)
    assert len(list(built.store.iterdir())) == len(PIECES)


def test_a_cached_run_renders_nothing_imports_no_plotting_library_and_matches_the_first(
    built: Built, tmp_path: Path
) -> None:
    """``run_backtest`` again on the same fold cache, in a fresh process: every piece is read
    back, matplotlib and quantstats are never imported, and the files are the first run's."""
    config = json.dumps(_config(built.data).to_dict())
    script = f"""
import json, sys
from pathlib import Path
from lstm_backtrader.backtests.config import RunConfig
from lstm_backtrader.backtests.run import run_backtest
config = RunConfig.from_dict(json.loads({config!r}))
res = run_backtest(config, reports_dir=Path({str(tmp_path)!r}), cache_dir=Path({str(built.cache)!r}),
                   command=[])
st = res.report_pieces
print(json.dumps({{"run": str(res.run_dir), "renders": st.renders, "hits": st.hits,
                  "loaded": [m for m in ("matplotlib", "quantstats") if m in sys.modules]}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    second = json.loads(done.stdout.strip().splitlines()[-1])
    assert (second["renders"], second["hits"]) == (0, len(PIECES))
    assert second["loaded"] == []
    first, again = _files(built.run.run_dir), _files(Path(second["run"]))
    assert "tearsheet.html" in first and "plots/backtrader.png" in first
    assert first.keys() == again.keys()
    assert [name for name in first if first[name] != again[name]] == []


def test_a_changed_fee_renders_the_pieces_it_changes(built: Built, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(built.store, store)
    stats = built.rebuild(tmp_path / "fee", store, fee=0.004)
    # the equity differs: its figures, the chart and the tearsheet are drawn again; the
    # forecast and fold figures have the same inputs and are read back
    reused = {"plot-forecast", "plot-direction", "plot-folds"}
    assert sorted(stats.rendered) == sorted(PIECES - reused)
    assert stats.hits == len(reused)
    first, fee = _files(built.run.run_dir), _files(tmp_path / "fee")
    for name in (
        "plots/equity.png",
        "plots/drawdowns.png",
        "plots/backtrader.png",
        "tearsheet.html",
    ):
        assert first[name] != fee[name], name
    assert first["plots/forecast.png"] == fee["plots/forecast.png"]


def test_a_corrupt_or_missing_entry_is_rendered_again(built: Built, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(built.store, store)
    truncated, garbled, gone = sorted(store.glob("*.png"))[:3]
    truncated.write_bytes(truncated.read_bytes()[:-20])
    garbled.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    gone.unlink()
    notes = next(store.glob("*.json"))
    notes.write_bytes(b'["cut sho')
    stats = built.rebuild(tmp_path / "repaired", store)
    assert stats.renders == 4 and stats.repaired == 3
    assert "tearsheet-notes" in stats.rendered
    assert _files(tmp_path / "repaired") == _files(built.run.run_dir)
    assert all(looks_complete(p.read_bytes(), p.suffix[1:]) for p in store.iterdir())


def test_an_incomplete_entry_is_never_taken_for_a_piece() -> None:
    page = b"<!-- q -->\n<!DOCTYPE html>\n<html><body>x</body></html>\n"
    assert looks_complete(page, "html")
    assert not looks_complete(page[:-10], "html")
    assert not looks_complete(b"\xff\xfe" + page, "html")
    assert looks_complete(b'["a"]', "json") and not looks_complete(b'["a"', "json")
    assert not looks_complete(b"", "png") and not looks_complete(b"\x89PNG\r\n\x1a\n", "png")


def test_the_store_holds_rendered_bytes_only(built: Built) -> None:
    entries = sorted(built.store.iterdir())  # no temporary file left either
    assert len(entries) == len(PIECES)
    for entry in entries:
        assert re.fullmatch(r"[0-9a-f]{64}\.(png|html|json)", entry.name), entry.name
        data = entry.read_bytes()
        assert not data.startswith(b"\x80"), f"{entry.name} looks like a pickle"
        assert looks_complete(data, entry.suffix[1:]), entry.name


def test_the_key_changes_with_every_input_and_only_then() -> None:
    idx = pd.date_range("2024-01-01", periods=5, freq="D", tz="UTC")
    series = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], index=idx, name="eq")

    def key(kind: str = "k", code: str = "plots", **inputs: object) -> str:
        inputs = inputs or {"curve": series, "window": 60, "name": "LSTM"}
        module = f"lstm_backtrader.backtests.report.{code}"
        return piece_key(kind, inputs, code=(module,), packages=("matplotlib",))

    base = key()
    assert base == key(curve=series.copy(), window=60, name="LSTM")  # by value
    nudged = series.copy()
    nudged.iloc[2] += 1e-12
    changed = [
        key(curve=nudged, window=60, name="LSTM"),
        key(curve=series.set_axis(idx + pd.Timedelta(hours=1)), window=60, name="LSTM"),
        key(curve=series.rename("other"), window=60, name="LSTM"),
        key(curve=series, window=61, name="LSTM"),
        key(curve=series, window=60.0, name="LSTM"),
        key(curve=series, window=60, name="GRU"),
        key("other-kind"),
        key(code="btchart"),
    ]
    assert len({base, *changed}) == len(changed) + 1
    with pytest.raises(TypeError, match="cannot be keyed on a object"):
        key(curve=object())


def test_the_backtrader_chart_ignores_the_process_matplotlib_style() -> None:
    """quantstats restyles matplotlib when imported: the chart must not depend on whether it
    was imported before (a cached run renders a missing chart without it)."""
    import matplotlib

    from lstm_backtrader.backtests.report.btchart import backtrader_chart_png

    candles = make_candles(90, seed=5)
    forecasts = np.log(candles["close"]).diff().rolling(5).mean()  # its sign changes: trades
    params = {"fee": 0.001, "trade_from": candles.index[30], "label": "LSTM"}

    def chart() -> bytes:
        return backtrader_chart_png(
            candles, forecasts, strategy_params=params, cash=10_000.0, start=candles.index[30]
        )

    plain = chart()
    with matplotlib.rc_context({"font.size": 15, "axes.grid": True, "grid.color": "red"}):
        styled = chart()
    assert plain == styled
