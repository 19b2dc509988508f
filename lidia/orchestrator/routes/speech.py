"""The original design's speech endpoints: `POST /tts` and `POST /stt`."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lidia.audio.codecs import CONTENT_TYPES
from lidia.core.disconnect import ClientGone, unless_client_leaves
from lidia.core.openapi import SPEAKABLE, error_responses, media
from lidia.orchestrator.deps import SettingsDep, SttDep, VoiceDep
from lidia.orchestrator.metrics import engine_metrics
from lidia.orchestrator.speech_ops import (
    fragment_bytes,
    read_upload,
    resolve_language,
    synthesize_bytes,
    transcribe_bytes,
)
from lidia.stt.base import Transcript
from lidia.tts import registry

router = APIRouter(tags=["speech"])
CLIENT_CLOSED_REQUEST = 499  # nginx's code for it: nobody reads it, the access log shows it
AUDIO_MEDIA_TYPES = sorted({ct.split(";")[0] for ct in CONTENT_TYPES.values()})


class TTSRequest(BaseModel):
    model_config = ConfigDict(strict=True)  # `"speed": "2"` is a mistake, not a number

    text: str = Field(description="Text to speak (Russian by default)", json_schema_extra=SPEAKABLE)
    language: str | None = Field(default=None, description="Language of the text; TTS_LANGUAGE")
    voice: str | None = Field(default=None, description="Voice id (GET /v1/audio/voices)")
    engine: str | None = Field(
        default=None,
        description="An engine name (GET /health)",
        json_schema_extra={"enum": [*registry.names(), None]},
    )
    format: Literal["wav", "mp3", "opus", "flac", "aac", "pcm"] = "wav"
    speed: float = Field(default=1.0, ge=0.25, le=4.0)

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str | None) -> str | None:
        if value is not None and value not in registry.names():
            raise ValueError(f"unknown engine {value!r}; known: {', '.join(registry.names())}")
        return value


@router.post(
    "/tts",
    response_class=Response,
    responses={
        200: media("Mono audio in the requested `format`", *AUDIO_MEDIA_TYPES),
        **error_responses(400, 413, 422),
    },
)
async def text_to_speech(
    request: TTSRequest, http: Request, voice: VoiceDep, settings: SettingsDep
) -> Response:
    """Speak `text` in the cloned voice (or the configured fallback)."""
    started = time.perf_counter()
    data, content_type, engine = await synthesize_bytes(
        voice,
        request.text,
        language=resolve_language(request.language, settings.tts_language),
        voice_id=request.voice,
        engine=request.engine,
        speed=request.speed,
        fmt=request.format,
        text_field="text",
    )
    if metrics := engine_metrics(http.app):
        asked_clone = request.engine in (None, registry.CLONED_ENGINE)
        wanted_clone = asked_clone and request.voice in (None, "lidia")
        metrics.observe_synthesis(engine, time.perf_counter() - started, wanted_clone=wanted_clone)
    return Response(data, media_type=content_type, headers={"X-TTS-Engine": engine})


@router.post("/stt", responses=error_responses(400, 413, 422))
async def speech_to_text(
    http: Request,
    stt: SttDep,
    settings: SettingsDep,
    audio: Annotated[UploadFile | None, File(description="Audio in any common format")] = None,
    language: Annotated[str | None, Form(description="Spoken language; 'auto' detects")] = None,
    fragment: Annotated[
        bool,
        Form(
            description="A short fragment (a caller speaking over Лидия): only its first words, "
            "fast, with `confidence` (0-1); no segments"
        ),
    ] = False,
) -> dict:
    """Transcribe an uploaded recording."""
    data = await read_upload(audio, max_bytes=settings.stt_max_bytes, field="audio")
    language = resolve_language(language, settings.stt_language)
    try:  # a client that gave up (a caller who went on speaking) frees its place in the queue
        if fragment:
            words = await unless_client_leaves(http, fragment_bytes(stt, data, language))
            return {"text": words.text, "language": words.language, "confidence": words.confidence}
        started = time.perf_counter()
        work = transcribe_bytes(stt, data, language, audio_field="audio")
        transcript = await unless_client_leaves(http, work)
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED_REQUEST)  # type: ignore[return-value]
    if metrics := engine_metrics(http.app):
        metrics.observe_transcription(stt.name, time.perf_counter() - started)
    return transcript_json(transcript)


def transcript_json(transcript: Transcript) -> dict:
    return {
        "text": transcript.text,
        "language": transcript.language,
        "language_probability": round(transcript.language_probability, 4),
        "duration": round(transcript.duration, 3),
        "segments": [
            {
                "id": seg.id,
                "start": round(seg.start, 3),
                "end": round(seg.end, 3),
                "text": seg.text,
            }
            for seg in transcript.segments
        ],
    }
