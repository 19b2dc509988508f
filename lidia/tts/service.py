"""Text to speech: the `SpeechSynthesizer` interface, engine choice and the voice service.

The interface comes first (engines import `Voice` from here), then `choose_engine` (which
engine speaks, and why), the per-engine one-at-a-time queue, and `VoiceService`, the one
object routes use for speech.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from lidia.core.errors import (
    EngineUnavailableError,
    InvalidTextError,
    LidiaError,
    TextTooLongError,
    UnknownVoiceError,
    UnsupportedLanguageError,
)
from lidia.core.settings import Settings
from lidia.text.normalizer import normalize_ru
from lidia.text.sentences import chunk_for_tts

log = logging.getLogger(__name__)
T = TypeVar("T")


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

    def synthesize(
        self, text: str, language: str, *, voice: str | None = None, speed: float = 1.0
    ) -> np.ndarray:
        """float32 mono samples in [-1, 1] at `sample_rate`. `voice=None` = default voice."""
        ...

    def synthesize_stream(
        self, text: str, language: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Iterator[np.ndarray]:
        """The same audio as `synthesize`, yielded in pieces as soon as each is ready."""
        ...

    def info(self) -> dict:
        """JSON-safe state for `/health` (engine, model, device, voices, ...)."""
        ...


# --------------------------------------------------------------------------------------
# Engine choice
# --------------------------------------------------------------------------------------

ENGINE_ORDER = ("xtts", "rhvoice", "espeak")  # best voice first
OFFLINE_ENGINES = ("rhvoice", "espeak")  # cheap to load: always loaded beside the primary
ENGINE_LABELS = {"xtts": "XTTS", "rhvoice": "RHVoice", "espeak": "espeak-ng"}


@dataclass
class EngineChoice:
    """What `choose_engine` loaded: the primary engine (None when nothing could load), a
    human reason for `/health` and the logs, the engines tried as primary in order, and
    every loaded engine by name (the primary plus the offline fallbacks)."""

    engine: SpeechSynthesizer | None
    reason: str
    tried: list[str]
    engines: dict[str, SpeechSynthesizer] = field(default_factory=dict)


def choose_engine(settings: Settings) -> EngineChoice:
    """Load the best engine `settings` allow, and the offline engines beside it. Blocking.

    `TTS_ENGINE=auto` tries XTTS (checkpoint and voice clips present), then RHVoice, then
    espeak-ng. An explicit engine that fails still falls back to the offline engines (the
    service must speak), and the reason says the configured engine failed and why. XTTS
    is never loaded as a mere fallback (it is heavy); RHVoice and espeak-ng always are, so
    requests can ask for them by voice id ("rhvoice-anna") while XTTS is primary.
    """
    candidates = _primary_candidates(settings.tts_engine)
    skipped: list[str] = []
    tried: list[str] = []
    engines: dict[str, SpeechSynthesizer] = {}
    for name in candidates:
        tried.append(name)
        try:
            engines[name] = _LOADERS[name](settings)
            break
        except Exception as exc:  # any failure means: try the next engine
            skipped.append(_failure_text(name, exc))
            log.info("TTS engine %s not loaded: %s", name, skipped[-1])
    primary = next(iter(engines), None)
    reason = _describe_choice(settings.tts_engine, primary, skipped)
    if primary is None:
        log.error("no TTS engine: %s", reason)
        return EngineChoice(engine=None, reason=reason, tried=tried)
    (log.warning if skipped else log.info)("TTS engine: %s", reason)
    for name in OFFLINE_ENGINES:
        if name not in tried:
            _load_secondary(name, settings, engines)
    return EngineChoice(engine=engines[primary], reason=reason, tried=tried, engines=engines)


def _primary_candidates(configured: str) -> list[str]:
    if configured == "auto":
        return list(ENGINE_ORDER)
    return [configured, *(name for name in OFFLINE_ENGINES if name != configured)]


def _load_secondary(name: str, settings: Settings, engines: dict[str, SpeechSynthesizer]) -> None:
    try:
        engines[name] = _LOADERS[name](settings)
    except Exception as exc:  # a missing extra voice is not an error of the service
        log.info("optional TTS engine %s not loaded: %s", name, _failure_text(name, exc))


def _describe_choice(configured: str, primary: str | None, skipped: list[str]) -> str:
    if primary is None:
        return "no TTS engine could be loaded: " + "; ".join(skipped)
    if configured == "auto":
        return "; ".join([*skipped, f"using {primary}"]) if skipped else f"auto: using {primary}"
    if primary == configured:
        return f"TTS_ENGINE={configured}: using {primary}"
    return (
        f"configured TTS_ENGINE={configured} failed to load: "
        + "; ".join(skipped)
        + f"; falling back to {primary}"
    )


def _failure_text(name: str, exc: Exception) -> str:
    label = ENGINE_LABELS[name]
    message = str(exc) or type(exc).__name__
    return message if message.startswith(label) else f"{label}: {message}"


def voice_clips(folder: Path, count: int) -> list[Path]:
    """The first `count` WAV clips of `folder` sorted by name; `count=0` = all of them
    (VOICE_SAMPLES_COUNT=0). None if the folder is missing."""
    if not folder.is_dir():
        return []
    wavs = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav" and p.is_file())
    return wavs[:count] if count > 0 else wavs


def _load_xtts(settings: Settings) -> SpeechSynthesizer:
    checkpoint = settings.xtts_dir
    if not all((checkpoint / name).is_file() for name in ("config.json", "model.pth")):
        raise EngineUnavailableError(
            f"XTTS: no checkpoint at {_shown(checkpoint)} (run `make models`)"
        )
    clips = voice_clips(settings.voice_samples_dir, settings.voice_samples_count)
    if not clips:
        raise EngineUnavailableError(
            f"XTTS: no voice clips in {_shown(settings.voice_samples_dir)}"
        )
    try:
        # Imported only when a checkpoint exists: it imports torch and coqui-tts (seconds),
        # which a box running on the offline voices need not even have installed.
        from lidia.tts.engines.xtts import XttsEngine
    except ImportError as exc:
        raise EngineUnavailableError(f"XTTS: coqui-tts not installed ({exc})") from exc
    return XttsEngine.load(
        checkpoint,
        clips,
        device=settings.tts_device,
        cache_dir=settings.models_dir / "voice_cache",
        temperature=settings.xtts_temperature,
        stream_chunk_size=settings.xtts_stream_chunk_size,
    )


def _load_rhvoice(settings: Settings) -> SpeechSynthesizer:
    from lidia.tts.engines.rhvoice import RHVoiceEngine  # the engines import `Voice` from here

    return RHVoiceEngine.load(
        voice=settings.rhvoice_voice,
        data_path=settings.rhvoice_data_path,
        config_path=settings.rhvoice_config_path,
        lib=settings.rhvoice_lib,
    )


def _load_espeak(settings: Settings) -> SpeechSynthesizer:
    from lidia.tts.engines.espeak import EspeakEngine  # the engines import `Voice` from here

    return EspeakEngine.load(voice=settings.espeak_voice)


_LOADERS: dict[str, Callable[[Settings], SpeechSynthesizer]] = {
    "xtts": _load_xtts,
    "rhvoice": _load_rhvoice,
    "espeak": _load_espeak,
}


def _shown(path: Path) -> str:
    """A path as a person reads it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------
