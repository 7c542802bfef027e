"""User code named in a configuration: ``"package.module:attribute"`` or
``"path/to/file.py:attribute"`` (a Keras network builder, a scikit-learn regressor class).

Names, not objects, keep configs JSON-serialisable and let executor workers (local processes,
Dask) import the same code. A file path is resolved against the current folder (the CLI
resolves a TOML file's paths against the file's folder first). :func:`code_hash` is the SHA-256
of the defining source file, part of the fold-cache key: editing a builder retrains its folds.
"""

from __future__ import annotations

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


#: file path -> (SHA-256 of the bytes executed, module): a file edited since is executed anew,
#: so the code that runs is always the code whose hash keys the fold cache.
_FILES: dict[Path, tuple[str, Any]] = {}


def _file_module(module: str, what: str) -> tuple[str, Any]:
    path = Path(module).expanduser().resolve()
    try:
        source = path.read_bytes()
    except OSError:
        raise InputError(f"{what}: file {module} not found") from None
    digest = hashlib.sha256(source).hexdigest()
    known = _FILES.get(path)
    if known is not None and known[0] == digest:
        return known
    key = f"lstm_bt_user_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}_{digest[:12]}"
    spec = importlib.util.spec_from_loader(key, loader=None, origin=str(path))
    if spec is None:
        raise InputError(f"{what}: {module} cannot be imported")
    mod = importlib.util.module_from_spec(spec)
    mod.__file__ = str(path)
    sys.modules[key] = mod  # workers unpickle names from it
    try:
        exec(compile(source, str(path), "exec"), mod.__dict__)  # noqa: S102 - the user's own code
    except Exception as exc:  # noqa: BLE001 - user code: one line naming it
        del sys.modules[key]
        raise InputError(
            f"{what}: importing {module} failed ({type(exc).__name__}: {exc})"
        ) from None
    _FILES[path] = (digest, mod)
    return digest, mod


def _module(module: str, what: str) -> Any:
    if module.endswith(".py"):
        return _file_module(module, what)[1]
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
    """SHA-256 of the source that defines what ``spec`` names: for a file, of the very bytes
    :func:`resolve` executed (a file edited since is executed anew first); for a module, of
    its source file."""
    module, _ = _split(spec, what)
    if module.endswith(".py"):
        return _file_module(module, what)[0]
    obj = resolve(spec, what)
    try:
        source = inspect.getsourcefile(obj) or inspect.getfile(obj)
        return hashlib.sha256(Path(source).read_bytes()).hexdigest()
    except (TypeError, OSError):
        return hashlib.sha256(spec.encode()).hexdigest()  # builtin or compiled: the name only
