"""The look-ahead audit behind ``lstm-bt audit``.

Reruns the whole pipeline (walk-forward forecasts and every strategy) on the series cut after
several points T, and separately with every bar after T replaced by noise, and checks that each
forecast, fill and equity value up to T is identical to the full run's. Any difference is a
leak; the first one is named. The noise variant replaces joined exogenous columns after T too;
:func:`audit_exogenous` checks the as-of join itself (main and exogenous data altered after T,
joined again: every joined value up to T identical).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lstm_backtrader.backtests.config import RunConfig
from lstm_backtrader.backtests.data.exogenous import ExogenousSeries, JoinReport, join_exogenous
from lstm_backtrader.backtests.simulation import ForecastFn, Simulation, simulate
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.targets import REALIZED_VAR

logger = logging.getLogger(__name__)

#: A join of exogenous series onto candles (:func:`join_exogenous`'s signature).
JoinFn = Callable[[pd.DataFrame, list[ExogenousSeries]], tuple[pd.DataFrame, list[JoinReport]]]


@dataclass(frozen=True)
class AuditCheck:
    """One variant (``cut`` or ``noise``) at one point T."""

    point: pd.Timestamp
    variant: str
    identical: bool
    first_difference: str | None


def noise_after(candles: pd.DataFrame, t_pos: int, seed: int = 0) -> pd.DataFrame:
    """``candles`` with every bar after position ``t_pos`` replaced by a valid random walk."""
    out = candles.copy()
    n = len(candles) - t_pos - 1
    if n <= 0:
        return out
    rng = np.random.default_rng(seed)
    close = float(candles["close"].iloc[t_pos]) * np.exp(np.cumsum(rng.normal(0, 0.05, n)))
    open_ = np.concatenate([[float(candles["close"].iloc[t_pos])], close[:-1]])
    spread = np.abs(rng.normal(0, 0.02, n)) * close
    out.iloc[t_pos + 1 :, out.columns.get_loc("open")] = open_
    out.iloc[t_pos + 1 :, out.columns.get_loc("close")] = close
    out.iloc[t_pos + 1 :, out.columns.get_loc("high")] = np.maximum(open_, close) + spread
    out.iloc[t_pos + 1 :, out.columns.get_loc("low")] = np.minimum(open_, close) - spread / 2
    out.iloc[t_pos + 1 :, out.columns.get_loc("volume")] = rng.lognormal(7, 1, n)
    for col in out.columns:  # joined exogenous columns, realised variance: noise after T too
        if col == REALIZED_VAR:  # a variance: positive noise
            out.iloc[t_pos + 1 :, out.columns.get_loc(col)] = rng.lognormal(-8, 1, n)
        elif col not in ("open", "high", "low", "close", "volume"):
            out.iloc[t_pos + 1 :, out.columns.get_loc(col)] = rng.normal(0, 0.05, n)
    return out


def _noise_series(series: ExogenousSeries, after: pd.Timestamp, seed: int) -> ExogenousSeries:
    """``series`` with every value not known at ``after`` (a main bar's close) replaced."""
    frame = series.frame
    known_at = frame.index + (series.step() if series.kind == "candles" else pd.Timedelta(0))
    pos = (
        int(np.searchsorted(known_at.as_unit("ns").asi8, after.as_unit("ns").value, side="right"))
        - 1
    )
    if series.kind == "candles":
        noisy = noise_after(frame, pos, seed=seed) if pos >= 0 else frame
    else:
        noisy = frame.copy()
        n = len(frame) - pos - 1
        noisy.iloc[pos + 1 :, 0] = np.random.default_rng(seed).normal(0, 1e-3, n)
    return dataclasses.replace(series, frame=noisy)


def audit_exogenous(
    candles: pd.DataFrame,
    series: Sequence[ExogenousSeries],
    points: Sequence[int],
    *,
    join: JoinFn = join_exogenous,
) -> list[AuditCheck]:
    """The join's truncation check: alter every main bar after T and every exogenous value
    not known at T's close, join again: every joined value up to T must be identical.

    ``join`` replaces :func:`~lstm_backtrader.backtests.data.exogenous.join_exogenous` (the
    tests pass a deliberately leaky join to show that this catches it).
    """
    full, _ = join(candles, list(series))
    step = full.index[1:] - full.index[:-1]
    main_step = pd.Timedelta(pd.Series(step).mode().min())
    checks = []
    for k, pos in enumerate(points):
        cutoff = candles.index[pos]
        altered = [_noise_series(s, cutoff + main_step, seed=k + 1) for s in series]
        other, _ = join(noise_after(candles, pos, seed=k + 1), altered)
        diff = None
        for col in full.columns:
            bad = ~_same_values(full[col][:cutoff], other[col][:cutoff])
            if bad.any():
                diff = f"{col} at {full.index[: pos + 1][bad][0].isoformat()} differs"
                break
        checks.append(AuditCheck(cutoff, "exogenous", diff is None, diff))
    return checks


def default_points(candles: pd.DataFrame, config: RunConfig, n: int = 3) -> list[int]:
    """``n`` cut positions spread over the out-of-sample period (not on its edges).

    Raises
    ------
    InputError
        When ``n`` < 1: an audit of no point would pass without checking anything.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"--points is {n!r}: check at least 1 cut point")
    start, stop = config.walkforward.train_bars, len(candles) - 1
    if stop - start < n + 1:
        return [max(start, stop - 1)]
    return [int(p) for p in np.linspace(start, stop, n + 2)[1:-1]]


def _same_values(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise equality of two aligned columns by value (NaN equals NaN; dtypes ignored,
    so an empty object column equals an empty float one)."""
    va, vb = a.to_numpy(dtype=object), b.to_numpy(dtype=object)
    out = np.empty(len(va), dtype=bool)
    for i, (x, y) in enumerate(zip(va, vb, strict=True)):
        out[i] = bool(x == y) or (pd.isna(x) and pd.isna(y))
    return out


def _first_row_difference(fa: pd.DataFrame, fb: pd.DataFrame) -> int | None:
    """Index of the first row that differs in value between two tables (None: identical)."""
    n = min(len(fa), len(fb))
    same = np.ones(n, dtype=bool)
    for col in fa.columns:
        if col not in fb.columns:
            return 0 if n else None
        same &= _same_values(fa[col].iloc[:n], fb[col].iloc[:n])
    if not same.all():
        return int(np.flatnonzero(~same)[0])
    return n if len(fa) != len(fb) else None


def _series(sim: Simulation) -> dict[str, pd.Series]:
    """Every per-bar output of a run the audit compares: the LSTM's forecast, its
    indicator's ``prob`` and ``vol`` lines and each baseline's forecast (other targets), and the
    walk-forward's ``spread``, ``lower`` and ``upper`` when present."""
    out = {"forecast": sim.forecasts}
    if sim.lines is not None:
        out.update({f"{name} line": sim.lines[name] for name in sim.lines.columns})
    out.update({f"{kind} forecast": series for kind, series in sim.baselines.items()})
    if sim.uncertainty is not None:  # spread, conformal lower and upper
        out.update({str(name): sim.uncertainty[name] for name in sim.uncertainty.columns})
    return out


def _first_difference(full: Simulation, other: Simulation, cutoff: pd.Timestamp) -> str | None:
    theirs = _series(other)
    for what, series in _series(full).items():
        a, b = series[:cutoff], theirs[what][:cutoff]
        if not a.index.equals(b.index):
            return f"{what} bars up to {cutoff.isoformat()} differ ({len(a)} vs {len(b)})"
        diff = ~_same_values(a, b)
        if diff.any():
            ts = a.index[diff][0]
            return f"{what} at {ts.isoformat()}: {float(a[ts])!r} (full data) vs {float(b[ts])!r}"
    for name, rec in full.records.items():
        rec_b = other.records[name]
        fa = rec.fills[rec.fills["time"] <= cutoff].reset_index(drop=True)
        fb = rec_b.fills[rec_b.fills["time"] <= cutoff].reset_index(drop=True)
        i = _first_row_difference(fa, fb)
        if i is not None:
            where = fa["time"].iloc[i] if i < len(fa) else fb["time"].iloc[i]
            return f"{name}: fill #{i + 1} at {pd.Timestamp(where).isoformat()} differs"
        ea, eb = rec.equity[:cutoff], rec_b.equity[:cutoff]
        if not ea.index.equals(eb.index):
            return f"{name}: equity bars up to {cutoff.isoformat()} differ"
        bad = ~_same_values(ea, eb)
        if bad.any():
            return f"{name}: equity at {ea.index[bad][0].isoformat()} differs"
    return None


def _join_checks(
    candles: pd.DataFrame,
    config: RunConfig,
    points: Sequence[int],
    on_check: Callable[[AuditCheck], None] | None,
) -> list[AuditCheck]:
    """:func:`audit_exogenous` of a run's ``[[data.features]]``: the series are read again (from
    their files or the download cache) and joined onto the run's own candle columns."""
    from lstm_backtrader.backtests.data.exogenous_load import load_series

    main = candles[["open", "high", "low", "close", "volume"]]
    entries = config.data.features
    series = [load_series(e, k, main.index[0], config.data.until) for k, e in enumerate(entries, 1)]
    checks = audit_exogenous(main, series, points)
    for check in checks:
        if on_check is not None:
            on_check(check)
    return checks


def audit(
    candles: pd.DataFrame,
    config: RunConfig,
    *,
    points: Sequence[int] | None = None,
    cache_dir: Path | None = None,
    forecast_fn: ForecastFn | None = None,
    on_check: Callable[[AuditCheck], None] | None = None,
) -> list[AuditCheck]:
    """Run the truncation and noise checks at each position in ``points``; with
    ``[[data.features]]`` in ``config``, first the join's own check at the same points
    (:func:`audit_exogenous` on the series read again: variant ``exogenous``)."""
    points = list(points if points is not None else default_points(candles, config))
    checks: list[AuditCheck] = []
    if config.data.features:
        checks.extend(_join_checks(candles, config, points, on_check))
    full = simulate(candles, config, cache_dir=cache_dir, forecast_fn=forecast_fn)
    for pos in points:
        cutoff = candles.index[pos]
        variants = {"cut": candles.iloc[: pos + 1], "noise": noise_after(candles, pos)}
        for variant, data in variants.items():
            if variant == "cut" and len(data) <= config.walkforward.train_bars + 1:
                continue
            other = simulate(
                data,
                config,
                cache_dir=cache_dir,
                forecast_fn=forecast_fn,
                whole_data=variant != "cut",  # a cut's out-of-sample part is shorter
            )
            diff = _first_difference(full, other, cutoff)
            check = AuditCheck(cutoff, variant, diff is None, diff)
            checks.append(check)
            if on_check is not None:
                on_check(check)
    return checks
