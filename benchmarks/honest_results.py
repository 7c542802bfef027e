"""The README's "Honest results": every target's default run on the real daily BTC/USDT candles.

Run ``.venv/bin/python benchmarks/honest_results.py [CSV] [--out DIR]`` from the repo root
(default CSV: ``../shared/data/btc_usdt_1d_binance.csv``). It runs ``lstm-bt backtest`` once per
shipped config — ``configs/example.toml`` (target ``return``), ``configs/direction.toml`` and
``configs/volatility.toml`` — on that file with every setting as shipped (nothing tuned), then
prints one markdown table of every strategy of the three runs, on the same out-of-sample bars
as its run's buy & hold:

* annualised Sharpe (365 periods a year), PSR (probability that the true Sharpe exceeds 0),
  PSR against buy & hold's Sharpe (probability that it exceeds buy & hold's), both from
  :func:`lstm_backtrader.models.metrics.sharpe_stats` on the bar returns;
* DSR over the **true number of trials**: every strategy the three runs report except buy &
  hold counts as one trial, and ``V`` is the variance of their per-bar Sharpe ratios, so the
  best-looking one is deflated for having been picked among all of them;

and each run's forecast figures from its ``summary.json`` (``--json`` writes everything).
Not part of the test suite: one market, one period — a measurement, not a claim.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from benchdata import DEFAULT_CSV  # benchmarks/ helper (script dir)

from lstm_backtrader.models.metrics import sharpe_ratio, sharpe_stats

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {
    "return": ROOT / "configs" / "example.toml",
    "direction": ROOT / "configs" / "direction.toml",
    "volatility": ROOT / "configs" / "volatility.toml",
}
PPY = 365.0
BUY_AND_HOLD = "Buy & hold"


def with_intervals(config: Path, out: Path) -> Path:
    """The shipped config with 90% split conformal intervals switched on (they only add the
    ``lower``/``upper`` columns and the coverage figures: forecasts and trades are unchanged)."""
    text = config.read_text()
    if "\n[intervals]" in text:  # the documented table (off): switch its level on
        head, table = text.split("\n[intervals]", 1)
        table = re.sub(r"(?m)^level = [0-9.]+", "level = 0.9", table, count=1)
        text = head + "\n[intervals]" + table
    else:
        text += "\n[intervals]\nlevel = 0.9\n"
    derived = out / "configs" / config.name
    derived.parent.mkdir(parents=True, exist_ok=True)
    derived.write_text(text)
    return derived


def run(config: Path, csv: Path, out: Path) -> Path:
    """One ``lstm-bt backtest``; returns its run folder."""
    reports = out / config.stem
    config = with_intervals(config, out)
    cmd = [
        str(Path(sys.executable).with_name("lstm-bt")),
        "backtest",
        "--config",
        str(config),
        "--data",
        str(csv),
        "--reports-dir",
        str(reports),
        "--cache-dir",
        str(out / "cache"),
    ]
    subprocess.run(cmd, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return (reports / "latest").resolve()


def bar_returns(equity: pd.Series) -> np.ndarray:
    values = equity.dropna().to_numpy(dtype="float64")
    return values[1:] / values[:-1] - 1.0


def forecast_lines(summary: dict) -> list[str]:
    """The forecast's scores against its baselines, and the interval coverage, in a line each."""
    out: list[str] = []
    fc = summary.get("forecast") or {}
    if "rmse_ratio" in fc:
        d = fc["directional"]
        out.append(
            f"RMSE / persistence {fc['rmse_ratio']:.4f} "
            f"(DM p {fc['dm_vs_baseline']['p_value']:.2f}); "
            f"direction {d['accuracy']:.3f} vs always-up {d['always_up_rate']:.3f}"
        )
    for name, c in ((summary.get("target") or {}).get("comparisons") or {}).items():
        if "qlike_ratio" in c:
            out.append(
                f"vs {name}: QLIKE {c['qlike_ratio']:.3f} (DM p {c['dm_qlike']['p_value']:.2g}), "
                f"MSE log var {c['mse_log_var_ratio']:.3f} (p {c['dm_mse_log_var']['p_value']:.2g})"
            )
        elif "log_loss_ratio" in c:
            out.append(
                f"vs {name}: log loss {c['log_loss_ratio']:.4f} "
                f"(DM p {c['dm_log_loss']['p_value']:.2f}), "
                f"Brier {c['brier_ratio']:.4f} (p {c['dm_brier']['p_value']:.2f})"
            )
    iv = summary.get("intervals")
    if iv:
        out.append(f"intervals: {json.dumps(iv, default=str)[:300]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--out", type=Path, default=Path("/tmp/lstm-bt-honest"))
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = parser.parse_args()
    if not args.csv.exists():
        sys.exit(f"{args.csv}: not found (the real candles live in ../shared/data/)")
    runs = {target: run(cfg, args.csv, args.out) for target, cfg in CONFIGS.items()}

    rows: list[dict[str, object]] = []
    for target, folder in runs.items():
        equity = pd.read_csv(folder / "equity.csv", index_col=0, parse_dates=True)
        bh = bar_returns(equity[BUY_AND_HOLD])
        for name in equity.columns:
            r = bar_returns(equity[name])
            rows.append(
                {"target": target, "strategy": name, "returns": r, "bh_sr": sharpe_ratio(bh)}
            )
    trials = [row for row in rows if row["strategy"] != BUY_AND_HOLD]
    srs = [sharpe_ratio(row["returns"]) for row in trials]
    srs = [s for s in srs if math.isfinite(s)]
    var_sr = float(np.var(srs, ddof=1)) if len(srs) >= 2 else 0.0

    table: list[dict[str, object]] = []
    for row in rows:
        is_trial = row["strategy"] != BUY_AND_HOLD
        st = sharpe_stats(
            row["returns"],
            PPY,
            n_trials=len(trials) if is_trial else 1,
            var_trials_sr=var_sr if is_trial else 0.0,
        )
        vs_bh = sharpe_stats(row["returns"], PPY, sr_benchmark=float(row["bh_sr"]))
        table.append(
            {
                "target": row["target"],
                "strategy": row["strategy"],
                "bars": st.n,
                "sharpe": st.sharpe_annualised,
                "psr": st.psr,
                "psr_vs_bh": vs_bh.psr if is_trial else None,
                "dsr": st.dsr if is_trial else None,
            }
        )

    def fmt(v: object, digits: int = 2) -> str:
        return (
            "–"
            if v is None or (isinstance(v, float) and not math.isfinite(v))
            else f"{v:.{digits}f}"
        )

    print(
        f"trials for the DSR: {len(trials)}, variance of their per-bar Sharpe ratios {var_sr:.3g}"
    )
    print("| target | strategy | bars | Sharpe | PSR (SR > 0) | PSR (SR > B&H) | DSR |")
    print("|---|---|---|---|---|---|---|")
    for t in table:
        print(
            f"| {t['target']} | {t['strategy']} | {t['bars']} | {fmt(t['sharpe'])} | "
            f"{fmt(t['psr'])} | {fmt(t['psr_vs_bh'])} | {fmt(t['dsr'])} |"
        )
    summaries = {target: json.loads((f / "summary.json").read_text()) for target, f in runs.items()}
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "runs": {t: str(f) for t, f in runs.items()},
                    "table": table,
                    "n_trials": len(trials),
                    "var_trials_sr": var_sr,
                    "summaries": summaries,
                },
                indent=2,
                default=str,
            )
        )
    for target, summary in summaries.items():
        print(f"{target}: {runs[target]}")
        for line in forecast_lines(summary):
            print(f"  {line}")


if __name__ == "__main__":
    main()
