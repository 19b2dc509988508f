"""OpenAI's `POST /v1/audio/speech`: text to speech, mp3 by default.

pcm, mp3, opus and aac stream out sentence by sentence (chunked transfer); wav and flac come
whole (exact headers). Only clearly invalid input (empty or too long text, unknown format,
speed out of range) is a 4xx, and it is always raised *before* a streamed response starts, so
it arrives as a clean JSON error. Which engine and voice speak: `lidia.orchestrator.openai_voices`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from lidia.audio.codecs import CONTENT_TYPES, FORMATS, StreamEncoder, encode_audio
from lidia.core.errors import InvalidTextError, TextTooLongError, UnsupportedFormatError
from lidia.core.openapi import SPEAKABLE, error_responses, media
from lidia.orchestrator.deps import SettingsDep, VoiceDep
from lidia.orchestrator.metrics import engine_metrics
from lidia.orchestrator.openai_voices import (
    SpeechChoice,
    choose_speech,
    speech_language,
    voice_name,
)
from lidia.orchestrator.speech_ops import encode, resolve_language

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["openai"])

PCM_RATE = 24_000  # OpenAI's pcm: 24 kHz, 16-bit little-endian, mono, no header
FORMAT_ENUM = {"enum": list(FORMATS)}  # documented lower-case; " MP3 " is still accepted
STREAMED_FORMATS = frozenset({"pcm", "mp3", "opus", "aac"})  # wav/flac need whole-file headers


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)  # `"speed": "2"` is refused

    model: str = Field(default="tts-1-hd", description="tts-1, tts-1-hd, lidia or an engine")
    input: str = Field(description="Text to speak", json_schema_extra=SPEAKABLE)
    voice: str | dict = Field(default="lidia", description="lidia, an engine voice, or alloy...")
    response_format: str = Field(
        default="mp3", description="mp3, opus, aac, flac, wav, pcm", json_schema_extra=FORMAT_ENUM
    )
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    instructions: str | None = Field(default=None, description="Accepted and ignored")
    stream_format: str = Field(
        default="audio",
        description="Only 'audio' is supported",
        json_schema_extra={"enum": ["audio"]},
    )


def check_speech_request(body: SpeechRequest, max_chars: int) -> str:
    """Validate what can be checked without synthesizing; returns the normalised format."""
    if not body.input.strip():
        raise InvalidTextError("input is empty: nothing to speak", param="input")
    if len(body.input) > max_chars:
        raise TextTooLongError(
            f"input is {len(body.input)} characters; the limit is {max_chars} (TTS_MAX_CHARS)",
            param="input",
        )
    fmt = body.response_format.strip().lower()
    if fmt not in FORMATS:
        raise UnsupportedFormatError(
            f"unsupported response_format {body.response_format!r}; "
            f"supported: {', '.join(FORMATS)}",
            param="response_format",
        )
    if body.stream_format != "audio":
        raise UnsupportedFormatError(
            f"stream_format {body.stream_format!r} is not supported; use 'audio'",
            param="stream_format",
        )
    return fmt


@router.post(
    "/audio/speech",
    response_class=Response,
    responses={
        200: media(
            "Audio in `response_format`", *sorted({t.split(";")[0] for t in CONTENT_TYPES.values()})
        ),
        **error_responses(400, 413, 422),
    },
)
async def create_speech(
    body: SpeechRequest, request: Request, voice: VoiceDep, settings: SettingsDep
) -> Response:
    """Speak `input`. Streams (chunked) for pcm, mp3, opus and aac; wav and flac come whole."""
    fmt = check_speech_request(body, settings.tts_max_chars)
    if body.instructions:
        log.debug("speech instructions ignored (no engine supports them): %r", body.instructions)
    choice = choose_speech(body.model, voice_name(body.voice), voice, settings)
    language = speech_language(choice, voice, resolve_language(None, settings.tts_language) or "ru")
    kwargs = {
        "language": language,
        "voice": choice.voice,
        "engine": choice.engine,
        "speed": body.speed,
    }
    headers = {"X-TTS-Engine": choice.engine, "X-TTS-Voice": choice.voice or "default"}
    target_rate = PCM_RATE if fmt == "pcm" else None
    started = time.perf_counter()
    if fmt not in STREAMED_FORMATS:
        samples, rate = await voice.synthesize(body.input, **kwargs)
        data = await encode(encode_audio, samples, rate, fmt, target_rate=target_rate)
        _record_synthesis(request, choice, started)
        return Response(data, media_type=CONTENT_TYPES[fmt], headers=headers)
    rate = voice.engine_for(choice.voice, choice.engine).sample_rate
    pieces = voice.stream(body.input, **kwargs)
    # The first piece is made before the response starts: a request the engine refuses
    # (language, voice) still gets a clean JSON error instead of a broken audio stream.
    first = await anext(pieces, None)
    encoder = StreamEncoder(fmt, rate, target_rate=target_rate)
    return StreamingResponse(
        _encoded_stream(
            first, pieces, encoder, on_done=lambda: _record_synthesis(request, choice, started)
        ),
        media_type=CONTENT_TYPES[fmt],
        headers=headers,
    )


async def _encoded_stream(
    first: np.ndarray | None,
    pieces: AsyncIterator[np.ndarray],
    encoder: StreamEncoder,
    *,
    on_done: Any,
) -> AsyncIterator[bytes]:
    """Encode pieces as they come (on the encoding threads: mp3/opus encoding is CPU work)."""
    try:
        if first is not None and (chunk := await encode(encoder.encode, first)):
            yield chunk
        async for piece in pieces:
            if chunk := await encode(encoder.encode, piece):
                yield chunk
        if tail := await encode(encoder.finish):
            yield tail
        on_done()
    finally:
        closer = getattr(pieces, "aclose", None)
        if closer is not None:  # a client that hung up must not leave synthesis running
            await closer()


def _record_synthesis(request: Request, choice: SpeechChoice, started: float) -> None:
    metrics = engine_metrics(request.app)
    if metrics is not None:
        metrics.observe_synthesis(
            choice.engine, time.perf_counter() - started, wanted_clone=choice.wanted_clone
        )
