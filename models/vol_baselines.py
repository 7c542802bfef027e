"""Volatility baselines: forecasters of ``target_fwd_logvol_{h}`` (target ``'volatility'``).

Each has the protocol of :class:`~lstm_backtrader.models.baselines.PersistenceForecaster`
(fit on the training slice only, forecast at bar t from bars <= t, JSON sidecar, no pickle)
and forecasts the log realised volatility of bars t+1..t+h, ``0.5 * log(forecast variance of
the h-bar sum)``, in the units of :func:`~lstm_backtrader.models.targets.target_fwd_logvol`.

* :class:`EWMAForecaster` (kind ``'ewma'``) - RiskMetrics: ``s[t] = λ s[t-1] + (1-λ) var[t]``
  with λ = 0.94 on the per-bar range variance; flat term structure: ``h * s[t]``.
* :class:`HARForecaster` (kind ``'har'``) - HAR-RV (Corsi 2009) on logs, fitted by OLS:
  ``logvol_h[t] = b0 + b_d log var[t] + b_w log mean(var[t-6..t]) + b_m log mean(var[t-29..t])``.
  The "week" and "month" are 7 and 30 bars: a crypto market trades 24/7, so on daily bars
  these are the calendar week and month (5/22 would be the equity convention). On intraday
  bars the cascade stays 1/7/30 *bars* (short-memory components, not calendar ones), which
  keeps the context short; the log form keeps the fit robust to the heavy right tail of
  range variances. Direct h-step regression (the target is the h-bar sum).
* :class:`GARCHForecaster` (kind ``'garch'``) - GARCH(1,1) of the ``arch`` package, fitted
  once per fold on the training slice's close-to-close log returns in percent (constant mean,
  normal errors). Out of sample the parameters are fixed and the variance recursion is
  filtered forward through the new bars (no refit); the h-bar forecast sums
  ``E[σ²[t+k]] = ω + (α+β) E[σ²[t+k-1]]``.

Recursive filters (EWMA, GARCH) are run over the last ``lookback`` bars of each forecast bar,
started from the training slice's mean variance: a forecast is a function of its window alone,
like the LSTM's, so ``predict`` on any slice and ``predict_last`` agree exactly and the start of
a slice never leaks into a forecast. With λ = 0.94 and the default 60 bars the start carries
weight 0.94^60 = 2 %; with GARCH, β^60.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from lstm_backtrader.models.features import check_candles, hash_candles, log_return
from lstm_backtrader.models.forecaster import ConfiguredForecaster
from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.persist import JsonStateMixin
from lstm_backtrader.models.targets import bar_variance, forecast_name, target_fwd_logvol

logger = logging.getLogger(__name__)

#: RiskMetrics' decay for daily data.
EWMA_LAMBDA = 0.94
#: HAR components in bars: day, "week", "month" (24/7 market).
HAR_WINDOWS: tuple[int, int, int] = (1, 7, 30)


def windowed_filter(x: np.ndarray, decay: float, window: int, start: float) -> np.ndarray:
    """``out[t] = decay**window * start + Σ_{k<window} decay**k * x[t-k]``: a recursion
    ``s[t] = decay * s[t-1] + x[t]`` restarted ``window`` bars back from ``start``. NaN where
    the window is incomplete or holds a NaN."""
    n = len(x)
    out = np.full(n, np.nan)
    if n < window:
        return out
    weights = decay ** np.arange(window)[::-1]  # oldest first
    view = np.lib.stride_tricks.sliding_window_view(x, window)
    out[window - 1 :] = view @ weights + decay**window * start
    return out


def trailing_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of ``x[t-window+1..t]`` (NaN where incomplete or holding a NaN)."""
    out = np.full(len(x), np.nan)
    if len(x) >= window:
        out[window - 1 :] = np.lib.stride_tricks.sliding_window_view(x, window).mean(axis=1)
    return out


