"""A call's audio files under `calls_log/<CallSid>/`: their names, and writes off the loop.

A write that fails (disk full, read-only directory) never fails the call: the file's bytes
are kept in memory (`unsaved`, bounded by `CALL_AUDIO_MEMORY_MB`), written again by
`keep_flushing()` once the disk takes them, and the failure is reported (`/health`, and an
error on the call's record when the call ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from lidia.audio.codecs import wav_bytes
from lidia.audio.mulaw import MULAW_SAMPLE_RATE, mulaw_to_pcm

log = logging.getLogger("phone.files")

WHOLE_CALL_FILE = "caller.wav"  # everything the caller's line carried, start to end
MESSAGE_FILE = "message.wav"  # what the caller said after the apology's beep
CALL_FILE = "call.wav"  # both sides on one timeline: caller left, Лидия right (stereo)


def turn_file(turn_index: int, side: Literal["caller", "reply"]) -> str:
    return f"turn{turn_index:03d}_{side}.wav"


class UnsavedAudio:
    """Files the disk refused, kept in memory (oldest dropped past `limit_bytes`). Thread-safe."""

    def __init__(self, limit_bytes: int = 64 * 1024 * 1024) -> None:
        self.limit_bytes = limit_bytes
        self.last_error: str | None = None
        self.dropped = 0  # files given up because memory ran past the bound
        self._files: OrderedDict[Path, bytes] = OrderedDict()
        self._errors: dict[Path, list[str]] = {}  # per call folder, until the call reports them
        self._lock = threading.Lock()

    @property
    def held_bytes(self) -> int:
        return sum(len(data) for data in self._files.values())

    def __len__(self) -> int:
        return len(self._files)

    def write(self, path: Path, data: bytes) -> None:
        """Write `path`, or keep it in memory when the disk refuses (blocking: worker thread)."""
        try:
            _write_now(path, data)
        except OSError as exc:
            self._keep(path, data, exc)

    def _keep(self, path: Path, data: bytes, exc: OSError) -> None:
        reason = f"{path.name} not written ({exc.strerror or exc}); kept in memory"
        log.error("call audio %s: %s", path, reason)
        with self._lock:
            self.last_error = f"{path.parent}: {exc.strerror or exc}"
            self._errors.setdefault(path.parent, []).append(reason)
            self._files[path] = data
            self._files.move_to_end(path)
            while len(self._files) > 1 and self.held_bytes > self.limit_bytes:
                lost, _ = self._files.popitem(last=False)
                self.dropped += 1
                log.error("call audio %s lost: past CALL_AUDIO_MEMORY_MB", lost)

    def flush(self) -> int:
        """Write what is kept; returns how many files are still waiting (blocking)."""
        with self._lock:
            waiting = list(self._files.items())
        for path, data in waiting:
            try:
                _write_now(path, data)
            except OSError:
                return len(self._files)
            with self._lock:
                if self._files.get(path) is data:
                    del self._files[path]
        with self._lock:
            if not self._files:
                self.last_error = None
            return len(self._files)

    def take_errors(self, call_dir: Path) -> list[str]:
        """The failures of one call's files, once (the call records them as errors)."""
        with self._lock:
            return self._errors.pop(call_dir, [])

    def problem(self) -> str | None:
        """For /health: why audio waits in memory, or None."""
        if not self._files and not self.dropped:
            return None
        lost = f", {self.dropped} lost" if self.dropped else ""
        return (
            f"{self.last_error}; {len(self._files)} audio files "
            f"({self.held_bytes} bytes) waiting in memory{lost}"
        )


def _write_now(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)  # no 0-byte or cut-off file left behind
        raise


unsaved = UnsavedAudio()  # one per process: every call shares the memory bound


async def keep_flushing(interval_s: float) -> None:
    """Retry the kept files every `interval_s` until cancelled (the phone app runs this)."""
    while True:
        await asyncio.sleep(interval_s)
        if len(unsaved):
            await asyncio.to_thread(unsaved.flush)


async def write_file(path: Path, data: bytes) -> str:
    await asyncio.to_thread(unsaved.write, path, data)  # disk I/O stays off the event loop
    return str(path)


async def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> str:
    """`samples` as a WAV file; encoding and writing both run in a worker thread."""
    await asyncio.to_thread(lambda: unsaved.write(path, wav_bytes(samples, sample_rate)))
    return str(path)


async def write_rendered(path: Path, render: Callable[[], bytes]) -> str:
    """Render a file's bytes (e.g. the stereo call) and write them, both in a worker thread."""
    await asyncio.to_thread(lambda: unsaved.write(path, render()))
    return str(path)


async def write_mulaw_wav(path: Path, mulaw: bytes) -> str:
    """Phone audio (μ-law 8 kHz) as a WAV file."""
    return await write_wav(path, mulaw_to_pcm(mulaw), MULAW_SAMPLE_RATE)
