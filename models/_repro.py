"""Reproducibility: seeding for bit-identical Keras training (imports TensorFlow: call only
where training) and the installed versions a result depends on."""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Reset Keras' global state and seed every generator, with deterministic TF kernels.

    Clears the Keras session (name counters, global seed generators), seeds Python, NumPy,
    TensorFlow and Keras via :func:`keras.utils.set_random_seed`, and turns on
    ``tf.config.experimental.enable_op_determinism``. Same data + config + seed then gives
    bit-identical weights and forecasts on the same machine and library versions.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.backend.clear_session()
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


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
