"""The STT engine as the orchestrator serves it: the engine plus its own bounded executor.

Routes keep seeing a `SpeechToText` (name, model, languages, info); `speech_ops` runs the
blocking work through `run()`, so transcriptions queue on the STT threads (never on
asyncio's shared default pool, never behind synthesis).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

import numpy as np

from lidia.orchestrator.executors import EngineExecutor
from lidia.stt.base import Fragment, SpeechToText, Transcript

P = ParamSpec("P")
T = TypeVar("T")


class QueuedSpeechToText:
    """A `SpeechToText` whose blocking work runs on `executor` (see `run`)."""

    def __init__(self, engine: SpeechToText, executor: EngineExecutor) -> None:
        self.engine = engine
        self.executor = executor
        self.name = engine.name
        self.model = engine.model
        self.device = engine.device

    @property
    def languages(self) -> frozenset[str]:
        return self.engine.languages

    def transcribe(
        self,
        audio: np.ndarray,
        language: str | None,
        *,
        prompt: str | None = None,
        temperature: float = 0.0,
        word_timestamps: bool = False,
    ) -> Transcript:
        """Blocking, on the calling thread: what `run(self.transcribe, ...)` executes."""
        return self.engine.transcribe(
            audio, language, prompt=prompt, temperature=temperature, word_timestamps=word_timestamps
        )

    def transcribe_fragment(self, audio: np.ndarray, language: str | None) -> Fragment:
        """Blocking, on the calling thread: what `run(self.transcribe_fragment, ...)` runs."""
        return self.engine.transcribe_fragment(audio, language)

    def info(self) -> dict:
        return self.engine.info()

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await blocking STT work (decoding, inference) on the STT engine's threads."""
        return await self.executor.run(fn, *args, **kwargs)

    def load(self) -> dict:
        """Workers, running and queued jobs, for `/health`."""
        return self.executor.snapshot()
