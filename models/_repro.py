"""Reproducibility: deterministic TensorFlow kernels for bit-identical training (imports
TensorFlow: call only where training) and the installed versions a result depends on. The
LSTM seeds its initializers, dropout and batch order explicitly
(:mod:`lstm_backtrader.models._trainer`); TensorFlow is never re-seeded globally (that clears its
kernel caches, ~0.3 s per fold)."""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os

logger = logging.getLogger(__name__)


_DETERMINISTIC = False


def deterministic_ops() -> None:
    """Turn on ``tf.config.experimental.enable_op_determinism`` (once per process).

    Same data + config + seed then gives bit-identical weights and forecasts on the same
    machine and library versions.
    """
    global _DETERMINISTIC
    if not _DETERMINISTIC:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        _DETERMINISTIC = True


def installed_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Installed distribution versions of ``names`` (``'not installed'`` where absent)."""
    return dict(_versions(names))


@functools.lru_cache(maxsize=16)
def _versions(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out = []
    for name in names:
        try:
            out.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return tuple(out)
