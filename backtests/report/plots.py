"""Report figures as PNG bytes (matplotlib Agg, no pyplot, deterministic output).

Every function builds its own :class:`~matplotlib.figure.Figure` on an Agg canvas (no global
pyplot state, nothing shown), under a fixed set of rcParams (so a quantstats run earlier in the
process, which restyles matplotlib, cannot change our figures), and saves a PNG without the
``Software`` metadata. The same input gives byte-identical PNGs.

:func:`standard_plots` builds the report's set; :data:`PLOT_TITLES` holds their captions.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lstm_backtrader.backtests.report.pieces import PieceStore, cached
from lstm_backtrader.backtests.report.stats import StrategyRecordLike

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with this module
    from matplotlib.figure import Figure

__all__ = [
    "PLOT_TITLES",
    "drawdowns_png",
    "equity_curves_png",
    "fold_rmse_png",
    "forecast_vs_realised_png",
    "reliability_png",
    "rolling_direction_png",
    "standard_plots",
    "target_plots",
    "volatility_png",
]

#: Caption of each standard figure, keyed like :func:`standard_plots`' output.
PLOT_TITLES: dict[str, str] = {
    "equity": "Equity curves (growth of 1)",
    "equity_log": "Equity curves, log scale",
    "drawdowns": "Drawdowns",
    "forecast": "Forecast vs realised return",
    "direction": "Rolling directional accuracy vs always-up rate",
    "folds": "RMSE per walk-forward fold vs persistence",
    "backtrader": "Backtrader chart of the LSTM strategy (value, price with fills, forecast)",
    "reliability": "Reliability: observed frequency of “up” per forecast-probability bin",
    "volatility": "Forecast vs realised volatility (per bar, %)",
    "coverage": "Conformal interval coverage per walk-forward fold vs the nominal level",
}

_DPI = 100
_COLORS = ("#1f77b4", "#7f7f7f", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e", "#8c564b")
_RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": _DPI,
    "savefig.dpi": _DPI,
    "path.simplify": True,
}
#: Colours of a model and its baselines in the target figures (grey is the realised series').
_SERIES_COLORS = ("#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e")
#: What a figure's bytes depend on besides its inputs (keys of the report piece store).
PIECE_CODE = ("lstm_backtrader.backtests.report.plots",)
PIECE_PACKAGES = ("matplotlib", "numpy", "pandas", "pillow")

Equities = Mapping[str, pd.Series] | Sequence[StrategyRecordLike]


def _equities(data: Equities) -> dict[str, pd.Series]:
    if isinstance(data, Mapping):
        return {str(k): v for k, v in data.items()}
    return {r.name: r.equity for r in data}


def _render(draw: Any, figsize: tuple[float, float], **kwargs: Any) -> bytes:
    """Run ``draw(fig, **kwargs)`` on a fresh figure under :data:`_RC`; return PNG bytes.

    The figure is drawn once: the canvas prints the PNG directly (``Figure.savefig`` would
    first draw it a second time, for the layout engine ``tight_layout`` leaves behind).
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update({**_RC, "axes.prop_cycle": matplotlib.cycler(color=_COLORS)})
        fig = Figure(figsize=figsize, dpi=_DPI)
        canvas = FigureCanvasAgg(fig)
        draw(fig, **kwargs)
        fig.tight_layout()
        buf = io.BytesIO()
        canvas.print_png(buf, metadata={"Software": None})
    return buf.getvalue()


def _aligned(forecast: pd.Series, realised: pd.Series) -> pd.DataFrame:
    df = pd.concat({"forecast": forecast, "realised": realised}, axis=1, join="inner").dropna()
    if df.empty:
        raise ValueError("forecast and realised share no non-NaN bars")
    return df


