"""Installed versions of the packages a result depends on (manifests, model sidecars and the
fold and trial cache keys: a library upgrade must never reuse results computed by another stack).
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import platform
from collections.abc import Iterable

logger = logging.getLogger(__name__)


def installed_versions(names: Iterable[str]) -> dict[str, str]:
    """Installed distribution versions of ``names`` (``'not installed'`` where absent)."""
    return dict(_versions(tuple(names)))


def package_versions(names: Iterable[str]) -> dict[str, str]:
    """The Python version and :func:`installed_versions` of ``names``."""
    return {"python": platform.python_version(), **installed_versions(names)}


@functools.lru_cache(maxsize=16)
def _versions(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out = []
    for name in names:
        try:
            out.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return tuple(out)
