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
from typing import Any

from lstm_backtrader.models.infra.errors import ModelFileError
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
