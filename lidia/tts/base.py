"""The text-to-speech interface: what every engine implements and every caller relies on.

A neutral module (no engine, no service, no settings): engines, the registry, the queue and
`VoiceService` all import it, and it imports none of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, TypeAlias, runtime_checkable

import numpy as np
import numpy.typing as npt

# float32 mono samples in [-1, 1] at the engine's `sample_rate`: one chunk's audio or a piece.
Samples: TypeAlias = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Voice:
    id: str  # stable id used by clients, e.g. "lidia", "rhvoice-anna", "espeak-ru"
    name: str  # human readable
    engine: str  # the engine's registry name
    languages: tuple[str, ...]


@runtime_checkable
class SpeechSynthesizer(Protocol):
    """A loaded speech synthesizer. All methods block: call them from a worker thread.

    Engines take text that is already normalised and short (one sentence chunk of at most
    `TTS_CHUNK_CHARS` characters); normalisation, chunking, pauses and the shared queue
    live in `VoiceService`, so they are the same for every engine.
    """

    name: str  # the engine's registry name (`lidia.tts.registry.names()`)
    sample_rate: int  # rate of every array the engine returns

    @property
    def languages(self) -> frozenset[str]: ...

    def voices(self) -> list[Voice]: ...

    def synthesize(
        self, text: str, language: str, *, voice: str | None = None, speed: float = 1.0
    ) -> np.ndarray:
        """float32 mono samples in [-1, 1] at `sample_rate`. `voice=None` = default voice."""
        ...

    def synthesize_stream(
        self, text: str, language: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Iterator[np.ndarray]:
        """The same audio as `synthesize`, yielded in pieces as soon as each is ready.
        Closing the iterator early must stop the engine's work on the rest."""
        ...

    def info(self) -> dict:
        """JSON-safe state for `/health` (engine, model, device, voices, ...)."""
        ...
