"""A real engine wrapped so a test can see what it was asked to do, and when.

`RecordingEngine` implements `SpeechSynthesizer` by delegating to a real engine (espeak-ng
or RHVoice) and logging every chunk it starts and every piece it produces, in order. A
`gate` holds a call inside the engine for as long as the test wants; `delay_s` makes each
piece take a little time, as a real model does, so that concurrent callers truly overlap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from lidia.tts.base import SpeechSynthesizer, Voice


@dataclass(frozen=True)
class EngineEvent:
    kind: str  # "start" (a chunk's synthesis began), "piece" or "closed"
    text: str


class RecordingEngine:
    """The wrapped engine's audio, cut into `pieces_per_chunk` pieces when streamed."""

    def __init__(
        self, inner: SpeechSynthesizer, *, delay_s: float = 0.01, pieces_per_chunk: int = 3
    ) -> None:
        self._inner = inner
        self.name = inner.name
        self.sample_rate = inner.sample_rate
        self.delay_s = delay_s
        self.pieces_per_chunk = pieces_per_chunk
        self.gate = threading.Event()
        self.gate.set()
        self.events: list[EngineEvent] = []
        self.inside = 0
        self.max_inside = 0
        self._lock = threading.Lock()

    @property
    def languages(self) -> frozenset[str]:
        return self._inner.languages

    def voices(self) -> list[Voice]:
        return self._inner.voices()

    def info(self) -> dict:
        return self._inner.info()

    def started(self) -> list[str]:
        """Texts of the chunks, in the order the engine began them."""
        return [event.text for event in self.events if event.kind == "start"]

    def synthesize(
        self, text: str, language: str, *, voice: str | None = None, speed: float = 1.0
    ) -> np.ndarray:
        self._log("start", text)
        with self._inside():
            return self._inner.synthesize(text, language, voice=voice, speed=speed)

    def synthesize_stream(
        self, text: str, language: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Iterator[np.ndarray]:
        self._log("start", text)
        try:
            with self._inside():
                audio = self._inner.synthesize(text, language, voice=voice, speed=speed)
            for piece in np.array_split(audio, self.pieces_per_chunk):
                with self._inside():
                    self._log("piece", text)
                yield piece
        finally:
            self._log("closed", text)

    def _log(self, kind: str, text: str) -> None:
        with self._lock:
            self.events.append(EngineEvent(kind, text))

    @contextmanager
    def _inside(self) -> Iterator[None]:
        with self._lock:
            self.inside += 1
            self.max_inside = max(self.max_inside, self.inside)
        try:
            time.sleep(self.delay_s)
            self.gate.wait(timeout=30)  # a failing test must not block threads forever
            yield
        finally:
            with self._lock:
                self.inside -= 1
