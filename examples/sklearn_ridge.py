"""A scikit-learn regressor walked forward on the LSTM's features: ridge regression.

``kind = "sklearn"``, ``estimator = "sklearn.linear_model:Ridge"`` and ``[model.estimator_params]``
in a run TOML (or ``SklearnForecaster(estimator=..., estimator_params={...})``): the regressor
sees windows of the same causal features, flattened, standardised with training-slice
statistics only. Its fitted state (coefficients) is saved as arrays — never a pickle — so the
fold cache, executors, the indicator and the reports work as for the LSTM. A ridge regression
is the natural "is the LSTM's non-linearity worth anything?" baseline.

Run from the repository root::

    .venv/bin/python examples/sklearn_ridge.py --quick
"""

from __future__ import annotations

import argparse
import tempfile


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Walk a ridge regression forward on the embedded BTC sample."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short slice")
    args = parser.parse_args(argv)

    import pandas as pd

    from lstm_backtrader.backtests.data.sample import sample
    from lstm_backtrader.models import WalkForward, WalkForwardSpec
    from lstm_backtrader.models.features import target_fwd_ret
    from lstm_backtrader.models.metrics import forecast_metrics
    from lstm_backtrader.models.sklearn_forecaster import SklearnForecaster

    candles = sample().iloc[-400:] if args.quick else sample()
    ridge = SklearnForecaster(
        estimator="sklearn.linear_model:Ridge", estimator_params={"alpha": 10.0}, lookback=20
    )
    spec = WalkForwardSpec(train_bars=250 if args.quick else 730, retrain_every=75)
    with tempfile.TemporaryDirectory() as tmp:
        result = WalkForward(ridge, spec, cache_dir=tmp).run(candles)
    # judged against persistence (a zero return) on the same out-of-sample bars
    realised = target_fwd_ret(candles["close"], 1)
    scored = pd.concat([result.forecasts, realised], axis=1).dropna()
    metrics = forecast_metrics(scored.iloc[:, 0], scored.iloc[:, 1], baseline=0.0)
    ratio = float(metrics.rmse_ratio)
    print(f"Ridge walk-forward: {len(result.folds)} folds, {metrics.n} forecasts, "
          f"RMSE / persistence = {ratio:.3f}")  # fmt: skip
    return {"folds": float(len(result.folds)), "forecasts": float(metrics.n), "ratio": ratio}


if __name__ == "__main__":
    main()