# The one-at-a-time queue
# --------------------------------------------------------------------------------------

_END = object()  # `next()` default: a worker thread must never raise StopIteration


@dataclass(frozen=True)
class _Failure:
    """An engine error travelling from the producer task to the consumer."""

    error: Exception


class _BlockingIteration:
    """A blocking iterator driven one `next()` per worker-thread call. It is created by its
    first `step()`, in the worker thread, so no engine code ever runs on the event loop."""

    def __init__(self, make_iterator: Callable[[], Iterable[Any]]) -> None:
        self._make_iterator = make_iterator
        self._iterator: Iterator[Any] | None = None

    def step(self) -> Any:
        if self._iterator is None:
            self._iterator = iter(self._make_iterator())
        return next(self._iterator, _END)

    def close(self) -> None:
        close = getattr(self._iterator, "close", None)
        if close is None:
            return
        try:
            close()  # a generator's `finally` (RHVoice stops, XTTS drops its lock)
        except Exception:
            log.exception("closing an abandoned TTS stream failed")


class EngineQueue:
    """The one-at-a-time rule for one engine: one blocking call at a time, first come
    first served (asyncio.Lock is fair), each call in a worker thread.

    A cancelled caller returns at once, but the engine stays locked (and counted in
    `depth`) until its worker thread has really finished, because a running thread cannot
    be stopped: the next caller never runs the model concurrently with an orphaned call.
    Bound to one event loop at a time; it rebinds to a new loop when idle (tests).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._requests = 0  # utterances waiting or running
        self._orphans = 0  # worker calls still running for callers that went away

    @property
    def depth(self) -> int:
        return self._requests + self._orphans

    @contextlib.asynccontextmanager
    async def request(self) -> AsyncIterator[None]:
        """Count one utterance (all of its chunks) in `depth`."""
        self._requests += 1
        try:
            yield
        finally:
            self._requests -= 1

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` in a worker thread, alone on this engine."""
        lock = await self._acquire()
        running = asyncio.get_running_loop().run_in_executor(
            None, functools.partial(fn, *args, **kwargs)
        )
        try:
            return await asyncio.shield(running)  # cancelling us must not orphan the lock
        finally:
            self._release_when_done(lock, running, None)

    async def iterate(self, make_iterator: Callable[[], Iterable[T]]) -> AsyncIterator[T]:
        """Items of a blocking iterator, each `next()` in a worker thread.

        A producer task drains the iterator under the engine lock into a queue, so the
        lock is held for the synthesis only, never while the consumer waits: a client that
        stops reading its response cannot stall every other caller of the engine. Closing
        this generator early stops the producer after its current step; the engine's
        iterator is then closed in a worker thread before the lock is released.
        """
        items: asyncio.Queue[Any] = asyncio.Queue()
        stop = asyncio.Event()
        producer = asyncio.create_task(self._drain(make_iterator, items, stop))
        try:
            while (item := await items.get()) is not _END:
                if isinstance(item, _Failure):
                    raise item.error
                yield item
        finally:
            stop.set()
            if producer.done():
                if not producer.cancelled():
                    producer.exception()  # retrieved: failures already reached the consumer
            else:  # the consumer left while the engine still works for it: keep it counted
                self._orphans += 1
                producer.add_done_callback(self._orphan_finished)

    def _orphan_finished(self, _: object) -> None:
        self._orphans -= 1

    async def _drain(
        self,
        make_iterator: Callable[[], Iterable[Any]],
        items: asyncio.Queue[Any],
        stop: asyncio.Event,
    ) -> None:
        lock = await self._acquire()
        iteration = _BlockingIteration(make_iterator)
        running: asyncio.Future[Any] | None = None
        exhausted = False
        try:
            while not stop.is_set():
                running = asyncio.get_running_loop().run_in_executor(None, iteration.step)
                item = await asyncio.shield(running)
                if item is _END:
                    exhausted = True
                    break
                items.put_nowait(item)
        except Exception as exc:  # the engine failed: the consumer re-raises it
            items.put_nowait(_Failure(exc))
        finally:
            self._release_when_done(lock, running, None if exhausted else iteration)
            items.put_nowait(_END)

    async def _acquire(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            old_loop_alive = self._loop is not None and not self._loop.is_closed()
            if old_loop_alive and self._lock is not None and self._lock.locked():
                raise RuntimeError(f"TTS engine {self.name} is busy in another event loop")
            # A closed loop will never run the callbacks that release its lock: start over.
            self._lock, self._loop, self._orphans = asyncio.Lock(), loop, 0
        lock = self._lock
        assert lock is not None
        await lock.acquire()
        return lock

    def _release_when_done(
        self,
        lock: asyncio.Lock,
        running: asyncio.Future[Any] | None,
        to_close: _BlockingIteration | None,
    ) -> None:
        if (running is None or running.done()) and to_close is None:
            lock.release()
            return
        self._orphans += 1
        loop = asyncio.get_running_loop()

        def release(_: object = None) -> None:
            lock.release()
            self._orphans -= 1

        def close_then_release(_: object = None) -> None:
            if running is not None and not running.cancelled():
                running.exception()  # retrieved: nobody is left to re-raise it
            if to_close is None:
                release()
            else:
                loop.run_in_executor(None, to_close.close).add_done_callback(release)

        if running is not None and not running.done():
            running.add_done_callback(close_then_release)
        else:
            close_then_release()


# --------------------------------------------------------------------------------------
# The voice service
# --------------------------------------------------------------------------------------

MIN_SPEED, MAX_SPEED = 0.25, 4.0
FADE_MS = 5.0  # per chunk edge: removes clicks where a chunk starts or stops mid-wave


class VoiceService:
    """Every TTS request goes through here: engine and voice choice, validation, Russian
    text normalisation, sentence chunking, pauses between chunks, click-free chunk edges,
    and the one-at-a-time queue per engine.

    Methods that synthesize are coroutines that never block the event loop (engine calls
    run in worker threads). `close()` blocks; call it once at shutdown.
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
    ) -> tuple[np.ndarray, int]:
        """The whole utterance: (float32 mono samples, sample rate).

        Chunks are spoken one after another (each queued separately, so other requests
        interleave by chunk) and joined with `pause_ms` of silence; each chunk's edges
        are faded over 5 ms.
        """
        synth, language, chunks = self._plan(text, language, voice, engine, speed)
        queue = self._queues[synth.name]
        fade = _fade_samples(synth.sample_rate)
        spoken: list[np.ndarray] = []
        async with queue.request():
            for chunk in chunks:
                audio = await queue.call(
                    synth.synthesize, chunk, language, voice=voice, speed=speed
                )
                audio = _as_mono_float32(audio)
                if len(audio):
                    spoken.append(fade_edges(audio, fade))
        return _join_with_pauses(spoken, self._pause(synth.sample_rate)), synth.sample_rate

    def stream(
        self,
        text: str,
        *,
        language: str | None = None,
        voice: str | None = None,
        engine: str | None = None,
        speed: float = 1.0,
    ) -> AsyncIterator[np.ndarray]:
        """The same audio as `synthesize` (sample rate `engine_for(voice, engine)
        .sample_rate`), yielded in pieces as soon as each is ready, pauses included.

        Not a coroutine: the request is validated now (errors raise here, before a
        response has started), and the returned async iterator does the work. Each
        `next()` of the engine's iterator runs in a worker thread; the engine is held for
        one chunk at a time. Closing the iterator early (client gone) frees the engine.
        """
        synth, language, chunks = self._plan(text, language, voice, engine, speed)
        return self._stream_chunks(synth, chunks, language, voice, speed)

    async def _stream_chunks(
        self,
        synth: SpeechSynthesizer,
        chunks: list[str],
        language: str,
        voice: str | None,
        speed: float,
    ) -> AsyncIterator[np.ndarray]:
        queue = self._queues[synth.name]
        pause = self._pause(synth.sample_rate)
        fade = _fade_samples(synth.sample_rate)
        pause_due = False  # a chunk has spoken: the next audio starts with a pause
        async with queue.request():
            for chunk in chunks:
                make = functools.partial(
                    synth.synthesize_stream, chunk, language, voice=voice, speed=speed
                )
                spoke = False
                async with contextlib.aclosing(_faded_pieces(queue, make, fade)) as pieces:
                    async for piece in pieces:
                        if pause_due:
                            pause_due = False
                            yield pause
                        spoke = True
                        yield piece
                pause_due = pause_due or spoke

    # --- Helpers ------------------------------------------------------------------------

    def _plan(
        self, text: str, language: str | None, voice: str | None, engine: str | None, speed: float
    ) -> tuple[SpeechSynthesizer, str, list[str]]:
        """Validate a request: (engine, language, chunks) or a domain error."""
        synth = self.engine_for(voice, engine)
        if not MIN_SPEED <= speed <= MAX_SPEED:  # also rejects NaN
            raise LidiaError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}", param="speed")
        language = _language_code(language or self.default_language)
        return synth, language, self.prepare_text(text, language, engine=synth)

    def _pause(self, sample_rate: int) -> np.ndarray:
        return np.zeros(round(sample_rate * self.pause_ms / 1000), dtype=np.float32)

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


async def _faded_pieces(
    queue: EngineQueue, make_iterator: Callable[[], Iterable[np.ndarray]], fade: int
) -> AsyncIterator[np.ndarray]:
    """One chunk's audio from the engine's blocking iterator, with `fade_edges` applied as
    the pieces flow (non-empty pieces only)."""
    fader = _StreamFader(fade)
    async with contextlib.aclosing(queue.iterate(make_iterator)) as pieces:
        async for piece in pieces:
            out = fader.push(_as_mono_float32(piece))
            if len(out):
                yield out
    tail = fader.finish()
    if len(tail):
        yield tail


def _language_code(language: str) -> str:
    """ "ru", "RU", "ru-RU", "ru_RU" → "ru"."""
    return language.strip().lower().replace("_", "-").split("-")[0]


def _fade_samples(sample_rate: int) -> int:
    return max(1, round(sample_rate * FADE_MS / 1000))


def _fade_ramp(n: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, n + 2, dtype=np.float32)[1:-1]


def fade_edges(audio: np.ndarray, n: int) -> np.ndarray:
    """A copy of `audio` faded in over its first and out over its last n samples (fewer
    when the audio is shorter than 2n)."""
    n = min(n, len(audio) // 2)
    out = np.array(audio, dtype=np.float32)
    if n:
        ramp = _fade_ramp(n)
        out[:n] *= ramp
        out[-n:] *= ramp[::-1]
    return out


class _StreamFader:
    """`fade_edges` for audio that arrives in pieces, sample-exact: it holds back the last
    n samples (the fade-out needs to know where the audio ends) and, at the start, waits
    for more than 2n samples, so the extra delay is at most 2n samples (10 ms)."""

    def __init__(self, n: int) -> None:
        self._n = n
        self._buffer = np.zeros(0, dtype=np.float32)
        self._started = False

    def push(self, piece: np.ndarray) -> np.ndarray:
        """Audio that can be played now (possibly empty)."""
        buffer = np.concatenate([self._buffer, piece])
        if not self._started:
            if len(buffer) <= 2 * self._n:
                self._buffer = buffer
                return buffer[:0]
            buffer[: self._n] *= _fade_ramp(self._n)
            self._started = True
        self._buffer = buffer[len(buffer) - self._n :].copy()
        return buffer[: len(buffer) - self._n]

    def finish(self) -> np.ndarray:
        """The held-back end, faded out."""
        if not self._started:
            return fade_edges(self._buffer, self._n)
        tail = self._buffer.copy()
        tail[-self._n :] *= _fade_ramp(self._n)[::-1]
        return tail


def _as_mono_float32(audio: np.ndarray) -> np.ndarray:
    return np.asarray(audio, dtype=np.float32).reshape(-1)


def _join_with_pauses(parts: list[np.ndarray], pause: np.ndarray) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=np.float32)
    joined: list[np.ndarray] = []
    for part in parts:
        if joined:
            joined.append(pause)
        joined.append(part)
    return np.concatenate(joined)
