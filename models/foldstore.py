"""The content-addressed fold cache of the walk-forward engine.

``<cache_dir>/folds/<key>/`` holds ``model.keras`` (LSTM only), ``model.json`` (sidecar),
``forecasts.npy`` and ``fold.json`` (the commit marker, with the SHA-256 of each file). An
entry is built in a private ``folds/.tmp-<uuid>/`` folder and renamed into place when
complete, so runs sharing a cache (concurrent sweep trials, several machines) never read or
delete each other's half-written folds; if two runs publish the same key, the first one stays
(same key, same inputs, same forecasts). ``key`` = SHA-256 of (:data:`CACHE_VERSION`, library
versions, forecaster config, training-slice hash, fold boundaries, warm-start parent's model
hash and epochs): see :func:`fold_key`. An entry that fails its checks is logged, deleted and
retrained. Without a ``cache_dir`` the store is a private temporary folder, removed by
:meth:`FoldStore.close`.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from lstm_backtrader.models.infra.cacheuse import last_uses, mark_used
from lstm_backtrader.models.infra.fileio import (
    atomic_write_bytes,
    atomic_write_text,
    sha256_bytes,
    sha256_file,
)
from lstm_backtrader.models.infra.versions import installed_versions

logger = logging.getLogger(__name__)

#: Part of every cache key: bump when training, features or the artifact layout change.
CACHE_VERSION = "lstm-backtrader/wf-fold/3"

#: Build folders of runs killed longer ago than this (seconds) are removed.
STALE_SECONDS = 86_400.0


def fold_key(
    *,
    config: dict[str, Any],
    depends_on: tuple[str, ...],
    train_hash: str,
    fold: dict[str, Any],
    parent_hash: str | None,
    epochs: int | None,
) -> str:
    """The cache key of one fold: a change to any input changes it.

    Parameters
    ----------
    config
        The forecaster's configuration (``ForecasterConfig.to_dict()``).
    depends_on
        Distributions besides numpy and pandas whose versions the trained fold depends on (an
        upgrade must not reuse folds trained by another stack).
    train_hash
        Hash of the training slice.
    fold
        Fold boundaries as timestamps, the gap and whether the window expands.
    parent_hash, epochs
        Warm start: the parent model's hash and the epochs of this fit (``None`` otherwise).
    """
    doc = {
        "version": CACHE_VERSION,
        "libraries": installed_versions(("numpy", "pandas", *depends_on)),
        "config": config,
        "train_hash": train_hash,
        "fold": fold,
        "parent": parent_hash,
        "epochs": epochs,
    }
    return sha256_bytes(json.dumps(doc, sort_keys=True).encode())


def npy_bytes(values: np.ndarray) -> bytes:
    """``values`` as float64 ``.npy`` bytes (no pickle)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(values, dtype="float64"), allow_pickle=False)
    return buf.getvalue()


class FoldStore:
    """Where a walk-forward run keeps its fold models: a shared cache or a private temp folder.

    Parameters
    ----------
    cache_dir
        Root of the fold cache (entries under ``cache_dir/folds``); ``None``: a private
        temporary folder, entries named by fold number and never reused.
    """

    def __init__(self, cache_dir: str | Path | None) -> None:
        self.cached = cache_dir is not None
        self._tmp: Path | None = None
        if cache_dir is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="walkforward-"))
            self.root = self._tmp
        else:
            self.root = Path(cache_dir).expanduser() / "folds"
            if self.root.is_dir():
                self.sweep_stale()

    def close(self) -> None:
        """Remove the private temporary folder (nothing happens to a shared cache)."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> FoldStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def entry(self, key: str, fold: int) -> Path:
        """The folder of a fold's entry."""
        return self.root / key if self.cached else self.root / f"fold_{fold:04d}"

    def workdir(self, entry: Path) -> Path:
        """A folder to build ``entry`` in (a private one in a shared cache)."""
        work = self.root / f".tmp-{uuid.uuid4().hex}" if self.cached else entry
        work.mkdir(parents=True, exist_ok=True)
        return work

    def read(self, entry: Path, key: str) -> dict[str, Any] | None:
        """The committed metadata of an entry, or None when absent or failing a check."""
        meta_path = entry / "fold.json"
        if not meta_path.exists():
            if entry.exists():
                logger.warning("fold cache %s: incomplete entry (no fold.json); retraining", entry)
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("key") != key:
                raise ValueError("key mismatch")
            for name, digest in meta["files"].items():
                if sha256_file(entry / name) != digest:
                    raise ValueError(f"{name} hash mismatch")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("fold cache %s: corrupt entry (%s); retraining", entry, exc)
            return None
        if meta.get("val_loss") is None:
            meta["val_loss"] = float("nan")
        mark_used(meta_path)
        return meta

    def write_files(self, work: Path, files: dict[str, bytes]) -> None:
        """Store the bytes of a fold's files (trained elsewhere) in ``work``."""
        for name, data in files.items():
            atomic_write_bytes(work / name, data)

    def commit(
        self,
        work: Path,
        key: str,
        forecasts: np.ndarray,
        predict_hash: str,
        meta: dict[str, Any],
    ) -> None:
        """Write the forecasts and the commit marker ``fold.json`` (with every file's hash)."""
        atomic_write_bytes(work / "forecasts.npy", npy_bytes(forecasts))
        files = {
            p.name: sha256_file(p)
            for p in sorted(work.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.name != "fold.json"
        }
        doc = {
            "key": key,
            "version": CACHE_VERSION,
            **meta,
            "predict_hash": predict_hash,
            "files": files,
        }
        atomic_write_text(work / "fold.json", json.dumps(doc, indent=1, sort_keys=True) + "\n")

    def publish(self, work: Path, entry: Path, key: str) -> None:
        """Rename the complete ``work`` folder to ``entry``. If another run published the same
        key meanwhile (same key = same inputs and results), keep theirs; a stale or corrupt
        entry in the way is replaced."""
        if work == entry:
            return
        try:
            os.rename(work, entry)
            return
        except OSError:
            pass
        if self.read(entry, key) is not None:
            shutil.rmtree(work, ignore_errors=True)
            return
        shutil.rmtree(entry, ignore_errors=True)
        os.rename(work, entry)

    def stored_forecasts(self, entry: Path, meta: dict[str, Any], predict_hash: str, n: int):
        """The entry's stored forecasts when they were made from the same prediction slice
        (``None`` otherwise: recompute them from the stored model)."""
        if meta.get("predict_hash") != predict_hash:
            return None
        values = np.load(entry / "forecasts.npy", allow_pickle=False)
        return values if len(values) == n else None

    def sweep_stale(self, max_age: float = STALE_SECONDS) -> None:
        """Remove private build folders of runs killed more than ``max_age`` seconds ago."""
        now = time.time()
        for tmp in self.root.glob(".tmp-*"):
            try:
                if now - tmp.stat().st_mtime > max_age:
                    shutil.rmtree(tmp, ignore_errors=True)
            except OSError:
                continue


def fold_entries(cache_dir: str | Path) -> list[tuple[Path, float]]:
    """The committed fold entries under ``cache_dir/folds`` with their last use (the mtime of
    ``fold.json``, stamped at every cache hit: see
    :mod:`~lstm_backtrader.models.infra.cacheuse`); build folders are not entries."""
    root = Path(cache_dir).expanduser() / "folds"
    entries = sorted(root.iterdir()) if root.is_dir() else []
    return last_uses(
        (e, e / "fold.json")
        for e in entries
        if not e.name.startswith(".") and (e / "fold.json").is_file()
    )
