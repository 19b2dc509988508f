"""The local durable journal: every call write lands here before it reaches the database.

A small SQLite file (WAL mode, `synchronous=FULL`: a committed entry survives a power cut)
beside the calls, one row per write: a unique id, the operation and its arguments as JSON.
SQLite was chosen over a home-made log format because it is a well-kept engine whose
crash-safety is tested far beyond anything we would write, and it ships with Python.

Entries are also held in memory, in order, until applied: when the journal file itself
cannot be written (disk full, read-only) an entry lives in memory only (bounded by
`max_memory_entries`) and is written to the file on a later try; `disk_error` says why.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
import sqlite3
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lidia.core.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger("phone.journal")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    op TEXT NOT NULL,
    args TEXT NOT NULL,
    journaled_at TEXT NOT NULL
)
"""


@dataclass
class JournalEntry:
    id: str
    op: str
    args: dict[str, Any]
    saved: bool = False  # in the journal file (else in memory only, for now)


def encode_args(args: dict[str, Any]) -> str:
    return json.dumps(args, default=_encode_value, ensure_ascii=False)


def decode_args(text: str) -> dict[str, Any]:
    return json.loads(text, object_hook=_decode_value)


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    raise TypeError(f"cannot journal a {type(value).__name__}")


def _decode_value(obj: dict[str, Any]) -> Any:
    if set(obj) == {"$datetime"}:
        return dt.datetime.fromisoformat(obj["$datetime"])
    if set(obj) == {"$bytes"}:
        return base64.b64decode(obj["$bytes"])
    return obj


class Journal:
    """The pending writes, oldest first: in the SQLite file and in memory. Thread-safe."""

    def __init__(
        self, path: Path, *, max_memory_entries: int = 100_000, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.path = path
        self.clock = clock
        self.max_memory_entries = max_memory_entries
        self.disk_error: str | None = None
        self._pending: deque[JournalEntry] = deque()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def open(self) -> list[JournalEntry]:
        """Open (or create) the file; load and return the entries a previous run left."""
        with self._lock:
            try:
                self._connect()
            except (OSError, sqlite3.Error) as exc:
                self._disk_failed("open", exc)
                return []
            assert self._conn is not None
            rows = self._conn.execute("SELECT id, op, args FROM entries ORDER BY seq").fetchall()
            left = [JournalEntry(i, op, decode_args(args), saved=True) for i, op, args in rows]
            self._pending.extend(left)
            return left

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(_SCHEMA)
        except sqlite3.Error:
            conn.close()
            raise
        self._conn = conn

    def append(self, op: str, args: dict[str, Any]) -> JournalEntry:
        """Record a write; it stays pending until `done`. Never raises for a disk problem."""
        entry = JournalEntry(uuid.uuid4().hex, op, args)
        with self._lock:
            if len(self._pending) >= self.max_memory_entries:
                dropped = self._pending.popleft()
                log.error("journal full in memory: dropped %s %s", dropped.op, dropped.id)
            self._pending.append(entry)
            self._save(entry)
        return entry

    def pending(self) -> list[JournalEntry]:
        with self._lock:
            return list(self._pending)

    def __len__(self) -> int:
        return len(self._pending)

    def done(self, entry: JournalEntry) -> None:
        """The entry reached the database: forget it (file and memory)."""
        with self._lock:
            if entry.saved and self._conn is not None:
                try:
                    self._conn.execute("DELETE FROM entries WHERE id = ?", (entry.id,))
                except sqlite3.Error as exc:
                    # Left in the file it is replayed once more at start: harmless (idempotent).
                    self._disk_failed("delete", exc)
            with contextlib.suppress(ValueError):
                self._pending.remove(entry)

    def save_unsaved(self) -> None:
        """Try again to put memory-only entries in the file (the disk may have room now)."""
        with self._lock:
            for entry in [e for e in self._pending if not e.saved]:
                if not self._save(entry):
                    return
            self.disk_error = None

    def _save(self, entry: JournalEntry) -> bool:
        try:
            if self._conn is None:
                self._connect()
            assert self._conn is not None
            self._conn.execute(
                "INSERT OR IGNORE INTO entries (id, op, args, journaled_at) VALUES (?, ?, ?, ?)",
                (entry.id, entry.op, encode_args(entry.args), self.clock.now().isoformat()),
            )
        except (OSError, sqlite3.Error) as exc:
            self._disk_failed("write", exc)
            return False
        entry.saved = True
        return True

    def _disk_failed(self, action: str, exc: BaseException) -> None:
        reason = f"journal {action} failed at {self.path}: {type(exc).__name__}: {exc}"
        if reason != self.disk_error:
            log.error("%s (kept in memory)", reason)
        self.disk_error = reason

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
