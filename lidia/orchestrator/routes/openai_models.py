"""OpenAI discovery under `/v1` (no key needed): the model ids this API accepts and the voices.

- `GET /v1/models`, `GET /v1/models/{id}`: the chat model, speech models, engines, STT.
- `GET /v1/audio/models`, `GET /v1/audio/voices`: OpenWebUI's TTS model and voice lists.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from lidia.core.errors import ModelNotFoundError
from lidia.core.openapi import error_responses
from lidia.orchestrator.deps import ServicesDep
from lidia.orchestrator.metrics import loaded_engine_names

router = APIRouter(prefix="/v1", tags=["openai"])

CHAT_MODEL = "lidia"
STT_MODEL = "whisper-1"
TTS_MODELS = ("tts-1", "tts-1-hd")
_CREATED = 1_735_689_600  # fixed "created" stamp (2025-01-01) so listings are stable
_OWNER = "lidia"


def _model(model_id: str) -> dict:
    return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": _OWNER}


def _engines(services: Any) -> list[str]:
    return loaded_engine_names(services.voice) if services.voice is not None else []


@router.get("/models")
async def list_models(services: ServicesDep) -> dict:
    """Every model id this API accepts: the chat model, speech models, engines, STT."""
    ids = [CHAT_MODEL, *TTS_MODELS, STT_MODEL, *_engines(services)]
    return {"object": "list", "data": [_model(i) for i in ids]}


@router.get("/models/{model_id}", responses=error_responses(404))
async def retrieve_model(model_id: str, services: ServicesDep) -> JSONResponse:
    known = {CHAT_MODEL, *TTS_MODELS, STT_MODEL, *_engines(services)}
    if model_id not in known:
        raise ModelNotFoundError(f"The model {model_id!r} does not exist", param="model")
    return JSONResponse(_model(model_id))


@router.get("/audio/models")
async def list_audio_models(services: ServicesDep) -> dict:
    """Speech models for OpenWebUI's TTS model list."""
    return {"models": [{"id": i} for i in (*TTS_MODELS, *_engines(services))]}


@router.get("/audio/voices")
async def list_audio_voices(services: ServicesDep) -> dict:
    """Voices for OpenWebUI's voice list: `lidia` first, then each loaded engine's voices."""
    voice = services.voice
    if voice is None:
        return {"voices": []}
    listed = [{"id": v.id, "name": v.name} for v in voice.voices()]
    if not any(v["id"] == "lidia" for v in listed):
        # "lidia" is always accepted (it falls back to the primary voice): list it too.
        listed.insert(0, {"id": "lidia", "name": f"Лидия (now spoken by {voice.primary})"})
    listed.sort(key=lambda v: v["id"] != "lidia")
    return {"voices": listed}
