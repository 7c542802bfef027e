"""Network weights as data: their identity hash, and this process's memo of the ``.keras``
files it saved (a warm start from the previous fold's file skips deserialising it)."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from lstm_backtrader.models.infra.fileio import sha256_file

logger = logging.getLogger(__name__)


def weights_hash(weights: list[np.ndarray]) -> str:
    """SHA-256 over the dtype, shape and bytes of every weight array (the model's identity)."""
    h = hashlib.sha256()
    for w in weights:
        arr = np.ascontiguousarray(w)
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


#: Weights of the ``.keras`` files this process saved, by the file's SHA-256: a warm start
#: from the previous fold's file (wherever the fold cache moved it) skips deserialising it.
_SAVED: OrderedDict[str, list[np.ndarray]] = OrderedDict()
_SAVED_LOCK = threading.Lock()


def remember_saved(path: Path, weights: list[np.ndarray]) -> None:
    """Remember the weights of a ``.keras`` file this process just wrote (by the file's hash)."""
    digest = sha256_file(path)
    with _SAVED_LOCK:
        _SAVED[digest] = [np.array(w) for w in weights]
        while len(_SAVED) > 4:
            _SAVED.popitem(last=False)


def saved_weights(path: Path) -> list[np.ndarray] | None:
    """The weights of ``path`` if this process wrote that very file (``None`` otherwise)."""
    digest = sha256_file(path)
    with _SAVED_LOCK:
        memo = _SAVED.get(digest)
        return None if memo is None else [np.array(w) for w in memo]
