"""OpenAI's `POST /v1/audio/transcriptions`: speech to text in any of OpenAI's formats."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from lidia.core.errors import UnsupportedFormatError
from lidia.core.openapi import error_responses, media
from lidia.orchestrator.deps import SettingsDep, SttDep
from lidia.orchestrator.metrics import engine_metrics
from lidia.orchestrator.routes.openai_models import STT_MODEL
from lidia.orchestrator.speech_ops import read_upload, resolve_language, transcribe_bytes
from lidia.orchestrator.transcript_formats import TRANSCRIPT_FORMATS, transcript_response
from lidia.orchestrator.whisper_languages import language_code

router = APIRouter(prefix="/v1", tags=["openai"])


@router.post(
    "/audio/transcriptions",
    response_model=None,
    responses={
        200: media("The transcript in `response_format`", "application/json", "text/plain"),
        **error_responses(400, 413, 422),
    },
)
async def create_transcription(
    request: Request,
    stt: SttDep,
    settings: SettingsDep,
    file: Annotated[UploadFile | None, File(description="Audio in any common format")] = None,
    model: Annotated[str, Form()] = STT_MODEL,
    language: Annotated[
        str | None, Form(description="ISO-639-1 code; default STT_LANGUAGE")
    ] = None,
    prompt: Annotated[str | None, Form()] = None,
    response_format: Annotated[str, Form()] = "json",
    temperature: Annotated[float, Form(ge=0.0, le=1.0)] = 0.0,
    timestamp_granularities: Annotated[
        list[str] | None, Form(alias="timestamp_granularities[]")
    ] = None,
) -> Response:
    """Transcribe `file`. Any `model` is accepted: one STT model is loaded (see /health)."""
    fmt = _check_transcript_format(response_format)
    granularities = _check_granularities(timestamp_granularities or [])
    data = await read_upload(file, max_bytes=settings.stt_max_bytes, field="file")
    words_wanted = fmt == "verbose_json" and "word" in granularities
    started = time.perf_counter()
    transcript = await transcribe_bytes(
        stt,
        data,
        resolve_language(language_code(language), settings.stt_language),
        prompt=prompt or None,
        temperature=temperature,
        word_timestamps=words_wanted,
    )
    metrics = engine_metrics(request.app)
    if metrics is not None:
        metrics.observe_transcription(stt.name, time.perf_counter() - started)
    return transcript_response(transcript, fmt, granularities)


def _check_transcript_format(response_format: str) -> str:
    fmt = response_format.strip().lower()
    if fmt not in TRANSCRIPT_FORMATS:
        raise UnsupportedFormatError(
            f"unsupported response_format {response_format!r}; "
            f"supported: {', '.join(TRANSCRIPT_FORMATS)}",
            param="response_format",
        )
    return fmt


def _check_granularities(values: list[str]) -> set[str]:
    granularities = {v.strip().lower() for v in values if v.strip()}
    unknown = granularities - {"word", "segment"}
    if unknown:
        raise UnsupportedFormatError(
            f"unsupported timestamp_granularities {sorted(unknown)}; use 'word' and/or 'segment'",
            param="timestamp_granularities",
        )
    return granularities
