"""The stacked-LSTM forecaster of forward log returns (Keras 3, TensorFlow backend).

TensorFlow/Keras are imported lazily inside the methods that need them, so importing this
module is cheap. See ``docs/lstm.md`` for the model, the windows and the scaling.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from lstm_backtrader.models.config import LSTM_FIELDS, ForecasterConfig
from lstm_backtrader.models.features import (
    check_candles,
    compute_features,
    feature_matrix,
    feature_warmup,
    gather_windows,
    hash_candles,
    ohlcv_feature_matrix,
    rows_covered,
    valid_window_ends,
)
from lstm_backtrader.models.forecaster import ConfiguredForecaster
from lstm_backtrader.models.infra.errors import InputError, ModelFileError
from lstm_backtrader.models.infra.fileio import atomic_write, sha256_file
from lstm_backtrader.models.persist import read_sidecar, sidecar_path, write_sidecar
from lstm_backtrader.models.scaling import StandardScaler
from lstm_backtrader.models.targets import (
    PROB_EPS,
    forecast_name,
    label_columns,
    target_name,
    target_series,
)
from lstm_backtrader.models.tfload import ensure_tf_usable, quiet_retracing_warning
from lstm_backtrader.models.weights import remember_saved, saved_weights, weights_hash

logger = logging.getLogger(__name__)


class LSTMForecaster(ConfiguredForecaster):
    """Stacked LSTM forecasting ``target_fwd_ret_{horizon}`` from windows of causal features
    (or, by ``target``, the probability of ``target_fwd_up_{h}``: sigmoid output, binary
    cross-entropy, unscaled labels; or ``target_fwd_logvol_{h}``: standardised, MSE).

    Parameters
    ----------
    config
        A :class:`~lstm_backtrader.models.config.ForecasterConfig` of kind ``'lstm'`` (default:
        the defaults); its fields are the hyperparameters (``lookback``, ``horizon``,
        ``features``, ``units``, ``dropout``, ``epochs``, ``batch_size``, ``learning_rate``,
        ``validation_fraction``, ``patience``, ``seed``: see there).
    **params
        Fields of ``config`` to override, e.g. ``LSTMForecaster(lookback=30, units=(32,))``.
        Validated at once; readable as attributes (``forecaster.lookback``).

    Attributes
    ----------
    weights_ : list of ndarray
        The fitted network's weights (``get_weights`` order).
    model_ : keras.Model
        The fitted network (output: the *standardised* target), built on first access.
    scaler_ : StandardScaler
        Feature statistics of the training windows' rows.
    target_mean_, target_std_ : float
        Statistics of the training labels; forecasts are ``output * std + mean``.
    history_ : dict
        Training history (``loss``, ``val_loss`` per epoch, standardised units; a warm start
        adds ``initial_val_loss``, the starting weights' validation loss, which the fit keeps
        unless an epoch beats it).
    n_epochs_ : int
        Epochs run. ``best_val_loss_``: lowest validation MSE (standardised), NaN without one.
    train_range_ : tuple of Timestamp
        First and last bar whose data entered training (features or labels).
    train_windows_, val_windows_ : tuple
        ``(first, last, count)`` of the end bars of the training and of the validation
        windows (``(None, None, 0)`` without validation); saved and loaded with the model.
    train_index_, val_index_ : DatetimeIndex
        Every end bar of the training and of the validation windows (only on a forecaster
        fitted in this process: a loaded one has :attr:`train_windows_`).
    data_hash_ : str
        SHA-256 of the candle slice given to :meth:`fit`.
    """

    kind: ClassVar[str] = "lstm"
    param_names: ClassVar[tuple[str, ...] | None] = LSTM_FIELDS
    supports_warm_start: ClassVar[bool] = True
    depends_on: ClassVar[tuple[str, ...]] = ("tensorflow", "keras")

    @property
    def context_bars(self) -> int:
        """Bars of history needed for one forecast: ``lookback`` + the features' warm-up."""
        return int(self.lookback) + feature_warmup(tuple(self.features))

    #: Process-local handles (compiled functions, the shared network, a Keras model): rebuilt
    #: on demand, never pickled — a fitted forecaster pickles as its config, weights and
    #: statistics (e.g. to ``cerebro.optstrategy`` workers).
    _TRANSIENT = ("_infer_fn", "_pred", "_token", "_model")

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in self._TRANSIENT}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # ----------------------------------------------------------------- training
    def _scaled_features(self, candles: pd.DataFrame) -> np.ndarray:
        return self.scaler_.transform(feature_matrix(candles, tuple(self.features)))

    def _architecture(self, n_features: int) -> Any:
        from lstm_backtrader.models.trainer import Architecture

        cfg = self.config
        out = "sigmoid" if cfg.target == "direction" else "linear"
        return Architecture(cfg.lookback, int(n_features), cfg.units, float(cfg.dropout), None, out)

    def _initial_weights(self, source: LSTMForecaster | str | Path) -> list[np.ndarray]:
        if isinstance(source, LSTMForecaster):
            source._check_fitted()
            return list(source.weights_)

        path = Path(source)
        if not path.is_file():
            raise ModelFileError(f"{path}: warm-start model not found; fix the path")
        memo = saved_weights(path)
        if memo is not None:
            return memo  # this process saved exactly this file
        try:
            return self._read_weights(path)
        except Exception as exc:  # noqa: BLE001 - any failure means an unusable file
            raise ModelFileError(
                f"{path}: warm-start model is truncated, corrupt or of another architecture "
                f"({type(exc).__name__})"
            ) from None

    def _read_weights(self, path: Path) -> list[np.ndarray]:
        """The weights in the ``.keras`` file ``path``, read into the process's inference
        network of this forecaster's architecture (no model is built per file: every new Keras
        model grew the process by ~0.1-0.4 MiB for good, through Keras' name state and
        TensorFlow's kernel cache); the network is marked as holding nobody's weights after."""
        from lstm_backtrader.models.trainer import predictor_for

        pred = predictor_for(self._architecture(len(self.features)))
        with pred.lock:
            pred.owner = None
            try:
                pred.model.load_weights(path)
                return [np.array(w) for w in pred.model.get_weights()]
            finally:
                pred.owner = None

    def fit(
        self,
        candles: pd.DataFrame,
        *,
        init_weights_from: LSTMForecaster | str | Path | None = None,
        epochs: int | None = None,
    ) -> LSTMForecaster:
        """Fit the scaler and the network on ``candles`` (every label inside it is used).

        Parameters
        ----------
        candles
            The training slice. Windows ending at t are labelled when t+h is inside it.
        init_weights_from
            Warm start: a fitted :class:`LSTMForecaster` or a saved ``.keras`` file with the
            same architecture; its weights initialise the network (the scaler and target
            statistics are still refitted on ``candles``).
        epochs
            Overrides ``self.epochs`` for this fit (e.g. fewer epochs when warm starting).

        Returns
        -------
        LSTMForecaster
            ``self``.
        """
        ensure_tf_usable()
        cfg = self.config
        check_candles(candles, columns=label_columns(cfg), what="fit candles")
        n_epochs = cfg.epochs if epochs is None else int(epochs)
        if n_epochs < 1:
            raise InputError(f"fit: epochs is {epochs!r}: use an integer >= 1")
        feats = compute_features(candles, cfg.features).to_numpy(dtype="float64")
        y = target_series(candles, cfg).to_numpy()
        ends = valid_window_ends(feats, cfg.lookback)
        ends = ends[np.isfinite(y[ends])]
        n = len(ends)
        n_val = max(1, int(n * cfg.validation_fraction)) if cfg.validation_fraction > 0 else 0
        purge = cfg.horizon - 1 if n_val else 0  # train labels must end before val labels start
        n_train = n - n_val - purge
        if n_train < 2:
            raise InputError(
                f"fit: {len(candles)} bars give only {n} labelled windows (lookback "
                f"{cfg.lookback}, horizon {cfg.horizon}); give more bars or a shorter lookback"
            )
        train_ends = ends[:n_train]
        val_ends = ends[n - n_val :] if n_val else ends[:0]

        # every statistic from the training windows only (not validation, not forecasts)
        scaler = StandardScaler().fit(feats[rows_covered(train_ends, cfg.lookback, len(feats))])
        z = scaler.transform(feats).astype("float32")
        y_train = y[train_ends]
        if cfg.target == "direction":  # 0/1 labels against the sigmoid output, unscaled
            t_mean, t_std = 0.0, 1.0
        else:
            t_mean, t_std = float(np.mean(y_train)), float(np.std(y_train))
        if not t_std > 0:
            t_std = 1.0
        x_tr = gather_windows(z, train_ends, cfg.lookback)
        y_tr = ((y_train - t_mean) / t_std).astype("float32")
        val_data = None
        if n_val:
            x_va = gather_windows(z, val_ends, cfg.lookback)
            y_va = ((y[val_ends] - t_mean) / t_std).astype("float32")
            val_data = (x_va, y_va)

        init = None if init_weights_from is None else self._initial_weights(init_weights_from)

        from lstm_backtrader.models.trainer import trainer_for

        arch = self._architecture(feats.shape[1])
        trainer = trainer_for(arch, cfg.batch_size, cfg.learning_rate)
        if init is not None:
            expected = [tuple(w.shape) for w in trainer.model.get_weights()]
            if [tuple(w.shape) for w in init] != expected:
                raise InputError(
                    "fit: warm-start weights have another architecture (lookback, features, "
                    "units); warm start only from the same configuration"
                )
        outcome = trainer.fit(
            x_tr,
            y_tr,
            val_data,
            seed=cfg.seed,
            epochs=n_epochs,
            patience=cfg.patience,
            init_weights=init,
        )

        self.weights_ = outcome.weights
        self._model = None
        self.scaler_ = scaler
        self.target_mean_ = t_mean
        self.target_std_ = t_std
        self.history_ = {k: [float(v) for v in vals] for k, vals in outcome.history.items()}
        self.n_epochs_ = len(self.history_.get("loss", []))
        vl = self.history_.get("val_loss", []) + self.history_.get("initial_val_loss", [])
        self.best_val_loss_ = float(min(vl)) if vl else float("nan")
        first = max(0, int(train_ends[0]) - cfg.lookback + 1 - feature_warmup(cfg.features))
        last = int(ends[-1]) + cfg.horizon
        self.train_range_ = (candles.index[first], candles.index[last])
        self.train_index_ = candles.index[train_ends]
        self.val_index_ = candles.index[val_ends]
        self.train_windows_ = _window_summary(self.train_index_)
        self.val_windows_ = _window_summary(self.val_index_)
        self.data_hash_ = hash_candles(candles)
        self._infer_fn = None
        self._token = None  # a refit must not reuse the weights the shared network holds
        logger.info(
            "fitted LSTM on %d windows (+%d validation) for %d epochs, best val loss %.4g",
            n_train,
            n_val,
            self.n_epochs_,
            self.best_val_loss_,
        )
        return self

    # ----------------------------------------------------------------- inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "weights_"):
            raise InputError("LSTMForecaster is not fitted: call fit or load first")

    def _inference_fn(self) -> Any:
        """The compiled inference call, shared by every forecaster of this architecture in the
        process (traced once); this forecaster's weights are swapped in when needed."""
        fn = getattr(self, "_infer_fn", None)
        if fn is None:
            from lstm_backtrader.models.trainer import predictor_for

            pred = self._pred = predictor_for(self._architecture(len(self.features)))

            def fn(x: Any) -> Any:
                return pred.call(x)

            self._infer_fn = fn
            quiet_retracing_warning()
        return fn

    def _bound(self) -> Any:
        """Context holding the shared inference network (the one :meth:`_inference_fn`'s
        call runs) with this forecaster's weights, so no other thread swaps them meanwhile."""
        if getattr(self, "_infer_fn", None) is None or getattr(self, "_pred", None) is None:
            self._infer_fn = None
            self._inference_fn()
        if getattr(self, "_token", None) is None:
            self._token = object()
        return self._pred.bound(self._token, self.weights_)

    def _infer(self, windows: np.ndarray) -> np.ndarray:
        """Forecasts (float64, return units) of scaled windows, in padded chunks."""
        ensure_tf_usable()
        from lstm_backtrader.models.trainer import predict_windows

        fn = self._inference_fn()
        with self._bound():
            out = predict_windows(windows, fn)
        return self._to_target(out)

    def _to_target(self, out: Any) -> Any:
        """Network outputs in target units (probabilities clipped to [PROB_EPS, 1-PROB_EPS])."""
        out = out * self.target_std_ + self.target_mean_
        return np.clip(out, PROB_EPS, 1 - PROB_EPS) if self.config.target == "direction" else out

    def predict(self, candles: pd.DataFrame) -> pd.Series:
        """Forecast of ``target_fwd_ret_{h}`` known at the close of each bar.

        Returns
        -------
        pandas.Series
            Indexed like ``candles``, named ``forecast_fwd_ret_{h}``; NaN where the window is
            incomplete (the first ``context_bars - 1`` bars) or holds non-finite features.
            All windows go through the network in a few batched calls, never one per bar.
        """
        self._check_fitted()
        check_candles(candles, columns=(), what="predict candles")
        z = self._scaled_features(candles).astype("float32")
        ends = valid_window_ends(z, int(self.lookback))
        out = np.full(len(candles), np.nan)
        if len(ends):
            out[ends] = self._infer(gather_windows(z, ends, int(self.lookback)))
        return pd.Series(out, index=candles.index, name=forecast_name(self.config))

    def predict_last(self, candles_tail: pd.DataFrame) -> float:
        """Forecast for the last bar of ``candles_tail`` (fast path for a per-bar ``next()``).

        Only the last :attr:`context_bars` bars are used; one call of an XLA-compiled function
        with a fixed input signature. Agrees with :meth:`predict` to ~1e-7. NaN when the tail
        is too short or its last window holds non-finite features.
        """
        self._check_fitted()
        tail = candles_tail.iloc[-self.context_bars :]
        if len(tail) < self.context_bars:
            return float("nan")
        return self._forecast_window(self._scaled_features(tail))

    def predict_last_values(self, ohlcv: np.ndarray) -> float:
        """:meth:`predict_last` from the last bars' ``open, high, low, close, volume`` rows as
        an array (the indicator's own bar buffer): no frame is built. Only for features
        computed from those five columns (the registry's); otherwise use :meth:`predict_last`.
        """
        self._check_fitted()
        rows = np.asarray(ohlcv, dtype="float64")[-self.context_bars :]
        if len(rows) < self.context_bars:
            return float("nan")
        feats = ohlcv_feature_matrix(rows, tuple(self.features))
        return self._forecast_window(self.scaler_.transform(feats))

    def _forecast_window(self, z: np.ndarray) -> float:
        window = z[-int(self.lookback) :].astype("float32")
        if not np.isfinite(window).all():
            return float("nan")
        ensure_tf_usable()
        self._inference_fn()
        with self._bound() as pred:
            res = pred.call_one(window[None, :, :])
        return float(self._to_target(np.float64(res[0, 0])))

    def model_hash(self) -> str:
        """SHA-256 of the fitted weights (identical weights <=> identical hash)."""
        self._check_fitted()
        return weights_hash(self.weights_)

    @property
    def model_(self) -> Any:
        """The fitted Keras network (built from :attr:`weights_` on first access)."""
        self._check_fitted()
        if getattr(self, "_model", None) is None:
            from lstm_backtrader.models.trainer import build_network

            model = build_network(self._architecture(len(self.features)), int(self.seed))
            model.set_weights(self.weights_)
            self._model = model
        return self._model

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write ``path`` (a ``.keras`` file) and its JSON sidecar ``path.with_suffix('.json')``.

        Both are written atomically; the sidecar records the ``.keras`` file's SHA-256 so a
        truncated or swapped model file is detected on load.
        """
        self._check_fitted()
        dest = Path(path)
        if dest.suffix != ".keras":
            raise InputError(f"{dest}: model path must end with .keras")
        tmpdir = Path(tempfile.mkdtemp(prefix="lstm-save-"))
        try:
            tmp_model = tmpdir / "model.keras"
            # the process's inference network of this architecture, holding our weights:
            # saving it avoids building a network per walk-forward fold
            with self._bound() as pred:
                pred.model.save(tmp_model)
            atomic_write(dest, lambda tmp: shutil.copyfile(tmp_model, tmp))
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        remember_saved(dest, self.weights_)
        best = self.best_val_loss_
        write_sidecar(
            dest,
            {
                "kind": self.kind,
                "config": self.config.to_dict(),
                "features": list(self.features),
                "scaler": self.scaler_.to_dict(),
                "target": {
                    "name": target_name(self.config),
                    "mean": self.target_mean_,
                    "std": self.target_std_,
                },
                "train_range": [self.train_range_[0].isoformat(), self.train_range_[1].isoformat()],
                "train_index": _summary_doc(self.train_windows_)[:2],
                "val_index": _summary_doc(self.val_windows_)[:2] if self.val_windows_[2] else None,
                "n_train_windows": self.train_windows_[2],
                "n_val_windows": self.val_windows_[2],
                "data_hash": self.data_hash_,
                "history": self.history_,
                "n_epochs": self.n_epochs_,
                "best_val_loss": None if np.isnan(best) else best,
                "weights_sha256": self.model_hash(),
                "keras_file": dest.name,
                "keras_sha256": sha256_file(dest),
            },
        )
        logger.info("saved LSTM forecaster to %s", dest)
        return dest

    @classmethod
    def load(cls, path: str | Path) -> LSTMForecaster:
        """Load what :meth:`save` wrote; predicts exactly what the saved forecaster did.

        Raises
        ------
        ModelFileError
            Missing, truncated or corrupt file, or another format version.
        """
        src = Path(path)
        if not src.is_file():
            raise ModelFileError(f"{src}: model file not found; fix the path or train first")
        doc = read_sidecar(src, kind=cls.kind)
        if sha256_file(src) != doc.get("keras_sha256"):
            raise ModelFileError(
                f"{src}: model file does not match its sidecar (truncated or modified); save again"
            )
        try:
            out = cls(ForecasterConfig.from_dict(doc["config"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(
                f"{sidecar_path(src)}: sidecar field missing or malformed ({exc}); save again"
            ) from None
        ensure_tf_usable()
        try:
            out.weights_ = out._read_weights(src)
        except Exception as exc:  # noqa: BLE001 - any failure means an unusable file
            raise ModelFileError(
                f"{src}: model file is truncated or corrupt ({type(exc).__name__}); save again"
            ) from None
        try:
            out.scaler_ = StandardScaler.from_dict(doc["scaler"])
            out.target_mean_ = float(doc["target"]["mean"])
            out.target_std_ = float(doc["target"]["std"])
            out.history_ = doc["history"]
            out.n_epochs_ = int(doc["n_epochs"])
            best = doc["best_val_loss"]
            out.best_val_loss_ = float("nan") if best is None else float(best)
            out.train_range_ = tuple(pd.Timestamp(t) for t in doc["train_range"])
            out.train_windows_ = _summary_from_doc(doc["train_index"], doc["n_train_windows"])
            out.val_windows_ = _summary_from_doc(doc["val_index"], doc["n_val_windows"])
            out.data_hash_ = doc["data_hash"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(
                f"{sidecar_path(src)}: sidecar field missing or malformed ({exc}); save again"
            ) from None
        out._infer_fn = None
        if out.model_hash() != doc.get("weights_sha256"):
            raise ModelFileError(f"{src}: weights do not match the sidecar's hash; save again")
        return out


def _window_summary(index: pd.DatetimeIndex) -> tuple[Any, Any, int]:
    """``(first, last, count)`` of window end bars (``(None, None, 0)`` when there are none)."""
    if len(index) == 0:
        return (None, None, 0)
    return (index[0], index[-1], len(index))


def _summary_doc(summary: tuple[Any, Any, int]) -> list[Any]:
    first, last, count = summary
    return [
        None if first is None else first.isoformat(),
        None if last is None else last.isoformat(),
        count,
    ]


def _summary_from_doc(ends: list[str] | None, count: int) -> tuple[Any, Any, int]:
    if not ends or not int(count):
        return (None, None, 0)
    return (pd.Timestamp(ends[0]), pd.Timestamp(ends[1]), int(count))
