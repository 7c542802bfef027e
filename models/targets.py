"""The forecast targets (labels) and the causal per-bar variance they are built from.

A target looks into the future by construction and its name says so:

``target_fwd_ret_{h}``
    ``log(close[t+h] / close[t])`` (:func:`~lstm_backtrader.models.features.target_fwd_ret`).
``target_fwd_up_{h}``
    1.0 when ``target_fwd_ret_{h}`` > ``threshold`` (``ForecasterConfig.direction_threshold``,
    a log return: a backtest sets it to the round-trip cost), else 0.0; NaN where the return
    is unknown (the last h bars).
``target_fwd_logvol_{h}``
    ``0.5 * log(sum_{i=1..h} var[t+i])``: the log of the realised volatility over bars
    t+1..t+h, where ``var`` is the per-bar variance of :func:`bar_variance` (a range estimator,
    or the realised variance of the bar's intrabar candles); NaN on the last h bars and
    wherever a bar of the window has no variance.

:func:`bar_variance` is causal (bar t's value uses bar t's own open/high/low/close only, or
its ``realized_var``, which sums intrabar returns that end at bar t's close): it is what
features and the volatility baselines read. Forecasts of a target are named
``forecast_fwd_{ret,up,logvol}_{h}``. No TensorFlow import here.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.features import check_candles, target_fwd_ret
from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)

#: Lowest per-bar variance: a bar with no range (high == low, e.g. a halted market or a
#: one-trade hour) would otherwise give a variance of 0 and a log volatility of -inf. 1e-10
#: is a volatility of 1e-5 (0.1 basis point) per bar, far below any traded bar's, so only
#: such degenerate bars are affected.
VAR_FLOOR = 1e-10

_LN2 = float(np.log(2.0))

#: Probability forecasts are kept in [PROB_EPS, 1 - PROB_EPS] (a float32 sigmoid saturates at
#: exactly 0 or 1, where the log loss is infinite); also the clip of the training loss.
PROB_EPS = 1e-7

#: target -> the stem of its label and forecast names.
STEMS: dict[str, str] = {"return": "fwd_ret", "direction": "fwd_up", "volatility": "fwd_logvol"}

#: The candle-frame column of the per-bar realised variance (``vol_estimator = 'realized'``),
#: joined from an intrabar file by :mod:`lstm_backtrader.backtests.data.intrabar`.
REALIZED_VAR = "realized_var"

#: vol_estimator -> the candle columns :func:`bar_variance` reads.
VARIANCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "garman_klass": ("open", "high", "low", "close"),
    "parkinson": ("high", "low"),
    "realized": (REALIZED_VAR,),
}


def bar_variance(candles: pd.DataFrame, estimator: str = "garman_klass") -> pd.Series:
    """Per-bar variance of log prices (causal: bar t only).

    * ``'parkinson'`` (Parkinson 1980): ``(ln H - ln L)^2 / (4 ln 2)``.
    * ``'garman_klass'`` (Garman & Klass 1980):
      ``0.5 (ln H/L)^2 - (2 ln 2 - 1) (ln C/O)^2``; for a consistent bar
      (``L <= O, C <= H``) it is >= ``(1.5 - 2 ln 2)(ln H/L)^2`` >= 0.
    * ``'realized'``: the frame's ``realized_var`` column, the sum of the squared intrabar
      close-to-close log returns inside the bar
      (:func:`lstm_backtrader.backtests.data.intrabar.realized_variance`, joined by
      ``[data] intrabar``); known at the bar's close, NaN where the intrabar coverage is
      incomplete.

    All are floored at :data:`VAR_FLOOR` (zero-range bars give a finite log); NaN where a
    price is missing or not positive.

    Raises
    ------
    InputError
        An unknown estimator, or ``'realized'`` on a frame without a ``realized_var`` column.

    Returns
    -------
    pandas.Series
        Named ``bar_var_{estimator}``, indexed like ``candles``.
    """
    if estimator == "realized":
        check_candles(candles, columns=(), what="bar_variance candles")
        if REALIZED_VAR not in candles.columns:
            raise InputError(
                f"vol_estimator 'realized' needs the column {REALIZED_VAR!r}: set [data] intrabar "
                "to a higher-frequency candle file of the same market"
            )
        var = pd.to_numeric(candles[REALIZED_VAR], errors="coerce").to_numpy("float64")
        var = np.where(np.isfinite(var) & (var >= 0), np.maximum(var, VAR_FLOOR), np.nan)
        return pd.Series(var, index=candles.index, name=f"bar_var_{estimator}")
    cols = ("high", "low") if estimator == "parkinson" else ("open", "high", "low", "close")
    check_candles(candles, columns=cols, what="bar_variance candles")
    with np.errstate(divide="ignore", invalid="ignore"):
        hl = np.log(candles["high"].to_numpy("float64") / candles["low"].to_numpy("float64"))
        if estimator == "parkinson":
            var = hl**2 / (4.0 * _LN2)
        elif estimator == "garman_klass":
            co = np.log(candles["close"].to_numpy("float64") / candles["open"].to_numpy("float64"))
            var = 0.5 * hl**2 - (2.0 * _LN2 - 1.0) * co**2
        else:
            raise InputError(
                f"vol_estimator is {estimator!r}: use 'garman_klass', 'parkinson' or 'realized'"
            )
    var = np.where(np.isfinite(var), np.maximum(var, VAR_FLOOR), np.nan)
    return pd.Series(var, index=candles.index, name=f"bar_var_{estimator}")


def forward_sum(values: np.ndarray, h: int) -> np.ndarray:
    """``out[t] = sum(values[t+1..t+h])``; NaN on the last h rows or when any term is NaN."""
    n = len(values)
    out = np.full(n, np.nan)
    if n > h:
        csum = np.concatenate([[0.0], np.cumsum(np.nan_to_num(values, nan=0.0))])
        bad = np.concatenate([[0], np.cumsum(~np.isfinite(values))])
        t = np.arange(n - h)
        sums = csum[t + h + 1] - csum[t + 1]
        ok = bad[t + h + 1] == bad[t + 1]
        out[: n - h] = np.where(ok, sums, np.nan)
    return out


def target_fwd_up(close: pd.Series, h: int = 1, threshold: float = 0.0) -> pd.Series:
    """``target_fwd_up_{h}``: 1.0 if ``log(close[t+h]/close[t]) > threshold`` else 0.0, NaN
    where unknown (the last h bars). A label: it looks h bars ahead."""
    ret = target_fwd_ret(close, h).to_numpy()
    out = np.where(np.isfinite(ret), (ret > threshold).astype("float64"), np.nan)
    return pd.Series(out, index=close.index, name=f"target_fwd_up_{h}")


def target_fwd_logvol(
    candles: pd.DataFrame, h: int = 1, estimator: str = "garman_klass"
) -> pd.Series:
    """``target_fwd_logvol_{h}``: ``0.5 * log(sum of bar_variance over bars t+1..t+h)``, the
    log realised volatility of the next h bars (NaN where unknown). A label."""
    if h < 1:
        raise InputError(f"horizon is {h}: use an integer >= 1")
    var = bar_variance(candles, estimator).to_numpy()
    out = 0.5 * np.log(forward_sum(var, h))
    return pd.Series(out, index=candles.index, name=f"target_fwd_logvol_{h}")


def target_name(config: ForecasterConfig) -> str:
    """``target_fwd_{ret,up,logvol}_{h}`` of ``config``."""
    return f"target_{STEMS[config.target]}_{config.horizon}"


def forecast_name(config: ForecasterConfig) -> str:
    """``forecast_fwd_{ret,up,logvol}_{h}``: the name of a forecast of ``config``'s target."""
    return f"forecast_{STEMS[config.target]}_{config.horizon}"


def target_series(candles: pd.DataFrame, config: ForecasterConfig) -> pd.Series:
    """The label series of ``config.target`` (horizon, threshold and estimator from
    ``config``), named :func:`target_name`."""
    h = int(config.horizon)
    if config.target == "direction":
        return target_fwd_up(candles["close"], h, config.direction_threshold)
    if config.target == "volatility":
        return target_fwd_logvol(candles, h, config.vol_estimator)
    return target_fwd_ret(candles["close"], h)


def label_columns(config: ForecasterConfig) -> tuple[str, ...]:
    """Candle columns the target of ``config`` reads."""
    if config.target == "volatility":
        return VARIANCE_COLUMNS[config.vol_estimator]
    return ("close",)
