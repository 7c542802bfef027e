"""A content-addressed store of rendered report pieces (plot PNGs, the Backtrader chart, the
tearsheet HTML and its notes), so that a rerun whose results did not change renders nothing.

A piece is one file ``<root>/<key>.<ext>`` (a run's ``root`` is ``<fold cache>/report``), where
``key`` (:func:`piece_key`) is the SHA-256 of exactly what determines its bytes: its kind, its
inputs hashed by value (:func:`hash_value`), the source of the modules that render it, the
versions of the libraries that draw it and :data:`PIECE_FORMAT`. Entries are bytes only (PNG,
HTML, JSON text; never pickles), written atomically; an entry that cannot be read or fails its
format check (:func:`looks_complete`) is rendered again and replaced.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import struct
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lstm_backtrader.models.infra import versions
from lstm_backtrader.models.infra.cacheuse import last_uses, mark_used
from lstm_backtrader.models.infra.fileio import atomic_write_bytes

__all__ = ["PIECE_FORMAT", "PieceStats", "PieceStore", "cached", "hash_value", "looks_complete",
           "piece_entries", "piece_key"]  # fmt: skip

logger = logging.getLogger(__name__)

#: Part of every key: bump it when the way pieces are keyed or stored changes.
PIECE_FORMAT = 1

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _feed(h: Any, tag: str, payload: bytes = b"") -> None:
    h.update(tag.encode() + b"\0" + struct.pack("<Q", len(payload)) + payload)


def hash_value(h: Any, value: Any) -> None:
    """Feed ``value`` into the hash ``h`` by value, unambiguously (type tags and lengths):
    ``None``, bools, numbers, text, bytes, timestamps, NumPy arrays and scalars, pandas
    Series/Index/DataFrame (values, dtypes, index, names), mappings (in order), lists and
    tuples of those. Any other type raises :class:`TypeError` (a ``repr`` may hide a change).
    """
    if value is None or value is pd.NaT or isinstance(value, bool | np.bool_ | str | bytes):
        tag = "bool" if isinstance(value, np.bool_) else type(value).__name__
        _feed(h, tag, value if isinstance(value, bytes) else str(value).encode())
    elif isinstance(value, int | np.integer):
        _feed(h, "int", str(int(value)).encode())
    elif isinstance(value, float | np.floating):
        _feed(h, "float", struct.pack("<d", float(value)))
    elif isinstance(value, pd.Timestamp):
        _feed(h, "ts", f"{value.value}|{value.tz}".encode())
    elif isinstance(value, pd.DataFrame):
        _feed(h, "frame", str(value.shape).encode())
        hash_value(h, list(value.columns))
        hash_value(h, value.index)
        for i in range(value.shape[1]):
            hash_value(h, value.iloc[:, i].to_numpy())
    elif isinstance(value, pd.Series):
        _feed(h, "series", str(value.name).encode())
        hash_value(h, value.index)
        hash_value(h, value.to_numpy())
    elif isinstance(value, pd.DatetimeIndex):
        _feed(h, "dtindex", f"{value.name}|{value.tz}|{value.freqstr}".encode())
        _feed(h, "ns", np.ascontiguousarray(value.asi8).tobytes())
    elif isinstance(value, pd.Index):
        _feed(h, "index", str(value.name).encode())
        hash_value(h, value.to_numpy())
    elif isinstance(value, np.ndarray):
        _feed(h, "array", f"{value.dtype.str}|{value.shape}".encode())
        if value.dtype.kind in "biufcmM":
            _feed(h, "data", np.ascontiguousarray(value).tobytes())
        else:  # objects (text, timestamps in a trade table): one by one
            for item in value.ravel():
                hash_value(h, item)
    elif isinstance(value, Mapping | list | tuple):
        items = list(value.items()) if isinstance(value, Mapping) else list(value)
        _feed(h, "map" if isinstance(value, Mapping) else "seq", str(len(items)).encode())
        for item in items:
            hash_value(h, item)
    else:
        raise TypeError(f"a report piece cannot be keyed on a {type(value).__name__}")


@functools.lru_cache(maxsize=64)
def _code_digest(modules: tuple[str, ...]) -> str:
    """SHA-256 of the source files of ``modules`` (of a package: every ``.py`` file in it)."""
    h = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ValueError(f"no source for module {name!r}")
        origin = Path(spec.origin)
        files = sorted(origin.parent.rglob("*.py")) if spec.submodule_search_locations else [origin]
        for path in files:
            _feed(h, "file", str(path.relative_to(origin.parent)).encode())
            _feed(h, "code", path.read_bytes())
    return h.hexdigest()


def piece_key(
    kind: str, inputs: Mapping[str, Any], *, code: Sequence[str], packages: Sequence[str]
) -> str:
    """The store key of a piece (64 hex digits): SHA-256 of :data:`PIECE_FORMAT`, ``kind``,
    the Python and ``packages`` versions, the source of the ``code`` modules (or packages)
    and the ``inputs`` by name (:func:`hash_value`)."""
    h = hashlib.sha256()
    hash_value(h, ["lstm-bt report piece", PIECE_FORMAT, kind])
    hash_value(h, sorted(versions.package_versions(packages).items()))
    _feed(h, "code", _code_digest(tuple(code)).encode())
    hash_value(h, dict(inputs))
    return h.hexdigest()


def _png_complete(data: bytes) -> bool:
    """A PNG signature, then chunks whose CRCs match, up to ``IEND`` at the very end."""
    pos = len(_PNG_MAGIC)
    while data.startswith(_PNG_MAGIC) and pos + 12 <= len(data):
        end = pos + 12 + struct.unpack(">I", data[pos : pos + 4])[0]
        body = data[pos + 4 : end - 4]
        if end > len(data) or zlib.crc32(body) != struct.unpack(">I", data[end - 4 : end])[0]:
            return False
        if body[:4] == b"IEND":
            return end == len(data)
        pos = end
    return False


def looks_complete(data: bytes, ext: str) -> bool:
    """Whether ``data`` is a whole ``ext`` file: a PNG whose chunks' CRCs all match, UTF-8 HTML
    with ``<!DOCTYPE html>`` near its start and ending ``</html>``, JSON that parses; any other
    type: not empty."""
    if ext == "png":
        return _png_complete(data)
    try:
        if ext == "html":
            text = data.decode("utf-8").strip()
            return "<!doctype html" in text[:512].lower() and text.endswith("</html>")
        if ext == "json":
            json.loads(data.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return False
    return len(data) > 0


@dataclass
class PieceStats:
    """What a :class:`PieceStore` did: pieces reused (``hits``) and rendered (``renders``, of
    which ``repaired`` replaced a corrupt entry), the kinds rendered in order, and the seconds
    each kind's rendering took."""

    hits: int = 0
    renders: int = 0
    repaired: int = 0
    rendered: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


