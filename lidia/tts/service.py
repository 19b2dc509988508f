"""`VoiceService`: the one object routes use for speech.

It picks the engine and voice of a request, validates it, normalises Russian text, cuts
it into sentence chunks, and speaks them through each engine's fair `EngineQueue`
(streams piece by piece, whole syntheses chunk by chunk), with click-free chunk edges
and pauses between chunks. Engines come from
`lidia.tts.registry`; the interface they implement is `lidia.tts.base`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator

import numpy as np

from lidia.audio.dsp import (
    StreamFader,
    fade_edges,
    fade_samples,
    flat_float32,
    join_with_pauses,
    pause,
)
from lidia.core.errors import (
    EngineUnavailableError,
    InvalidTextError,
    LidiaError,
    TextTooLongError,
    UnknownVoiceError,
    UnsupportedLanguageError,
)
from lidia.core.settings import Settings
from lidia.text.language import base_language
from lidia.text.normalizer import normalize_ru
from lidia.text.sentences import chunk_for_tts
from lidia.tts.base import SpeechSynthesizer, Voice
from lidia.tts.queue import EndOfChunk, EngineQueue
from lidia.tts.registry import choose_engine

log = logging.getLogger(__name__)

MIN_SPEED, MAX_SPEED = 0.25, 4.0


class VoiceService:
    """Every TTS request goes through here: engine and voice choice, validation, Russian
    text normalisation, sentence chunking, pauses between chunks, click-free chunk edges,
    and fair sharing of each engine between concurrent requests (piece by piece when
    streamed, chunk by chunk when whole).

    Methods that synthesize are coroutines that never block the event loop (engine calls
    run in each engine's worker thread). `close()` blocks; call it once at shutdown.
    """

    def __init__(
        self,
        engines: dict[str, SpeechSynthesizer],
        primary: str,
        *,
        reason: str,
        default_language: str = "ru",
        max_chars: int = 5000,
        chunk_chars: int = 180,
        pause_ms: int = 250,
    ) -> None:
        if primary not in engines:
            raise ValueError(f"primary engine {primary!r} is not among {sorted(engines)}")
        self._engines = dict(engines)
        self.primary = primary
        self.reason = reason
        self.default_language = default_language
        self.max_chars = max_chars
        self.chunk_chars = chunk_chars
        self.pause_ms = pause_ms
        self._queues = {name: EngineQueue(name) for name in engines}
        self._voice_engines = self._index_voices()
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> VoiceService:
        """Load engines as `choose_engine` does. Blocking (seconds to a minute for XTTS).
        Raises `EngineUnavailableError` (with every engine's reason) when none loads."""
        choice = choose_engine(settings)
        if choice.engine is None:
            raise EngineUnavailableError(choice.reason)
        return cls(
            choice.engines,
            choice.engine.name,
            reason=choice.reason,
            default_language=settings.tts_language,
            max_chars=settings.tts_max_chars,
            chunk_chars=settings.tts_chunk_chars,
            pause_ms=settings.tts_pause_ms,
        )

    def close(self) -> None:
        """Close engines that hold resources (RHVoice's thread). Blocking; idempotent."""
        if self._closed:
            return
        self._closed = True
        for queue in self._queues.values():
            queue.close()
        for name, engine in self._engines.items():
            close = getattr(engine, "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception:
                log.exception("closing TTS engine %s failed", name)

    # --- Engines and voices ------------------------------------------------------------

    @property
    def engines(self) -> dict[str, SpeechSynthesizer]:
        return dict(self._engines)

    @property
    def languages(self) -> frozenset[str]:
        """Languages of the primary engine (what a request without voice/engine gets)."""
        return self._engines[self.primary].languages

    def voices(self) -> list[Voice]:
        """Every voice of every loaded engine, the primary engine's first."""
        return [v for name in self._engine_order() for v in self._engines[name].voices()]

    def engine_for(self, voice: str | None, engine: str | None = None) -> SpeechSynthesizer:
        """The engine that speaks `voice` (None = the primary engine, or `engine` by name).

        Raises `UnknownVoiceError` (listing the voice ids) or `EngineUnavailableError`
        (an engine name that is not loaded).
        """
        if engine is not None:
            chosen = self._engine_named(engine)
            if voice is not None and self._voice_engines.get(voice) != chosen.name:
                raise self._unknown_voice(voice, chosen.name)
            return chosen
        if voice is None:
            return self._engines[self.primary]
        if voice not in self._voice_engines:
            raise self._unknown_voice(voice)
        return self._engines[self._voice_engines[voice]]

    def sample_rate_of(self, engine: str | None = None, *, voice: str | None = None) -> int:
        """Sample rate of the audio a request with this engine/voice will get."""
        return self.engine_for(voice, engine).sample_rate

    def queue_depth(self, engine_name: str) -> int:
        """Utterances waiting for or being spoken by the engine."""
        return self._queues[self._engine_named(engine_name).name].depth

    def info(self) -> dict:
        """JSON-safe state for `/health`."""
        return {
            "primary": self.primary,
            "reason": self.reason,
            "default_language": self.default_language,
            "languages": sorted(self.languages),
            "engines": {name: self._engines[name].info() for name in self._engine_order()},
            "queue_depth": {name: q.depth for name, q in self._queues.items()},
            "voices": [
                {"id": v.id, "name": v.name, "engine": v.engine, "languages": list(v.languages)}
                for v in self.voices()
            ],
        }

    # --- Text -------------------------------------------------------------------------

    def prepare_text(
        self, text: str, language: str, *, engine: SpeechSynthesizer | None = None
    ) -> list[str]:
        """Validate, normalise (Russian) and chunk text for `engine` (default: primary).

        Raises `InvalidTextError` (empty), `TextTooLongError` (over `max_chars`, counted
        before normalisation) or `UnsupportedLanguageError`. Pure CPU, fast.
        """
        engine = engine or self._engines[self.primary]
        if not text or not text.strip():
            raise InvalidTextError("text is empty", param="input")
        if len(text) > self.max_chars:
            raise TextTooLongError(
                f"text is {len(text)} characters; the limit is {self.max_chars}", param="input"
            )
        if language not in engine.languages:
            raise UnsupportedLanguageError(
                language, engine.languages, what=f"TTS engine {engine.name}"
            )
        if language == "ru":
            text = normalize_ru(text)
        chunks = chunk_for_tts(text, self.chunk_chars)
        if not chunks:
            raise InvalidTextError("text has nothing to speak", param="input")
        return chunks

    # --- Synthesis ----------------------------------------------------------------------

    async def synthesize(
        self,
        text: str,
        *,
        language: str | None = None,
        voice: str | None = None,
        engine: str | None = None,
        speed: float = 1.0,
        first_chunk_priority: bool = True,
    ) -> tuple[np.ndarray, int]:
        """The whole utterance: (float32 mono samples, sample rate).

        Chunks take their turns in the engine's rotation one after another (other
        requests interleave by chunk) and are joined with `pause_ms` of silence; each
        chunk's edges are faded over 5 ms.
        """
        synth, language, chunks = self._plan(text, language, voice, engine, speed)
        queue = self._queues[synth.name]
        fade = fade_samples(synth.sample_rate)
        spoken: list[np.ndarray] = []
        async with queue.utterance(first_chunk_priority=first_chunk_priority) as ticket:
            for chunk in chunks:
                audio = await queue.call(
                    ticket, synth.synthesize, chunk, language, voice=voice, speed=speed
                )
                audio = flat_float32(audio)
                if len(audio):
                    spoken.append(fade_edges(audio, fade))
        return join_with_pauses(spoken, pause(synth.sample_rate, self.pause_ms)), synth.sample_rate

    def stream(
        self,
        text: str,
        *,
        language: str | None = None,
        voice: str | None = None,
        engine: str | None = None,
        speed: float = 1.0,
        first_chunk_priority: bool = True,
    ) -> AsyncIterator[np.ndarray]:
        """The same audio as `synthesize` (sample rate `engine_for(voice, engine)
        .sample_rate`), yielded in pieces as soon as each is ready, pauses included.

        Not a coroutine: the request is validated now (errors raise here, before a
        response has started), and the returned async iterator does the work. The engine
        is shared piece by piece, round-robin with other requests; the first piece jumps
        the rotation (and is made small when others share the engine) unless
        `first_chunk_priority=False` (a turn's later sentences). Closing the iterator
        early (client gone, barge-in) stops the engine after its current piece and frees
        it for the others.
        """
        synth, language, chunks = self._plan(text, language, voice, engine, speed)
        makers = [
            functools.partial(synth.synthesize_stream, chunk, language, voice=voice, speed=speed)
            for chunk in chunks
        ]
        return self._stream_chunks(synth, makers, first_chunk_priority)

    async def _stream_chunks(
        self,
        synth: SpeechSynthesizer,
        makers: list[functools.partial],
        first_chunk_priority: bool,
    ) -> AsyncIterator[np.ndarray]:
        queue = self._queues[synth.name]
        gap = pause(synth.sample_rate, self.pause_ms)
        fader = StreamFader(fade_samples(synth.sample_rate))
        spoke = pause_due = False  # a chunk has spoken: the next audio starts with a pause
        async with queue.utterance(first_chunk_priority=first_chunk_priority) as ticket:
            async for item in queue.iterate_chunks(ticket, makers):
                if isinstance(item, EndOfChunk):
                    out = fader.finish()
                else:
                    out = fader.push(flat_float32(item))
                if len(out):
                    if pause_due:
                        pause_due = False
                        yield gap
                    spoke = True
                    yield out
                if isinstance(item, EndOfChunk):
                    pause_due, spoke = pause_due or spoke, False

    # --- Helpers ------------------------------------------------------------------------

    def _plan(
        self, text: str, language: str | None, voice: str | None, engine: str | None, speed: float
    ) -> tuple[SpeechSynthesizer, str, list[str]]:
        """Validate a request: (engine, language, chunks) or a domain error."""
        synth = self.engine_for(voice, engine)
        if not MIN_SPEED <= speed <= MAX_SPEED:  # also rejects NaN
            raise LidiaError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}", param="speed")
        language = base_language(language or self.default_language)
        return synth, language, self.prepare_text(text, language, engine=synth)

    def _engine_order(self) -> list[str]:
        return [self.primary, *(name for name in self._engines if name != self.primary)]

    def _index_voices(self) -> dict[str, str]:
        """Voice id → engine name; on a clash the primary engine's voice wins."""
        index: dict[str, str] = {}
        for name in self._engine_order():
            for voice in self._engines[name].voices():
                index.setdefault(voice.id, name)
        return index

    def _engine_named(self, name: str) -> SpeechSynthesizer:
        if name not in self._engines:
            raise EngineUnavailableError(
                f"TTS engine {name!r} is not loaded; loaded: {', '.join(self._engine_order())}",
                param="engine",
            )
        return self._engines[name]

    def _unknown_voice(self, voice: str, engine: str | None = None) -> UnknownVoiceError:
        ids = [v for v, e in self._voice_engines.items() if engine is None or e == engine]
        where = f" of engine {engine}" if engine else ""
        return UnknownVoiceError(
            f"unknown voice {voice!r}{where}; available: {', '.join(ids)}", param="voice"
        )
