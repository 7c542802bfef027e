"""Your own Keras network, walked forward like the LSTM: a GRU from a builder function.

The builder is named in the configuration (``kind = "keras"``, ``builder = "<file>:build_gru"``
in a run TOML, or ``KerasForecaster(builder=...)``), so every walk-forward fold, executor worker
and the ``LSTMForecast`` indicator build the same network. Everything around it is the LSTM's:
features, windows, scaling fitted on the training slice only, purging, the seeded compiled
trainer, the fold cache, the reports. Seed every initializer (and dropout) from ``seed``: a fold
is then bit-reproducible.

Run from the repository root::

    .venv/bin/python examples/custom_keras_gru.py --quick
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build_gru(lookback: int, n_features: int, seed: int) -> Any:
    """A one-layer GRU mapping windows ``(lookback, n_features)`` to one output."""
    import keras

    init = keras.initializers
    return keras.Sequential(
        [
            keras.Input(shape=(lookback, n_features)),
            keras.layers.GRU(
                8,
                kernel_initializer=init.GlorotUniform(seed=seed),
                recurrent_initializer=init.Orthogonal(seed=seed + 1),
                seed=seed + 2,
            ),
            keras.layers.Dense(1, kernel_initializer=init.GlorotUniform(seed=seed + 3)),
        ],
        name="gru_forecaster",
    )


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Walk the GRU forward on the embedded BTC sample; print its RMSE against persistence."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short slice, 2 epochs")
    args = parser.parse_args(argv)

    import pandas as pd

    from lstm_backtrader.backtests.data.sample import sample
    from lstm_backtrader.models import WalkForward, WalkForwardSpec
    from lstm_backtrader.models.features import target_fwd_ret
    from lstm_backtrader.models.keras_forecaster import KerasForecaster
    from lstm_backtrader.models.metrics import forecast_metrics

    candles = sample().iloc[-400:] if args.quick else sample()
    gru = KerasForecaster(
        builder=f"{Path(__file__).resolve()}:build_gru",
        lookback=20,
        epochs=2 if args.quick else 20,
        batch_size=64,
    )
    spec = WalkForwardSpec(train_bars=250 if args.quick else 730, retrain_every=75)
    with tempfile.TemporaryDirectory() as tmp:
        result = WalkForward(gru, spec, cache_dir=tmp).run(candles)
    # judged against persistence (a zero return) on the same out-of-sample bars
    realised = target_fwd_ret(candles["close"], 1)
    scored = pd.concat([result.forecasts, realised], axis=1).dropna()
    metrics = forecast_metrics(scored.iloc[:, 0], scored.iloc[:, 1], baseline=0.0)
    ratio = float(metrics.rmse_ratio)
    print(f"GRU walk-forward: {len(result.folds)} folds, {metrics.n} forecasts, "
          f"RMSE / persistence = {ratio:.3f}")  # fmt: skip
    return {"folds": float(len(result.folds)), "forecasts": float(metrics.n), "ratio": ratio}


if __name__ == "__main__":
    main()
