"""Text to speech: the `SpeechSynthesizer` interface, engine choice and the voice service.

(Interface fixed here; the service implementation follows below.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Voice:
    id: str  # stable id used by clients, e.g. "lidia", "rhvoice-anna", "espeak-ru"
    name: str  # human readable
    engine: str  # "xtts" | "rhvoice" | "espeak"
    languages: tuple[str, ...]


@runtime_checkable
class SpeechSynthesizer(Protocol):
    """A loaded speech synthesizer. All methods block: call them from a worker thread.

    Engines take text that is already normalised and short (one sentence chunk of at most
    `TTS_CHUNK_CHARS` characters); normalisation, chunking, pauses and the one-at-a-time
    queue live in `VoiceService`, so they are the same for every engine.
    """

    name: str  # "xtts" | "rhvoice" | "espeak"
    sample_rate: int  # rate of every array the engine returns

    @property
    def languages(self) -> frozenset[str]: ...

    def voices(self) -> list[Voice]: ...

    def synthesize(self, text: str, language: str, *, voice: str | None = None,
                   speed: float = 1.0) -> np.ndarray:
        """float32 mono samples in [-1, 1] at `sample_rate`. `voice=None` = default voice."""
        ...

    def synthesize_stream(self, text: str, language: str, *, voice: str | None = None,
                          speed: float = 1.0) -> Iterator[np.ndarray]:
        """The same audio as `synthesize`, yielded in pieces as soon as each is ready."""
        ...

    def info(self) -> dict:
        """JSON-safe state for `/health` (engine, model, device, voices, ...)."""
        ...
