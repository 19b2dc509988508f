"""Phone service (port 8001): Twilio calls in, the orchestrator's turns out, every call logged.

Run:  python phone_service.py
  or: uvicorn phone_service:create_app --factory --host 0.0.0.0 --port 8001

Endpoints (point the Twilio number's "A call comes in" webhook at `POST /twilio/voice` and
its status callback at `POST /twilio/status`):
- `POST /twilio/voice`     creates the call record; TwiML per `PHONE_MODE`:
    `stream`: `<Connect><Stream url="wss://…/twilio/media">` (real time, barge-in);
    `gather`: greeting `<Play>` inside `<Gather input="speech">` → `POST /twilio/gather`.
- `POST /twilio/gather`    Twilio's recognised text → `/chat` → `/tts` → `<Play>` + `<Gather>`;
                           nothing recognised → `<Record>` → `POST /twilio/recording`.
- `POST /twilio/recording` fetches the recording (account credentials) → `/process_call`,
                           or stores it as the caller's message (`?purpose=message`).
- `POST /twilio/status`    finalises the record (duration, outcome).
- `WS   /twilio/media`     Twilio Media Streams (`media.session.MediaStreamSession`).
- `GET  /audio/{id}`       generated audio for `<Play>`, unguessable ids, expiring.
- `GET  /`, `GET /health`, `GET /metrics` (Prometheus).
- `GET  /admin`            the calls dashboard (`admin/`; HTTP Basic with ADMIN_PASSWORD).
Every request from Twilio is signature-checked (`twilio_security`). A webhook never answers
with a 5xx: any failure becomes TwiML with the apology and a `<Record>` for a message.
Other errors leave as JSON (`{"error": {...}}`), like the orchestrator's.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from lidia.admin import install_admin
from lidia.core.clock import Clock
from lidia.core.error_handlers import install_error_handlers
from lidia.core.limits import install_json_limits
from lidia.core.metrics import install_metrics
from lidia.core.serve import serve
from lidia.core.settings import Settings, get_settings
from lidia.phone.call_store import CallStore
from lidia.phone.context import running_context
from lidia.phone.metrics import install_phone_metrics
from lidia.phone.routes import audio, media, service, webhooks

log = logging.getLogger("phone")


def create_app(
    settings: Settings | None = None,
    *,
    orchestrator_url: str | None = None,
    call_store: CallStore | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the phone service. A `call_store` passed in is started here but not closed.
    `clock` tells calendar time to whatever decides by date (tests pass a `FixedClock`)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_context(
            settings, orchestrator_url=orchestrator_url, call_store=call_store, clock=clock
        ) as phone:
            app.state.phone = phone
            log.info("phone service ready on port %s", settings.phone_service_port)
            try:
                yield
            finally:
                app.state.phone = None

    app = FastAPI(title=service.SERVICE_NAME, version=service.VERSION, lifespan=lifespan)
    app.state.phone = None
    install_error_handlers(app)
    app.include_router(service.router)
    app.include_router(webhooks.router)
    app.include_router(media.router)
    app.include_router(audio.router)
    install_admin(app, settings)
    install_json_limits(app, settings)
    install_metrics(app)  # last: its middleware is outermost, so every request is counted
    install_phone_metrics(app)
    return app


def main() -> None:
    settings = get_settings()
    serve(
        create_app(settings),
        host=settings.phone_service_host,
        port=settings.phone_service_port,
        log_level=settings.log_level,
    )