class VolBaseline(JsonStateMixin, ConfiguredForecaster):
    """Shared plumbing of the volatility baselines: fit on the labels of the training slice,
    predict, JSON save/load. Subclasses define ``_fit_state`` and ``_values``."""

    kind: ClassVar[str] = "vol_baseline"
    param_names: ClassVar[tuple[str, ...] | None] = (
        "horizon", "lookback", "target", "vol_estimator",
    )  # fmt: skip
    default_params: ClassVar[dict[str, Any]] = {"target": "volatility"}

    @property
    def context_bars(self) -> int:
        """Bars of history one forecast needs."""
        return int(self.lookback)

    def _var(self, candles: pd.DataFrame) -> np.ndarray:
        return bar_variance(candles, self.config.vol_estimator).to_numpy()

    def _fit_state(self, candles: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
        raise NotImplementedError

    def _values(self, candles: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def fit(self, candles: pd.DataFrame, **kwargs: Any) -> Any:
        """Fit on the labels inside ``candles`` (warm-start keywords ignored); returns self."""
        check_candles(candles, columns=("open", "high", "low", "close"), what="fit candles")
        y = target_fwd_logvol(candles, int(self.horizon), self.config.vol_estimator).to_numpy()
        n = int(np.isfinite(y).sum())
        if n < max(10, self.context_bars):
            raise InputError(
                f"fit: {len(candles)} bars hold {n} volatility labels for horizon "
                f"{self.horizon}; give more bars (at least {max(10, self.context_bars)} labels)"
            )
        self.state_ = {k: float(v) for k, v in self._fit_state(candles, y).items()}
        self.train_range_ = (candles.index[0], candles.index[-1])
        self.n_train_ = n
        self.data_hash_ = hash_candles(candles)
        self.n_epochs_ = 0
        self.best_val_loss_ = float("nan")
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "state_"):
            raise InputError(f"{type(self).__name__} is not fitted: call fit or load first")

    def predict(self, candles: pd.DataFrame) -> pd.Series:
        """Forecast of ``target_fwd_logvol_{h}`` known at each bar's close (NaN where the
        window is incomplete), named ``forecast_fwd_logvol_{h}``."""
        self._check_fitted()
        check_candles(candles, columns=(), what="predict candles")
        values = self._values(candles)
        values[~np.isfinite(values)] = np.nan
        return pd.Series(values, index=candles.index, name=forecast_name(self.config))

    def predict_last(self, candles_tail: pd.DataFrame) -> float:
        """Forecast for the last bar of ``candles_tail`` (its last :attr:`context_bars`)."""
        self._check_fitted()
        tail = candles_tail.iloc[-self.context_bars :]
        if len(tail) < self.context_bars:
            return float("nan")
        return float(self.predict(tail).iloc[-1])

    def model_hash(self) -> str:
        """SHA-256 of the kind, configuration and fitted state."""
        self._check_fitted()
        text = json.dumps(
            {"kind": self.kind, "config": self.config.to_dict(), "state": self.state_},
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def _state_doc(self) -> dict[str, Any]:
        return {"state": self.state_, "n_train": self.n_train_}

    def _set_state(self, doc: dict[str, Any]) -> None:
        self.state_ = {str(k): float(v) for k, v in doc["state"].items()}
        self.n_train_ = int(doc["n_train"])


class EWMAForecaster(VolBaseline):
    """RiskMetrics EWMA (λ = 0.94) of the per-bar range variance, over the last ``lookback``
    bars, started from the training mean variance; forecast ``0.5 * log(h * s[t])``."""

    kind: ClassVar[str] = "ewma"

    def _fit_state(self, candles: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
        return {"lambda": EWMA_LAMBDA, "start_var": float(np.nanmean(self._var(candles)))}

    def _values(self, candles: pd.DataFrame) -> np.ndarray:
        lam, start = self.state_["lambda"], self.state_["start_var"]
        s = windowed_filter((1.0 - lam) * self._var(candles), lam, int(self.lookback), start)
        return 0.5 * np.log(int(self.horizon) * s)


class HARForecaster(VolBaseline):
    """HAR-RV (Corsi 2009) in logs, OLS on the training slice (see the module docstring)."""

    kind: ClassVar[str] = "har"

    @property
    def context_bars(self) -> int:
        """The "month" of :data:`HAR_WINDOWS` (``lookback`` is not used)."""
        return max(HAR_WINDOWS)

    def _design(self, candles: pd.DataFrame) -> np.ndarray:
        var = self._var(candles)
        cols = [np.log(trailing_mean(var, w)) for w in HAR_WINDOWS]
        return np.column_stack([np.ones(len(var)), *cols])

    def _fit_state(self, candles: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
        x = self._design(candles)
        ok = np.isfinite(x).all(axis=1) & np.isfinite(y)
        beta, *_ = np.linalg.lstsq(x[ok], y[ok], rcond=None)
        return {f"b{i}": float(b) for i, b in enumerate(beta)}

    def _values(self, candles: pd.DataFrame) -> np.ndarray:
        beta = np.array([self.state_[f"b{i}"] for i in range(len(HAR_WINDOWS) + 1)])
        return self._design(candles) @ beta


class GARCHForecaster(VolBaseline):
    """GARCH(1,1) (``arch``), fitted on the training returns in percent; out of sample a
    filter with the fitted parameters over the last ``lookback`` bars (no refit)."""

    kind: ClassVar[str] = "garch"
    depends_on: ClassVar[tuple[str, ...]] = ("arch",)

    @property
    def context_bars(self) -> int:
        """``lookback`` bars of returns, plus the bar before the first return."""
        return int(self.lookback) + 1

    def _fit_state(self, candles: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
        from arch import arch_model

        r = 100.0 * log_return(candles).to_numpy()
        r = r[np.isfinite(r)]
        res = arch_model(
            r, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False
        ).fit(disp="off", show_warning=False)
        p = res.params
        mu, omega, alpha, beta = (float(p[k]) for k in ("mu", "omega", "alpha[1]", "beta[1]"))
        return {
            "mu": mu,
            "omega": omega,
            "alpha": alpha,
            "beta": beta,
            "start_var": float(np.var(r - mu)),
        }

    def _values(self, candles: pd.DataFrame) -> np.ndarray:
        st = self.state_
        eps2 = (100.0 * log_return(candles).to_numpy() - st["mu"]) ** 2
        window = int(self.lookback)
        omega_sum = st["omega"] * float(np.sum(st["beta"] ** np.arange(window)))
        # sigma2[t+1] = omega + alpha eps2[t] + beta sigma2[t], unrolled over `window` bars
        nxt = omega_sum + windowed_filter(st["alpha"] * eps2, st["beta"], window, st["start_var"])
        persistence = st["alpha"] + st["beta"]
        total, step = np.zeros_like(nxt), nxt
        for _ in range(int(self.horizon)):
            total = total + step
            step = st["omega"] + persistence * step
        return 0.5 * np.log(total / 1e4)  # percent^2 -> log-return variance
