"""Service information (`GET /`) and health (`GET /health`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from lidia import __version__
from lidia.phone.call_files import unsaved
from lidia.phone.call_store import CallStore
from lidia.phone.call_store.journaled import JournaledCallStore
from lidia.phone.deps import PhoneDep
from lidia.phone.routes import media

SERVICE_NAME = "AI Secretary Лидия — phone service"
VERSION = __version__

router = APIRouter(tags=["service"])


@router.get("/")
async def service_info(request: Request, phone: PhoneDep) -> dict:
    return {
        "service": SERVICE_NAME,
        "version": VERSION,
        "mode": phone.settings.phone_mode,
        "endpoints": _endpoints(request),
        "admin": "/admin",
    }


def _endpoints(request: Request) -> list[str]:
    """ "METHOD /path" for every documented route, and the media stream's WebSocket."""
    paths = request.app.openapi().get("paths", {})
    http = [
        f"{method.upper()} {path}" for path, operations in paths.items() for method in operations
    ]
    # OpenAPI has no WebSockets; the media router holds the service's only one.
    websockets = [f"WS {route.path}" for route in media.router.routes if hasattr(route, "path")]
    return sorted(http + websockets)


@router.get("/health")
async def health(phone: PhoneDep) -> JSONResponse:
    """200 always while serving; "degraded" when the orchestrator is unreachable, or the
    database, the journal's disk or the calls disk fail (`problems` says which, and why)."""
    reachable = await phone.orchestrator.healthy()
    problems = storage_problems(phone.store)
    if not reachable:
        problems["orchestrator"] = f"unreachable at {phone.orchestrator.base_url}"
    return JSONResponse(
        {
            "status": "degraded" if problems else "ok",
            "problems": problems,
            "service": SERVICE_NAME,
            "orchestrator": {"url": phone.orchestrator.base_url, "reachable": reachable},
            "active_calls": len(phone.active_calls),
            "capacity": phone.capacity.snapshot(phone.active_calls),
            "twilio_signature_validation": phone.checker.enabled,
            "mode": phone.settings.phone_mode,
            "apology_voice": phone.prompts.apology.source if phone.prompts.apology else None,
        }
    )


def storage_problems(store: CallStore) -> dict[str, str]:
    """{"database": why, "disk": why}, each only when it fails (issue 15)."""
    problems = store.problems() if isinstance(store, JournaledCallStore) else {}
    audio = unsaved.problem()
    if audio:
        problems["disk"] = "; ".join(filter(None, [problems.get("disk"), audio]))
    return problems
