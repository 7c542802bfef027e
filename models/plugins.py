"""User code named in a configuration: ``"package.module:attribute"`` or
``"path/to/file.py:attribute"`` (a Keras network builder, a scikit-learn regressor class).

Names, not objects, keep configs JSON-serialisable and let executor workers (local processes,
Dask) import the same code. A file path is resolved against the current folder (the CLI
resolves a TOML file's paths against the file's folder first). :func:`code_hash` is the SHA-256
of the defining source file, part of the fold-cache key: editing a builder retrains its folds.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
import logging
import sys
from pathlib import Path
from typing import Any

from lstm_backtrader.models.infra.errors import InputError

logger = logging.getLogger(__name__)


def _split(spec: str, what: str) -> tuple[str, str]:
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise InputError(f"{what} is {spec!r}: use 'package.module:name' or 'path/to/file.py:name'")
    module, name = spec.split(":")
    return module.strip(), name.strip()


@functools.lru_cache(maxsize=64)
def _module(module: str, what: str) -> Any:
    if module.endswith(".py"):
        path = Path(module).expanduser().resolve()
        if not path.is_file():
            raise InputError(f"{what}: file {module} not found")
        key = "lstm_bt_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        if key in sys.modules:
            return sys.modules[key]
        spec = importlib.util.spec_from_file_location(key, path)
        if spec is None or spec.loader is None:
            raise InputError(f"{what}: {module} cannot be imported")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[key] = mod  # workers unpickle names from it
        try:
            spec.loader.exec_module(mod)
        except Exception as exc:  # noqa: BLE001 - user code: one line naming it
            del sys.modules[key]
            raise InputError(
                f"{what}: importing {module} failed ({type(exc).__name__}: {exc})"
            ) from None
        return mod
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise InputError(f"{what}: module {module!r} cannot be imported ({exc})") from None


def resolve(spec: str, what: str) -> Any:
    """The object ``spec`` names.

    Parameters
    ----------
    spec
        ``"package.module:name"`` or ``"path/to/file.py:name"``.
    what
        The config field, named in errors (``"[model] builder"``).

    Raises
    ------
    InputError
        One line: a malformed spec, a module or file that cannot be imported, a missing name.
    """
    module, name = _split(spec, what)
    obj = getattr(_module(module, what), name, None)
    if obj is None:
        raise InputError(f"{what}: {module} has no {name!r}")
    return obj


def code_hash(spec: str, what: str) -> str:
    """SHA-256 of the source file that defines what ``spec`` names (its module's file)."""
    obj = resolve(spec, what)
    try:
        source = inspect.getsourcefile(obj) or inspect.getfile(obj)
        return hashlib.sha256(Path(source).read_bytes()).hexdigest()
    except (TypeError, OSError):
        return hashlib.sha256(spec.encode()).hexdigest()  # builtin or compiled: the name only
