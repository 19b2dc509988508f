"""Service information and health."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from lidia import __version__
from lidia.orchestrator.deps import ServicesDep
from lidia.orchestrator.metrics import loaded_engine_names
from lidia.orchestrator.queued_stt import QueuedSpeechToText
from lidia.orchestrator.services import Services
from lidia.tts import registry
from lidia.tts.registry import CLONED_ENGINE, wants_cloned_voice

SERVICE_NAME = "AI Secretary Лидия — orchestrator"
VERSION = __version__

router = APIRouter(tags=["service"])


@router.get("/")
async def service_info(request: Request, services: ServicesDep) -> dict:
    """Service name, version, active engines, the TTS engines `/tts` accepts by name, and the
    list of endpoints."""
    return {
        "service": SERVICE_NAME,
        "version": VERSION,
        "engines": {
            "stt": services.stt.info() if services.stt else None,
            "tts": services.voice.primary if services.voice else None,
            "llm": services.llm_health.snapshot(),
        },
        "tts_engines": list(registry.names()),
        "endpoints": _endpoints(request),
    }


def _endpoints(request: Request) -> list[str]:
    """ "METHOD /path" for every documented route (what /openapi.json lists)."""
    paths = request.app.openapi().get("paths", {})
    return sorted(
        f"{method.upper()} {path}" for path, operations in paths.items() for method in operations
    )


@router.get("/health")
async def health(services: ServicesDep) -> JSONResponse:
    """200 with "ok" or "degraded" and each engine's state; 503 only when nothing can serve."""
    body = health_report(services)
    await add_sessions_health(body, services)
    status_code = 503 if body["status"] == "down" else 200
    return JSONResponse(body, status_code=status_code)


async def add_sessions_health(body: dict, services: Services) -> None:
    """The conversation store (Redis when REDIS_URL is set): unreachable means "degraded"
    (replies go on without history; `/reset_conversation` answers 503) (issue 15)."""
    problem = await services.sessions.problem()
    body["sessions"] = {"store": type(services.sessions).__name__, "error": problem}
    if problem:
        body["problems"].append(f"redis: {problem}")
        if body["status"] == "ok":
            body["status"] = "degraded"


def health_report(services: Services) -> dict:
    stt = _stt_health(services)
    tts = _tts_health(services)
    llm = services.llm_health.snapshot()
    problems = [
        f"stt: {services.stt_error}" if services.stt is None else None,
        f"tts: {services.voice_error}" if services.voice is None else None,
        f"tts: {tts['fallback_reason']}" if tts.get("fallback_reason") else None,
        f"llm: {llm.get('status')}" if llm.get("status") != "ok" else None,
    ]
    booking = services.booking.health() if services.booking else {"status": "off"}
    if booking.get("reason"):
        problems.append(f"booking: {booking['reason']}")
    if services.stt is None and services.voice is None:
        status = "down"
    else:
        status = "degraded" if any(problems) else "ok"
    return {
        "status": status,
        "service": SERVICE_NAME,
        "version": VERSION,
        "problems": [p for p in problems if p],
        "stt": stt,
        "tts": tts,
        "llm": llm,
        "booking": booking,
        "load": load_report(services),
    }


def load_report(services: Services) -> dict:
    """What is queued on each engine right now: STT workers, running and waiting jobs;
    TTS requests waiting for or holding each loaded engine (one stream per model)."""
    stt = services.stt.load() if isinstance(services.stt, QueuedSpeechToText) else None
    tts = (
        {name: services.voice.queue_depth(name) for name in loaded_engine_names(services.voice)}
        if services.voice is not None
        else {}
    )
    return {"stt": stt, "tts_queue_depth": tts}


def _stt_health(services: Services) -> dict:
    if services.stt is None:
        return {"loaded": False, "error": services.stt_error}
    return {"loaded": True, **services.stt.info()}


def _tts_health(services: Services) -> dict:
    if services.voice is None:
        return {"loaded": False, "error": services.voice_error}
    info = services.voice.info()
    wanted_clone = wants_cloned_voice(services.settings.tts_engine)
    fallback = wanted_clone and services.voice.primary != CLONED_ENGINE
    return {"loaded": True, **info, "fallback_reason": info.get("reason") if fallback else None}
