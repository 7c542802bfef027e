"""The JSON sidecar every saved forecaster has (:func:`write_sidecar`, :func:`read_sidecar`).

Layout of a saved forecaster at ``PATH.keras``:

* ``PATH.keras`` - the Keras model (LSTM only), loaded with ``safe_mode=True``;
* ``PATH.json`` - the sidecar: format and version, kind, config, scaler and target statistics,
  training range, data hash of the training slice, package versions, the SHA-256 of the
  ``.keras`` file and of the weights. Baselines only write the sidecar.

No pickle anywhere. Errors are :class:`~lstm_backtrader.models.infra.errors.ModelFileError` with
one-line messages.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from lstm_backtrader.models.config import ForecasterConfig
from lstm_backtrader.models.infra.errors import InputError, ModelFileError
from lstm_backtrader.models.infra.fileio import atomic_write_text
from lstm_backtrader.models.infra.versions import package_versions

logger = logging.getLogger(__name__)

FORMAT = "lstm-backtrader/forecaster"
#: Bump when the sidecar or the model layout changes incompatibly.
FORMAT_VERSION = 1


def sidecar_path(path: str | Path) -> Path:
    """``model.keras`` -> ``model.json``."""
    return Path(path).with_suffix(".json")


def _model_versions() -> dict[str, str]:
    """Versions of the packages a saved model depends on (TF/Keras only if already imported)."""
    names = ("numpy", "pandas") + tuple(n for n in ("keras", "tensorflow") if n in sys.modules)
    return package_versions(names)


def write_sidecar(path: str | Path, payload: dict[str, Any]) -> Path:
    """Atomically write the sidecar of ``path`` (adds format, version and package versions)."""
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "versions": _model_versions(),
        **payload,
    }
    text = json.dumps(doc, indent=1, sort_keys=True, allow_nan=False)
    return atomic_write_text(sidecar_path(path), text + "\n")


def read_sidecar(path: str | Path, *, kind: str | None = None) -> dict[str, Any]:
    """Read and check the sidecar of ``path``.

    Raises
    ------
    ModelFileError
        When it is missing, not JSON, not a forecaster sidecar, of another format version, or
        of another kind than ``kind``.
    """
    side = sidecar_path(path)
    if not side.is_file():
        raise ModelFileError(
            f"{side}: model sidecar not found; save the model again or fix the path"
        )
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"{side}: model sidecar is truncated or corrupt ({type(exc).__name__}); save it again"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{side}: not an lstm-backtrader model sidecar; check the path")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{side}: model format version {doc.get('format_version')!r} is not supported "
            f"(this code reads version {FORMAT_VERSION}); retrain and save with this version"
        )
    if kind is not None and doc.get("kind") != kind:
        raise ModelFileError(
            f"{side}: holds a {doc.get('kind')!r} forecaster, not {kind!r}; use load_forecaster"
        )
    return doc


class JsonStateMixin:
    """``save``/``load`` for a forecaster whose whole fitted state is JSON numbers (the
    baselines): the sidecar holds the kind, the configuration, the state from
    :meth:`_state_doc`, the training range, the data hash and ``model_hash()`` over it all.

    A subclass implements ``_state_doc()`` (the fitted state as a JSON-able dict) and
    ``_set_state(doc)`` (its inverse, reading the keys ``_state_doc`` wrote), besides the
    ``kind``, ``config``, ``model_hash()`` and ``_check_fitted()`` of a configured forecaster.
    """

    kind: ClassVar[str]

    def _state_doc(self) -> dict[str, Any]:
        raise NotImplementedError

    def _set_state(self, doc: dict[str, Any]) -> None:
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        """Write the JSON sidecar ``path.with_suffix('.json')`` (numbers only, no pickle)."""
        self._check_fitted()  # type: ignore[attr-defined]
        return write_sidecar(
            path,
            {
                "kind": self.kind,
                "config": self.config.to_dict(),  # type: ignore[attr-defined]
                **self._state_doc(),
                "train_range": [t.isoformat() for t in self.train_range_],  # type: ignore[attr-defined]
                "data_hash": self.data_hash_,  # type: ignore[attr-defined]
                "weights_sha256": self.model_hash(),  # type: ignore[attr-defined]
            },
        )

    @classmethod
    def load(cls, path: str | Path) -> Any:
        """Load what :meth:`save` wrote (``ModelFileError`` when missing, corrupt or changed)."""
        doc = read_sidecar(path, kind=cls.kind)
        try:
            out = cls(ForecasterConfig.from_dict(doc["config"]))  # type: ignore[call-arg]
            out._set_state(doc)
            out.train_range_ = tuple(pd.Timestamp(t) for t in doc["train_range"])
            out.data_hash_ = str(doc["data_hash"])
        except (KeyError, TypeError, ValueError, AttributeError, InputError) as exc:
            raise ModelFileError(
                f"{sidecar_path(path)}: sidecar field missing or malformed ({exc}); save again"
            ) from None
        out.n_epochs_ = 0
        out.best_val_loss_ = float("nan")
        if out.model_hash() != doc.get("weights_sha256"):
            raise ModelFileError(
                f"{sidecar_path(path)}: content does not match its hash; save again"
            )
        return out
