"""Forecast-quality and strategy statistics, in plain NumPy/SciPy (no Keras, no backtrader).

Two families live here:

* **Forecast metrics** for a return forecast against the realised return of the same bars:
  RMSE, MAE, directional accuracy judged against the *always-up* rate of those bars (with an exact
  binomial test), the information coefficient (Spearman) and the Diebold–Mariano test with the
  Harvey–Leybourne–Newbold small-sample correction. :func:`forecast_metrics` bundles them, with an
  optional baseline forecast (persistence = 0 for returns).
* **Probability and volatility forecast metrics** (:mod:`.target_metrics`): log loss, Brier
  score and reliability table of a direction probability; QLIKE and MSE on log variance of a
  log-volatility forecast; each against a baseline with the DM/HLN test of the per-bar loss
  differential (:func:`diebold_mariano_losses`); :func:`target_metrics` picks by target.
* **Strategy statistics** on per-bar simple returns: Sharpe ratio (per bar or annualised for a 24/7
  market), Probabilistic Sharpe Ratio, Minimum Track Record Length, expected maximum Sharpe of
  ``N`` trials and the Deflated Sharpe Ratio. Each has a ``*_from_moments`` variant so published
  worked examples can be checked exactly.

Conventions shared by every function:

* Inputs may be NumPy arrays, lists or pandas Series (one-dimensional). Two Series must share the
  same index (align them first); otherwise values are paired by position.
* NaN values are dropped *pairwise*: a bar is dropped when either side (or the baseline, in
  :func:`forecast_metrics`) is NaN, so every statistic of one call is computed on the same bars.
  Infinite values are rejected.
* Bad input (length mismatch, too few observations, invalid parameter) raises
  :class:`~lstm_backtrader.models.infra.errors.InputError` (a ``ValueError``)
  with a one-line message.
* Sharpe ratios inside PSR/MinTRL/DSR are **per bar** (not annualised); kurtosis is **raw**
  (Pearson, normal = 3), never excess kurtosis.

References
----------
.. [BLdP12] Bailey, D. H. and López de Prado, M. (2012). "The Sharpe Ratio Efficient Frontier".
   Journal of Risk 15(2), 3–44. (PSR and MinTRL.)
.. [BLdP14] Bailey, D. H. and López de Prado, M. (2014). "The Deflated Sharpe Ratio: Correcting
   for Selection Bias, Backtest Overfitting and Non-Normality". Journal of Portfolio Management
   40(5), 94–107. (DSR and the expected maximum Sharpe ratio.)
.. [DM95] Diebold, F. X. and Mariano, R. S. (1995). "Comparing Predictive Accuracy". Journal of
   Business & Economic Statistics 13(3), 253–263.
.. [HLN97] Harvey, D., Leybourne, S. and Newbold, P. (1997). "Testing the equality of prediction
   mean squared errors". International Journal of Forecasting 13(2), 281–291.
"""

from lstm_backtrader.models.metrics.forecast import (
    DirectionalTest,
    DMTest,
    ForecastMetrics,
    InformationCoefficient,
    always_up_rate,
    diebold_mariano,
    diebold_mariano_losses,
    directional_accuracy,
    directional_test,
    forecast_metrics,
    information_coefficient,
    mae,
    rmse,
)
from lstm_backtrader.models.metrics.sharpe import (
    EULER_MASCHERONI,
    SharpeStats,
    deflated_sharpe_ratio,
    dsr_from_moments,
    expected_max_sharpe,
    min_track_record_length,
    min_trl_from_moments,
    periods_per_year,
    probabilistic_sharpe_ratio,
    psr_from_moments,
    return_moments,
    sharpe_ratio,
    sharpe_stats,
)
from lstm_backtrader.models.metrics.target_metrics import (
    ProbabilityMetrics,
    VolatilityMetrics,
    brier_score,
    log_loss,
    mse_log_var,
    probability_metrics,
    qlike,
    reliability_table,
    target_metrics,
    volatility_metrics,
)

__all__ = [
    "ProbabilityMetrics",
    "VolatilityMetrics",
    "brier_score",
    "diebold_mariano_losses",
    "log_loss",
    "mse_log_var",
    "probability_metrics",
    "qlike",
    "reliability_table",
    "target_metrics",
    "volatility_metrics",
    "EULER_MASCHERONI",
    "DMTest",
    "DirectionalTest",
    "ForecastMetrics",
    "InformationCoefficient",
    "SharpeStats",
    "always_up_rate",
    "deflated_sharpe_ratio",
    "diebold_mariano",
    "directional_accuracy",
    "directional_test",
    "dsr_from_moments",
    "expected_max_sharpe",
    "forecast_metrics",
    "information_coefficient",
    "mae",
    "min_track_record_length",
    "min_trl_from_moments",
    "periods_per_year",
    "probabilistic_sharpe_ratio",
    "psr_from_moments",
    "return_moments",
    "rmse",
    "sharpe_ratio",
    "sharpe_stats",
]
