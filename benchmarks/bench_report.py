"""Benchmark building the report of a run (``write_run``): cold, and cached by the piece store.

Run from the repo root, e.g.::

    .venv/bin/python benchmarks/bench_report.py                    # BTC 1d, default config
    .venv/bin/python benchmarks/bench_report.py --cache-dir /tmp/fc # reuse a warm fold cache
    .venv/bin/python benchmarks/bench_report.py --no-check          # report, never fail

The walk-forward runs first (skipped when ``--cache-dir`` already holds its folds), so that
every report build reads its forecasts from the fold cache. Each build then runs in a fresh
Python process, as a rerun of ``lstm-bt backtest`` would, and times ``write_run`` alone, from
the import of the report's modules on (a cached build must not import matplotlib or quantstats):

* cold: an empty report piece store (:mod:`lstm_backtrader.backtests.report.pieces`), every
  piece rendered, with each piece's own rendering time (the quantstats tearsheet separately);
* cached: the same store, ``--repeats`` times (median), every piece read back.

Prints one table with both times, their ratio and the tearsheet's cost, and checks that each
cached build wrote the cold build's bytes (every file but ``manifest.json``; the page's footer
line, which shows the run's date and time, left out). Exits 1 when the cached build misses the
target (``--target``, 2 s), renders anything or writes other bytes; ``--no-check`` only
reports.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchdata import DEFAULT_CSV, csv_missing  # noqa: E402 - benchmarks/ helper


def _config(csv: Path):  # type: ignore[no-untyped-def]
    from lstm_backtrader.backtests.config import RunConfig

    return RunConfig().with_overrides({"data": {"source": "file", "path": str(csv)}})


def _phase(args: argparse.Namespace) -> int:
    """In a child process: simulate from the fold cache (training what is missing), then, with
    ``--store``, time ``write_run`` into ``--out``; print one JSON line."""
    from lstm_backtrader.backtests.simulation import load_candles, simulate

    config = _config(args.csv)
    candles, source = load_candles(config.data)
    t0 = time.perf_counter()
    sim = simulate(candles, config, cache_dir=args.cache_dir)
    out: dict[str, object] = {"simulate": time.perf_counter() - t0}
    if args.store is not None:
        t0 = time.perf_counter()  # the report's own imports count
        from lstm_backtrader.backtests.report.pieces import PieceStore
        from lstm_backtrader.backtests.run import write_run

        pieces = PieceStore(args.store)
        write_run(sim, config, args.out, source=source, command=["bench"], pieces=pieces)
        out |= {
            "seconds": time.perf_counter() - t0,
            "hits": pieces.stats.hits,
            "rendered": pieces.stats.rendered,
            "piece_seconds": pieces.stats.seconds,
            "loaded": [m for m in ("matplotlib", "quantstats", "tensorflow") if m in sys.modules],
        }
    print(json.dumps(out))
    return 0


def _child(args: argparse.Namespace, *extra: str) -> dict:  # type: ignore[type-arg]
    cmd = [sys.executable, __file__, "--phase", "--csv", str(args.csv)]
    done = subprocess.run(
        [*cmd, "--cache-dir", str(args.cache_dir), *extra], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"error: a benchmark process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _files(run_dir: Path) -> dict[str, bytes]:
    """Every file but the manifest, the page's footer line (the run's date and time) blanked."""
    footer = re.compile(rb"<p class='muted'>run [^<]*</p>")
    return {
        str(p.relative_to(run_dir)): footer.sub(b"", p.read_bytes())
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="candles CSV")
    parser.add_argument("--cache-dir", type=Path, default=None, help="fold cache (default: new)")
    parser.add_argument("--repeats", type=int, default=3, help="cached builds (median)")
    parser.add_argument("--target", type=float, default=2.0, help="cached build limit, s")
    parser.add_argument("--no-check", action="store_true", help="report only, never fail")
    parser.add_argument("--phase", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if csv_missing(args.csv):
        return 2
    if args.phase:
        return _phase(args)
    if args.repeats < 1:
        print("error: --repeats must be at least 1", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp_name:
        tmp = Path(tmp_name)
        args.cache_dir = args.cache_dir or tmp / "folds"
        t0 = time.perf_counter()
        _child(args)  # the walk-forward, into the fold cache (quick when it is warm already)
        t_wf = time.perf_counter() - t0
        store = tmp / "pieces"  # empty: the cold build renders every piece
        cold = _child(args, "--store", str(store), "--out", str(tmp / "cold"))
        cached = [
            _child(args, "--store", str(store), "--out", str(tmp / f"cached-{i}"))
            for i in range(args.repeats)
        ]
        reference = _files(tmp / "cold")
        differing = sorted(
            {
                name
                for i in range(args.repeats)
                for name, data in _files(tmp / f"cached-{i}").items()
                if reference.get(name) != data
            }
        )
    t_cold = float(cold["seconds"])
    times = [float(c["seconds"]) for c in cached]
    t_cached = statistics.median(times)
    pieces: dict[str, float] = cold["piece_seconds"]
    plots = sum(s for k, s in pieces.items() if k.startswith("plot-"))
    n_plots = sum(k.startswith("plot-") for k in pieces)
    rendered_again = sorted({k for c in cached for k in c["rendered"]})
    identical = not differing and len(reference) > 0
    rows = [
        ("walk-forward (fold cache)", f"{t_wf:8.1f} s", f"{args.cache_dir}"),
        (
            "report, cold",
            f"{t_cold:8.2f} s",
            f"{len(cold['rendered'])} pieces rendered; imports {', '.join(cold['loaded'])}",
        ),
        ("  tearsheet (quantstats)", f"{pieces.get('tearsheet', 0):8.2f} s", "rendering only"),
        (
            "  tearsheet notes",
            f"{pieces.get('tearsheet-notes', 0):8.2f} s",
            "page vs tearsheet figures, with the quantstats import",
        ),
        ("  figures (matplotlib)", f"{plots:8.2f} s", f"{n_plots} PNGs"),
        ("  Backtrader chart", f"{pieces.get('backtrader-chart', 0):8.2f} s", "replay + plot"),
        (
            "  page, summary, CSVs, manifest",
            f"{t_cold - sum(pieces.values()):8.2f} s",
            "everything but the pieces",
        ),
        (
            "report, cached",
            f"{t_cached:8.2f} s",
            f"median of {args.repeats}: " + " ".join(f"{t:.2f}" for t in times)
            + f"; {cached[0]['hits']} pieces reused, rendered again: {rendered_again or 'none'}; "
            + f"imports {', '.join(cached[0]['loaded']) or 'no matplotlib, quantstats or TF'}",
        ),
        ("cold / cached", f"{t_cold / t_cached:8.1f}x", ""),
        (
            "cached output byte-identical",
            f"{'yes' if identical else 'NO':>10}",
            f"{len(reference)} files (manifest.json and the page's footer line aside)"
            + (f"; differing: {', '.join(differing)}" if differing else ""),
        ),
    ]  # fmt: skip
    print(f"\n{'phase':40} {'value':>10}  detail")
    for name, value, detail in rows:
        print(f"{name:40} {value:>10}  {detail}")
    ok = t_cached <= args.target and identical and not rendered_again
    what = f"cached report <= {args.target:g} s, identical bytes, nothing rendered again"
    print(f"\ntarget: {what}: {'met' if ok else 'MISSED'}")
    return 0 if ok or args.no_check else 1


if __name__ == "__main__":
    raise SystemExit(main())
