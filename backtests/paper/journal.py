"""The paper session's durable records: the candle journal, the order log and the state file.

* :class:`Journal` — ``journal.jsonl``: every candle delivered to the strategy, one line each,
  appended and fsync'd *before* the strategy sees it. Each line carries a CRC of its content;
  a last line that is cut or fails its CRC (the process was killed writing it) was never
  committed and is dropped; a bad line before the last is damage, an
  :class:`~lstm_backtrader.models.infra.errors.InputError` naming it.
* :class:`OrderLog` — ``orders.jsonl``: the orders the strategy placed and their fills, each with
  an id derived from its bar and rank; an id already in the log is never written again.
* :func:`write_state` / :func:`read_state` — ``state.json``, replaced atomically.

:func:`test_point` is the test-only kill hook (``LSTM_BT_PAPER_KILL=point:n``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lstm_backtrader.models.infra.errors import InputError
from lstm_backtrader.models.infra.fileio import atomic_write_text
from lstm_backtrader.strategies.livefeed import Candle

logger = logging.getLogger(__name__)

__all__ = [
    "KILL_ENV", "Journal", "OrderLog", "fsync_append", "read_json_doc", "read_records",
    "read_state", "record_line", "test_point", "write_state",
]  # fmt: skip

#: Test-only: ``point:n`` SIGKILLs the process the n-th time it reaches the named point
#: (``journal``, ``mid_journal``, ``orders``, ``placed``, ``mid_state``, ``commit``, ``fold``).
KILL_ENV = "LSTM_BT_PAPER_KILL"
_hits: dict[str, int] = {}


def test_point(name: str) -> bool:
    """Count a visit of the named point; SIGKILL this process when ``$LSTM_BT_PAPER_KILL``
    asks for this visit. Returns whether the *next* write should be cut (``mid_*`` points)."""
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return False
    point, _, count = spec.partition(":")
    if point != name:
        return False
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] != int(count or 1):
        return False
    if name.startswith("mid_"):
        return True  # the caller writes half, then calls kill_now()
    kill_now()
    return False  # pragma: no cover - never reached


def kill_now() -> None:
    """SIGKILL this process (the test hook's)."""
    logger.warning("test hook: SIGKILL")
    os.kill(os.getpid(), signal.SIGKILL)


def _crc(payload: str) -> str:
    return f"{zlib.crc32(payload.encode()):08x}"


def fsync_append(path: Path, text: str, *, cut: bool = False) -> None:
    """Append ``text`` to ``path`` and fsync it (``cut``: half of it, then SIGKILL)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text[: len(text) // 2] if cut else text)
        fh.flush()
        os.fsync(fh.fileno())
    if cut:
        kill_now()


def record_line(record: dict[str, Any]) -> str:
    """One JSON line holding ``record`` and its CRC (no newline)."""
    payload = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return json.dumps({"r": record, "crc": _crc(payload)}, sort_keys=True, separators=(",", ":"))


def read_records(path: Path) -> list[dict[str, Any]]:
    """The committed records of a CRC'd JSON-lines file; a torn last line is cut off the file."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    records: list[dict[str, Any]] = []
    good_bytes = 0
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if last and not line:
            break  # the file ends with a newline: every line complete
        try:
            doc = json.loads(line)
            rec = doc["r"]
            ok = _crc(json.dumps(rec, sort_keys=True, separators=(",", ":"))) == doc["crc"]
        except (ValueError, KeyError, TypeError):
            ok = False
        if ok and not last:
            records.append(rec)
            good_bytes += len(line) + 1
            continue
        if i >= len(lines) - 2 and (last or not lines[-1]):
            # the last line (complete or cut): a write the kill interrupted, never committed
            logger.warning("%s: dropped a torn last line (a write was interrupted)", path)
            with open(path, "r+b") as fh:
                fh.truncate(good_bytes)
                fh.flush()
                os.fsync(fh.fileno())
            break
        raise InputError(f"{path}: line {i + 1} is damaged (not a torn last line): refusing it")
    return records


class Journal:
    """``journal.jsonl``: the candles delivered, in order (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.candles: list[Candle] = []
        self.warmup = 0  # leading candles journalled as the warm-up (history, not live)
        for n, rec in enumerate(read_records(self.path)):
            if rec.get("seq") != n:
                raise InputError(f"{self.path}: line {n + 1} has seq {rec.get('seq')}, not {n}")
            candle = Candle(int(rec["t"]), *(float(x) for x in rec["ohlcv"]))
            if self.candles and candle.open_ms <= self.candles[-1].open_ms:
                raise InputError(f"{self.path}: line {n + 1} is not after the line before")
            self.candles.append(candle)
            if rec.get("w") and self.warmup == n:
                self.warmup += 1

    def __len__(self) -> int:
        return len(self.candles)

    def append(self, candles: Iterable[Candle], *, warmup: bool = False) -> None:
        """Append candles (one fsync for them all) and remember them; ``warmup``: they are
        the history journalled when the session starts."""
        batch = list(candles)
        if not batch:
            return
        flag = {"w": 1} if warmup else {}
        text = "".join(
            record_line(
                {"seq": len(self.candles) + i, "t": c.open_ms, "ohlcv": list(c.values()), **flag}
            )
            + "\n"  # fmt: skip
            for i, c in enumerate(batch)
        )
        cut = test_point("mid_journal")
        fsync_append(self.path, text, cut=cut)
        self.candles.extend(batch)
        if warmup and self.warmup == len(self.candles) - len(batch):
            self.warmup = len(self.candles)


class OrderLog:
    """``orders.jsonl``: placed orders and fills, each id written at most once."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.records = read_records(self.path)
        self.ids = {r["id"] for r in self.records}

    def add(self, records: Iterable[dict[str, Any]]) -> int:
        """Append the records whose id is not in the log yet; returns how many were new."""
        new = [r for r in records if r["id"] not in self.ids]
        if not new:
            return 0
        fsync_append(self.path, "".join(record_line(r) + "\n" for r in new))
        self.records.extend(new)
        self.ids.update(r["id"] for r in new)
        return len(new)


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Replace ``state.json`` atomically (a kill mid-write leaves the previous one)."""
    text = json.dumps(state, indent=1, sort_keys=True)
    if test_point("mid_state"):
        tmp = path.with_name(path.name + ".tmp-killed")
        tmp.write_text(text[: len(text) // 2], encoding="utf-8")
        kill_now()
    atomic_write_text(path, text)


def read_json_doc(path: Path) -> dict[str, Any]:
    """A session file holding one JSON object (``session.json``, ``state.json``); a missing,
    unreadable or damaged one is an :class:`InputError` naming it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: corrupt ({' '.join(str(exc).split())[:120]})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: corrupt (not a JSON object)")
    return doc


def read_state(path: Path) -> dict[str, Any] | None:
    """The last committed ``state.json`` (``None`` when there is none)."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise InputError(f"{path}: not valid JSON (it is only ever replaced atomically)") from None