class PieceStore:
    """Rendered report pieces in the folder ``root`` (created on the first write), by
    :func:`piece_key`; with ``root=None`` every piece is rendered and nothing is kept."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = None if root is None else Path(root).expanduser()
        self.stats = PieceStats()

    def get(self, kind: str, key: str, ext: str, render: Callable[[], bytes]) -> bytes:
        """The bytes of the ``kind`` piece ``key`` (a :func:`piece_key`) of type ``ext``: its
        entry when whole, else what ``render()`` returns (then stored)."""
        path = None if self.root is None else self.root / f"{key}.{ext}"
        stale = path is not None and path.is_file()
        if path is not None and stale:
            try:
                data = path.read_bytes()
            except OSError:  # e.g. no permission: rendered (and replaced) like a corrupt one
                data = b""
            if looks_complete(data, ext):
                self.stats.hits += 1
                mark_used(path)
                logger.debug("report piece %s reused: %s", kind, path)
                return data
            logger.warning("report piece %s is unreadable or corrupt: rendering it again", path)
        t0 = time.perf_counter()
        data = render()
        elapsed = time.perf_counter() - t0
        if not isinstance(data, bytes) or not looks_complete(data, ext):
            raise ValueError(f"report piece {kind}: the renderer gave no whole {ext} file")
        self.stats.renders += 1
        self.stats.repaired += int(stale)
        self.stats.rendered.append(kind)
        self.stats.seconds[kind] = self.stats.seconds.get(kind, 0.0) + elapsed
        if path is not None:
            try:
                atomic_write_bytes(path, data)
            except OSError as exc:  # the store only saves time: the report goes on without it
                logger.warning("report piece %s not stored (%s)", path, exc)
        logger.debug("report piece %s rendered in %.2f s", kind, elapsed)
        return data


def cached(
    store: PieceStore | None,
    kind: str,
    ext: str,
    render: Callable[[], bytes],
    inputs: Mapping[str, Any],
    *,
    code: Sequence[str],
    packages: Sequence[str],
) -> bytes:
    """``render()`` through ``store``, keyed by :func:`piece_key` of the other arguments;
    without a store, plain ``render()``."""
    if store is None:
        return render()
    return store.get(kind, key=piece_key(kind, inputs, code=code, packages=packages), ext=ext,
                     render=render)  # fmt: skip


def piece_entries(root: str | Path) -> list[tuple[Path, float]]:
    """The stored pieces under ``root`` with their last use (their mtime, stamped at every
    reuse); temporary files of interrupted writes are not pieces."""
    folder = Path(root).expanduser()
    paths = sorted(folder.iterdir()) if folder.is_dir() else []
    return last_uses((p, p) for p in paths if not p.name.startswith(".") and p.is_file())