def _log_axis(ax: Any, series: Sequence[pd.Series]) -> None:
    """Log y axis with plain-number labels dense enough for a narrow range."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    values = np.concatenate([s.to_numpy(dtype="float64") for s in series])
    values = values[np.isfinite(values) & (values > 0)]
    span = values.max() / values.min() if len(values) else 10.0
    ax.set_yscale("log")
    if span > 10:  # decades (and 2, 5 within them below two decades)
        subs = (1.0,) if span > 100 else (1.0, 2.0, 5.0)
        ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=subs))
    else:  # less than a decade: evenly spaced round numbers
        ax.yaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: f"{y:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


# --------------------------------------------------------------------------- figures


def equity_curves_png(
    equities: Equities, *, log_scale: bool = False, figsize: tuple[float, float] = (9, 4.5)
) -> bytes:
    """Equity curves of all strategies, each divided by its first value (growth of 1)."""
    curves = _equities(equities)

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        for name, eq in curves.items():
            ax.plot(eq.index, eq / eq.iloc[0], label=name, lw=1.2)
        if log_scale:
            _log_axis(ax, [eq / eq.iloc[0] for eq in curves.values()])
        ax.axhline(1.0, color="black", lw=0.6, alpha=0.5)
        ax.set_ylabel("growth of 1" + (" (log)" if log_scale else ""))
        ax.set_title(PLOT_TITLES["equity_log" if log_scale else "equity"])
        ax.legend(loc="upper left", frameon=False)

    return _render(draw, figsize)


def drawdowns_png(equities: Equities, *, figsize: tuple[float, float] = (9, 3.5)) -> bytes:
    """Drawdown ``E / running max - 1`` of every strategy, in percent."""
    curves = _equities(equities)

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        for name, eq in curves.items():
            dd = (eq / eq.cummax() - 1.0) * 100.0
            ax.plot(dd.index, dd, label=name, lw=1.0)
        ax.set_ylabel("drawdown (%)")
        ax.set_title(PLOT_TITLES["drawdowns"])
        ax.legend(loc="lower left", frameon=False)

    return _render(draw, figsize)


def forecast_vs_realised_png(
    forecast: pd.Series,
    realised: pd.Series,
    *,
    model_name: str = "LSTM",
    figsize: tuple[float, float] = (10, 4),
) -> bytes:
    """Left: forecast and realised return over time; right: scatter of realised on forecast with
    the zero lines (the quadrants are hits and misses of direction)."""
    df = _aligned(forecast, realised)

    def draw(fig: Figure) -> None:
        ax_t, ax_s = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
        ax_t.plot(df.index, df["realised"] * 100, lw=0.6, color="#7f7f7f", label="realised")
        ax_t.plot(df.index, df["forecast"] * 100, lw=1.0, color="#1f77b4", label=model_name)
        ax_t.axhline(0.0, color="black", lw=0.6)
        ax_t.set_ylabel("return (%)")
        ax_t.set_title(PLOT_TITLES["forecast"])
        ax_t.legend(loc="upper left", frameon=False)
        ax_s.scatter(df["forecast"] * 100, df["realised"] * 100, s=6, alpha=0.5, lw=0)
        ax_s.axhline(0.0, color="black", lw=0.6)
        ax_s.axvline(0.0, color="black", lw=0.6)
        ax_s.set_xlabel(f"{model_name} forecast (%)")
        ax_s.set_ylabel("realised (%)")
        ax_s.set_title(f"n = {len(df)}")

    return _render(draw, figsize)


def rolling_direction_png(
    forecast: pd.Series,
    realised: pd.Series,
    *,
    window: int = 60,
    model_name: str = "LSTM",
    figsize: tuple[float, float] = (9, 3.5),
) -> bytes:
    """Rolling share of bars where ``sign(forecast) == sign(realised)`` (the definition of
    :func:`lstm_backtrader.models.metrics.directional_accuracy`) beside the rolling always-up rate
    (share of realised returns > 0) of the same window, and the 50% line."""
    if window < 2:
        raise ValueError(f"window must be >= 2, got {window}")
    df = _aligned(forecast, realised)
    hit = pd.Series(
        np.sign(df["forecast"].to_numpy()) == np.sign(df["realised"].to_numpy()), index=df.index
    ).astype(float)
    up = (df["realised"] > 0).astype(float)
    w = min(window, len(df))
    acc = hit.rolling(w).mean() * 100
    up_rate = up.rolling(w).mean() * 100

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        ax.plot(acc.index, acc, lw=1.2, label=f"{model_name} directional accuracy")
        ax.plot(up_rate.index, up_rate, lw=1.0, ls="--", color="#7f7f7f", label="always-up rate")
        ax.axhline(50.0, color="black", lw=0.6, alpha=0.6)
        ax.set_ylabel(f"% over {w} bars")
        ax.set_title(PLOT_TITLES["direction"])
        ax.legend(loc="upper left", frameon=False)

    return _render(draw, figsize)


def fold_rmse_png(
    folds: pd.DataFrame, *, model_name: str = "LSTM", figsize: tuple[float, float] = (9, 5)
) -> bytes:
    """RMSE of each walk-forward fold (columns ``fold``, ``rmse`` and optionally
    ``baseline_rmse``, the persistence RMSE of the same bars): grouped bars, and with a baseline
    a second panel of the ratio ``rmse / baseline_rmse`` around 1 (below 1: model better)."""
    missing = {"fold", "rmse"} - set(folds.columns)
    if missing:
        raise ValueError(f"fold table lacks columns {sorted(missing)}")
    has_base = "baseline_rmse" in folds.columns
    x = np.arange(len(folds))
    labels = [str(f) for f in folds["fold"]]
    rmse = pd.to_numeric(folds["rmse"]).to_numpy(dtype="float64")
    base = pd.to_numeric(folds["baseline_rmse"]).to_numpy(dtype="float64") if has_base else None
    step = max(1, len(x) // 20)

    def draw(fig: Figure) -> None:
        axes = fig.subplots(2, 1, sharex=True) if has_base else [fig.add_subplot()]
        ax = axes[0]
        width = 0.4 if has_base else 0.8
        ax.bar(x - (width / 2 if has_base else 0), rmse, width, label=model_name)
        if base is not None:
            ax.bar(x + width / 2, base, width, color="#7f7f7f", label="persistence")
        ax.set_ylabel("RMSE")
        ax.set_title(PLOT_TITLES["folds"])
        ax.legend(loc="upper left", frameon=False, ncols=2)
        if base is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = rmse / base
            colors = np.where(ratio < 1, "#2ca02c", "#d62728")
            axes[1].bar(x, ratio - 1.0, 0.8, bottom=1.0, color=colors)
            axes[1].axhline(1.0, color="black", lw=0.8)
            axes[1].set_ylabel(f"{model_name} / persistence")
        axes[-1].set_xticks(x[::step], labels[::step])
        axes[-1].set_xlabel("fold")

    return _render(draw, figsize)


def reliability_png(
    probs: Mapping[str, pd.Series],
    outcome: pd.Series,
    *,
    bins: int = 10,
    figsize: tuple[float, float] = (6.5, 5),
) -> bytes:
    """Reliability diagram of probability forecasts (name -> series) of a 0/1 ``outcome``:
    per equal-width bin, the mean forecast against the observed frequency (marker size ~ the
    bin's count), the diagonal of perfect calibration and the outcome's base rate."""
    from lstm_backtrader.models.metrics.target_metrics import reliability_table

    frame = pd.DataFrame({**probs, "_y": outcome}).dropna()
    if frame.empty:
        raise ValueError("probabilities and outcome share no non-NaN bars")
    tables = {name: reliability_table(frame[name], frame["_y"], bins) for name in probs}
    rate = float(frame["_y"].mean())

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color="black", lw=0.6, ls=":", label="perfectly calibrated")
        ax.axhline(rate, color="#7f7f7f", lw=0.8, ls="--", label=f"base rate {rate:.1%}")
        for (name, table), color in zip(tables.items(), _SERIES_COLORS, strict=False):
            size = 10 + 200 * table["count"] / max(1, int(table["count"].max()))
            x, y = table["mean_predicted"], table["observed_frequency"]
            ax.plot(x, y, lw=1.0, color=color, label=name)
            ax.scatter(x, y, s=size, alpha=0.6, color=color)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("forecast probability (bin mean)")
        ax.set_ylabel("observed frequency of up")
        ax.set_title(f"{PLOT_TITLES['reliability']} (n = {len(frame)})", fontsize=9)
        ax.legend(loc="upper left", frameon=False)

    return _render(draw, figsize)


def volatility_png(
    forecasts: Mapping[str, pd.Series],
    realised: pd.Series,
    *,
    figsize: tuple[float, float] = (10, 4),
) -> bytes:
    """Volatility forecasts (name -> log-volatility series) against the realised log
    volatility of the same bars, drawn as volatility in % (``100 exp(·)``): over time on a
    log axis, and a scatter of realised on the first forecast."""
    frame = pd.DataFrame({**forecasts, "_y": realised}).dropna()
    if frame.empty:
        raise ValueError("forecasts and realised share no non-NaN bars")
    vol = 100.0 * np.exp(frame)
    first = next(iter(forecasts))

    def draw(fig: Figure) -> None:
        ax_t, ax_s = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
        ax_t.plot(vol.index, vol["_y"], lw=0.5, color="#7f7f7f", label="realised")
        for name, color in zip(forecasts, _SERIES_COLORS, strict=False):
            ax_t.plot(vol.index, vol[name], lw=1.0, color=color, label=name)
        _log_axis(ax_t, [vol[c] for c in vol.columns])
        ax_t.set_ylabel("volatility per bar (%)")
        ax_t.set_title(PLOT_TITLES["volatility"])
        ax_t.legend(loc="upper left", frameon=False, ncols=3)
        ax_s.scatter(vol[first], vol["_y"], s=6, alpha=0.5, lw=0)
        lo, hi = float(vol.min().min()), float(vol.max().max())
        ax_s.plot([lo, hi], [lo, hi], color="black", lw=0.6, ls=":")
        ax_s.set_xscale("log")
        ax_s.set_yscale("log")
        ax_s.set_xlabel(f"{first} forecast (%)")
        ax_s.set_ylabel("realised (%)")
        ax_s.set_title(f"n = {len(frame)}")

    return _render(draw, figsize)


def target_plots(
    target: str,
    forecasts: Mapping[str, pd.Series],
    realised: pd.Series,
    *,
    store: PieceStore | None = None,
) -> dict[str, bytes]:
    """The figure of a direction (``reliability``) or volatility (``volatility``) target:
    the model's forecasts and its baselines' (name -> series, the model first) on the
    out-of-sample bars; none for the return target."""
    if target not in ("direction", "volatility"):
        return {}
    name = "reliability" if target == "direction" else "volatility"

    def render() -> bytes:
        if target == "direction":
            return reliability_png(forecasts, realised)
        return volatility_png(forecasts, realised)

    inputs = {"forecasts": dict(forecasts), "realised": realised, "target": target}
    return {
        name: cached(
            store, f"plot-{name}", "png", render, inputs, code=PIECE_CODE, packages=PIECE_PACKAGES
        )
    }


def fold_coverage_png(
    folds: pd.DataFrame, level: float, *, figsize: tuple[float, float] = (9, 3.5)
) -> bytes:
    """Realised coverage of each fold's conformal intervals (column ``coverage``; NaN folds
    left empty) with the nominal ``level`` as a dashed line."""
    x = np.arange(len(folds))
    labels = [str(f) for f in folds["fold"]]
    cov = pd.to_numeric(folds["coverage"]).to_numpy(dtype="float64")
    step = max(1, len(x) // 20)

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        ax.bar(x, cov, 0.8, color=np.where(cov < level, "#d62728", "#2ca02c"))
        ax.axhline(level, color="black", lw=0.8, ls="--", label=f"nominal {level:g}")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("coverage")
        ax.set_title(PLOT_TITLES["coverage"])
        ax.legend(loc="lower left", frameon=False)
        ax.set_xticks(x[::step], labels[::step])
        ax.set_xlabel("fold")

    return _render(draw, figsize)


def standard_plots(
    equities: Equities,
    *,
    forecast: pd.Series | None = None,
    realised: pd.Series | None = None,
    folds: pd.DataFrame | None = None,
    window: int = 60,
    model_name: str = "LSTM",
    store: PieceStore | None = None,
    level: float | None = None,
) -> dict[str, bytes]:
    """The report's figures keyed like :data:`PLOT_TITLES` (forecast figures only when both
    ``forecast`` and ``realised`` are given, the fold figure only with ``folds``, the coverage
    figure only with ``level``, the intervals' nominal level, and a ``coverage`` fold column).

    With a ``store`` (:class:`~lstm_backtrader.backtests.report.pieces.PieceStore`), a figure
    whose inputs, code and library versions are unchanged is read back instead of drawn.
    """
    curves = _equities(equities)

    def piece(name: str, render: Callable[[], bytes], **inputs: Any) -> bytes:
        return cached(
            store, f"plot-{name}", "png", render, inputs, code=PIECE_CODE, packages=PIECE_PACKAGES
        )

    out = {
        "equity": piece("equity", lambda: equity_curves_png(curves), curves=curves),
        "equity_log": piece(
            "equity_log", lambda: equity_curves_png(curves, log_scale=True), curves=curves
        ),
        "drawdowns": piece("drawdowns", lambda: drawdowns_png(curves), curves=curves),
    }
    if forecast is not None and realised is not None:
        pair = {"forecast": forecast, "realised": realised, "model_name": model_name}
        out["forecast"] = piece(
            "forecast", lambda: forecast_vs_realised_png(forecast, realised, model_name=model_name),
            **pair,
        )  # fmt: skip
        out["direction"] = piece(
            "direction",
            lambda: rolling_direction_png(forecast, realised, window=window, model_name=model_name),
            window=window,
            **pair,
        )
    if folds is not None and len(folds):
        used = folds[[c for c in ("fold", "rmse", "baseline_rmse") if c in folds.columns]]
        out["folds"] = piece(
            "folds", lambda: fold_rmse_png(folds, model_name=model_name),
            folds=used, model_name=model_name,
        )  # fmt: skip
    if level is not None and folds is not None and len(folds) and "coverage" in folds.columns:
        used = folds[["fold", "coverage"]]
        out["coverage"] = piece(
            "coverage", lambda: fold_coverage_png(used, level), folds=used, level=level
        )
    return out
