"""Generated audio that Twilio fetches for `<Play>` at `/audio/{id}`, shared by every replica.

Behind a load balancer Twilio's `GET /audio/{id}` may reach another phone replica than the
one that answered the webhook, so each clip is also a file in one folder every replica
mounts (`AUDIO_CACHE_DIR`, default `calls_log/audio_cache`: the calls volume the replicas
share anyway, see `deploy/`). Files, not Redis: the phone service needs nothing new (Redis
is the orchestrator's, for conversations), a clip is written once and read once or twice,
and the local disk's page cache serves it as fast as a network round trip would.

- Ids come from `secrets.token_urlsafe(24)` (192 random bits): unguessable, and checked
  against that alphabet and length before they name a file.
- `put` (on the event loop) keeps the clip in memory and writes the file in the caches'
  own worker thread (write to a temporary name, then rename: a reader never sees half a
  file); this replica serves its own clips from memory.
- `fetch` on another replica reads the file in a worker thread; a clip whose file is not
  there yet (its replica's write still running) is waited for up to `FETCH_WAIT_S`.
- Clips expire after `AUDIO_TTL_S` (by the file's modification time); expired files are
  purged by the writer, at most once a minute.
- A disk that refuses the write (full, read-only) is logged; the clip stays in memory, so
  the replica that made it still serves it (one replica: nothing changes).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lidia.core.settings import Settings

log = logging.getLogger("phone.audio")

FETCH_WAIT_S = 1.0  # a clip another replica just made: its file may land a moment later
PURGE_EVERY_S = 60.0
_ID = re.compile(r"[A-Za-z0-9_-]{32}")  # secrets.token_urlsafe(24)
SUFFIXES = {
    "audio/wav": ".wav",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "audio/basic": ".ulaw",
}
_TYPES = {suffix: content_type for content_type, suffix in SUFFIXES.items()}
# One writer thread for every cache in the process (files are small; order is kept).
_WRITER = ThreadPoolExecutor(1, thread_name_prefix="audio-cache")


class AudioCache:
    """Audio by id, each expiring after a TTL; shared through `directory` when one is given
    (None: this process's memory only)."""

    def __init__(self, ttl_s: float, directory: Path | None = None) -> None:
        self.ttl_s = ttl_s
        self.directory = directory
        self._items: dict[str, tuple[bytes, str, float]] = {}
        self._lock = threading.Lock()
        self._purged_at = 0.0
        self.disk_error: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> AudioCache:
        directory = settings.audio_cache_dir or settings.calls_log_dir / "audio_cache"
        return cls(settings.audio_ttl_s, directory)

    def put(self, data: bytes, content_type: str = "audio/wav") -> str:
        if content_type not in SUFFIXES:
            raise ValueError(f"unsupported audio type {content_type!r}")
        audio_id = secrets.token_urlsafe(24)
        with self._lock:
            self._purge_memory(time.monotonic())
            self._items[audio_id] = (data, content_type, time.monotonic() + self.ttl_s)
        if self.directory is not None:
            _WRITER.submit(self._write, audio_id, data, content_type)
        return audio_id

    def get(self, audio_id: str) -> tuple[bytes, str] | None:
        """This replica's own clip (memory only; `fetch` also looks in the shared folder)."""
        with self._lock:
            item = self._items.get(audio_id)
            if item is None or item[2] < time.monotonic():
                self._items.pop(audio_id, None)
                return None
            return item[0], item[1]

    async def fetch(self, audio_id: str) -> tuple[bytes, str] | None:
        """The clip, from memory or the shared folder; None when unknown or expired."""
        if not _ID.fullmatch(audio_id):
            return None
        item = self.get(audio_id)
        if item is not None or self.directory is None:
            return item
        deadline = time.monotonic() + FETCH_WAIT_S
        while True:
            item = await asyncio.to_thread(self._read, audio_id)
            if item is not None or time.monotonic() >= deadline:
                return item
            await asyncio.sleep(0.05)

    def flush(self) -> None:
        """Block until every clip put so far is written (or refused by the disk)."""
        _WRITER.submit(lambda: None).result()

    # ------------------------------------------------------------------ the shared folder

    def _path(self, audio_id: str, content_type: str) -> Path:
        assert self.directory is not None
        return self.directory / f"{audio_id}{SUFFIXES[content_type]}"

    def _write(self, audio_id: str, data: bytes, content_type: str) -> None:
        path = self._path(audio_id, content_type)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(data)
            os.replace(temporary, path)
        except OSError as exc:
            if self.disk_error is None:
                log.error("audio cache %s not writable (%s): clips stay in memory", path, exc)
            self.disk_error = f"{type(exc).__name__}: {exc}"
            temporary.unlink(missing_ok=True)
            return
        self.disk_error = None
        self._purge_files()

    def _read(self, audio_id: str) -> tuple[bytes, str] | None:
        assert self.directory is not None
        for suffix, content_type in _TYPES.items():
            path = self.directory / f"{audio_id}{suffix}"
            try:
                if time.time() - path.stat().st_mtime > self.ttl_s:
                    return None
                return path.read_bytes(), content_type
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("audio cache file %s unreadable: %s", path, exc)
                return None
        return None

    def _purge_files(self) -> None:
        now = time.monotonic()
        if now - self._purged_at < PURGE_EVERY_S:
            return
        self._purged_at = now
        assert self.directory is not None
        cutoff = time.time() - self.ttl_s
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return
        for entry in entries:
            try:
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
            except OSError:
                continue  # another replica purged it first, or the disk refuses: next time

    def _purge_memory(self, now: float) -> None:
        for key in [k for k, (_, _, expires) in self._items.items() if expires < now]:
            del self._items[key]
