"""Last use, size and pruning of cache entries (the fold cache, the report pieces).

Every cache hit stamps the entry with the time of use (:func:`mark_used`: its file's mtime),
so :func:`prune_entries` removes what no run has used for a while, whatever its age.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


def mark_used(path: Path) -> None:
    """Stamp a cache entry's file with the time of this use (what :func:`prune_entries` goes
    by); a read-only cache is used as it is."""
    with contextlib.suppress(OSError):
        os.utime(path)


def last_uses(pairs: Iterable[tuple[Path, Path]]) -> list[tuple[Path, float]]:
    """``(entry, stamp file)`` pairs -> ``(entry, last use)``, the stamp file's mtime (what
    :func:`mark_used` sets); an entry whose stamp vanished meanwhile is left out."""
    out = []
    for entry, stamp in pairs:
        try:
            out.append((entry, stamp.stat().st_mtime))
        except OSError:
            continue
    return out


@dataclass(frozen=True)
class CacheUsage:
    """Entries of a cache folder: how many, their bytes and the oldest and newest last use."""

    entries: int
    bytes: int
    oldest: float | None
    newest: float | None


def _tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def usage(entries: list[tuple[Path, float]]) -> CacheUsage:
    """Count, size and last-use range of ``entries`` (as :func:`fold_entries` lists them)."""
    times = [t for _, t in entries]
    return CacheUsage(
        entries=len(entries),
        bytes=sum(_tree_bytes(p) for p, _ in entries),
        oldest=min(times) if times else None,
        newest=max(times) if times else None,
    )


def prune_entries(
    entries: list[tuple[Path, float]], older_than: float, *, now: float | None = None,
    dry_run: bool = False,
) -> CacheUsage:  # fmt: skip
    """Remove the entries (files or folders) last used more than ``older_than`` seconds ago;
    what was (or, with ``dry_run``, would be) removed. A folder is first renamed to a hidden
    name beside it, so no reader ever sees it half-deleted."""
    now = time.time() if now is None else now
    old = [(p, t) for p, t in entries if now - t > older_than]
    gone = usage(old)
    if not dry_run:
        for path, _ in old:
            try:
                if path.is_dir():
                    doomed = path.with_name(f".tmp-prune-{uuid.uuid4().hex}")
                    os.rename(path, doomed)
                    shutil.rmtree(doomed, ignore_errors=True)
                else:
                    path.unlink()
            except OSError as exc:
                logger.warning("cache entry %s not removed (%s)", path, exc)
    return gone
