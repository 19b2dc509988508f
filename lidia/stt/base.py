"""The speech-to-text interface: what routers and engines both import.

`SpeechToText` is the engine Protocol; `Transcript`, `Segment` and `Word` are its plain results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

STT_SAMPLE_RATE = 16_000  # every engine takes float32 mono at this rate


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class Segment:
    id: int
    start: float
    end: float
    text: str
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    language_probability: float
    duration: float  # seconds of input audio
    segments: tuple[Segment, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Fragment:
    """The first words of a short fragment, and how sure the model was of them (0-1)."""

    text: str
    language: str
    confidence: float


@runtime_checkable
class SpeechToText(Protocol):
    """A loaded speech recogniser. `transcribe` blocks: call it from a worker thread."""

    name: str  # engine name, e.g. "faster-whisper"
    model: str  # model name or path as configured
    device: str  # resolved device, e.g. "cpu", "cuda:0"

    @property
    def languages(self) -> frozenset[str]:
        """Language codes the loaded model can recognise."""
        ...

    def transcribe(
        self,
        audio: np.ndarray,
        language: str | None,
        *,
        prompt: str | None = None,
        temperature: float = 0.0,
        word_timestamps: bool = False,
    ) -> Transcript:
        """Transcribe float32 mono audio at `STT_SAMPLE_RATE`.

        `language=None` detects the language. Raises `errors.UnsupportedLanguageError`
        when the model cannot recognise `language` (an English-only model asked for "ru").
        """
        ...

    def transcribe_fragment(self, audio: np.ndarray, language: str | None) -> Fragment:
        """The first words of a short fragment (a caller speaking over Лидия), fast: less
        accurate than `transcribe`, for deciding what the caller is doing."""
        ...

    def info(self) -> dict:
        """JSON-safe state for `/health` (engine, model, device, compute type, ...)."""
        ...
