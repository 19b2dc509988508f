"""The speech operations routes share: upload reading, transcription and synthesis.

Everything CPU-heavy (decoding, inference, encoding) runs in worker threads so the event
loop keeps serving `/health` and other requests while a model works; speech-to-text on the
STT engine's own bounded executor (`executors.EngineExecutor`), synthesis on the TTS queue's,
encoding the audio (wav, mp3, opus...) on `ENCODING`, never on asyncio's shared default pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import numpy as np
from starlette.datastructures import UploadFile

from lidia.audio.codecs import CONTENT_TYPES, decode_audio, encode_audio
from lidia.core.errors import (
    AUDIO_FIELD,
    TEXT_FIELD,
    AudioTooLargeError,
    EmptyAudioError,
    InvalidAudioError,
    UnsupportedLanguageError,
    route_fields,
)
from lidia.orchestrator.executors import EngineExecutor
from lidia.orchestrator.queued_stt import QueuedSpeechToText
from lidia.stt.base import STT_SAMPLE_RATE, Fragment, SpeechToText, Transcript
from lidia.text.language import base_language
from lidia.tts.service import VoiceService

_READ_BLOCK = 1024 * 1024
P = ParamSpec("P")
T = TypeVar("T")

# Encoding a reply takes milliseconds (mp3 of a sentence: tens of them): two threads of its
# own, shared by the process's apps; neither behind the shared pool nor on the one thread a
# TTS queue synthesizes on. Idle threads cost nothing; they end with the interpreter.
ENCODING = EngineExecutor("encode", 2)


async def encode(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Await blocking audio encoding (`encode_audio`, a `StreamEncoder` step) on `ENCODING`."""
    return await ENCODING.run(fn, *args, **kwargs)


async def read_upload(upload: UploadFile | None, *, max_bytes: int, field: str) -> bytes:
    """The upload's bytes, refusing missing, empty and oversized files before decoding."""
    if upload is None or not isinstance(upload, UploadFile):
        raise InvalidAudioError(f"missing audio file in multipart field {field!r}", param=field)
    if upload.size is not None and upload.size > max_bytes:
        raise _too_large(upload.size, max_bytes, field)
    data = bytearray()
    while block := await upload.read(_READ_BLOCK):
        data += block
        if len(data) > max_bytes:
            raise _too_large(len(data), max_bytes, field)
    if not data:
        raise EmptyAudioError(f"the uploaded file {field!r} is empty", param=field)
    return bytes(data)


def _too_large(size: int, max_bytes: int, field: str) -> AudioTooLargeError:
    return AudioTooLargeError(
        f"audio file is too large: {size} bytes; the limit is {max_bytes} bytes (STT_MAX_BYTES)",
        param=field,
    )


def resolve_language(requested: str | None, default: str) -> str | None:
    """A request's language, or the configured default; "auto" means detect (None).

    Locale forms ("ru-RU", "ru_RU") are reduced to the language code the engines use.
    """
    language = (requested or "").strip() or default
    language = base_language(language)
    return None if language == "auto" else language


def check_stt_language(stt: SpeechToText, language: str | None) -> None:
    if language is not None and language not in stt.languages:
        raise UnsupportedLanguageError(language, stt.languages, what=f"speech model {stt.model}")


async def fragment_bytes(stt: SpeechToText, data: bytes, language: str | None) -> Fragment:
    """The first words of a short uploaded fragment, fast (`SpeechToText.transcribe_fragment`),
    off the event loop like `transcribe_bytes`."""
    run, samples = await _decoded(stt, data, language, "audio")  # /stt's upload field
    return await run(stt.transcribe_fragment, samples, language)


async def transcribe_bytes(
    stt: SpeechToText,
    data: bytes,
    language: str | None,
    *,
    prompt: str | None = None,
    temperature: float = 0.0,
    word_timestamps: bool = False,
    audio_field: str = AUDIO_FIELD,
) -> Transcript:
    """Decode any container and transcribe it, both off the event loop: on the STT engine's
    own executor when the services gave it one (`QueuedSpeechToText`), else a worker thread.

    `audio_field` is the route's name for the upload: errors about the audio name it."""
    run, samples = await _decoded(stt, data, language, audio_field)
    return await run(
        stt.transcribe,
        samples,
        language,
        prompt=prompt,
        temperature=temperature,
        word_timestamps=word_timestamps,
    )


async def _decoded(
    stt: SpeechToText, data: bytes, language: str | None, audio_field: str
) -> tuple[Callable[..., Awaitable[Any]], np.ndarray]:
    """The language checked, the upload decoded to 16 kHz, and where STT work runs: the
    engine's own executor when the services gave it one, else a worker thread."""
    check_stt_language(stt, language)
    run = stt.run if isinstance(stt, QueuedSpeechToText) else asyncio.to_thread
    with route_fields(**{AUDIO_FIELD: audio_field}):
        samples = await run(decode_audio, data, sample_rate=STT_SAMPLE_RATE)
    return run, samples


async def synthesize_bytes(
    voice: VoiceService,
    text: str,
    *,
    language: str | None,
    voice_id: str | None = None,
    engine: str | None = None,
    speed: float = 1.0,
    fmt: str = "wav",
    text_field: str = TEXT_FIELD,
) -> tuple[bytes, str, str]:
    """Synthesize and encode; returns (bytes, content type, name of the engine that spoke).

    `text_field` is the route's name for the text: errors about the text name it."""
    engine_name = voice.engine_for(voice_id, engine).name
    with route_fields(**{TEXT_FIELD: text_field}):
        samples, sample_rate = await voice.synthesize(
            text, language=language, voice=voice_id, engine=engine, speed=speed
        )
    data = await encode(encode_audio, samples, sample_rate, fmt)
    return data, CONTENT_TYPES[fmt], engine_name
