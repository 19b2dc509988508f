"""Phone service (port 8001): calls in (Twilio, or Asterisk and any SIP trunk), the orchestrator's
turns out, every call logged.

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
- `WS   /twilio/media`     Twilio Media Streams (`carriers.twilio`; the call: `call.conversation`).
- `WS   /asterisk/media`, `POST /asterisk/calls/{call}`, `GET /asterisk/calls/{call}/next`:
                           Asterisk chan_websocket and its dialplan (`carriers.asterisk`), and
                           AudioSocket on ASTERISK_AUDIOSOCKET_PORT; on once the Asterisk
                           credentials are set.
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
from lidia.phone.carriers.asterisk import routes as asterisk_routes
from lidia.phone.carriers.asterisk.audiosocket import AudioSocketServer
from lidia.phone.carriers.asterisk.auth import asterisk_enabled
from lidia.phone.context import PhoneContext, running_context
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
            audiosocket = await start_audiosocket(settings, phone)
            app.state.phone = phone
            log.info("phone service ready on port %s", settings.phone_service_port)
            try:
                yield
            finally:
                app.state.phone = None
                if audiosocket is not None:
                    await audiosocket.stop()

    app = FastAPI(title=service.SERVICE_NAME, version=service.VERSION, lifespan=lifespan)
    app.state.phone = None
    install_error_handlers(app)
    app.include_router(service.router)
    app.include_router(webhooks.router)
    app.include_router(media.router)
    app.include_router(audio.router)
    if asterisk_enabled(settings):  # off while ASTERISK_WS_USERNAME / _PASSWORD are unset
        app.include_router(asterisk_routes.router)
    install_admin(app, settings)
    install_json_limits(app, settings)
    install_metrics(app)  # last: its middleware is outermost, so every request is counted
    install_phone_metrics(app)
    return app


async def start_audiosocket(settings: Settings, phone: PhoneContext) -> AudioSocketServer | None:
    """AudioSocket on ASTERISK_AUDIOSOCKET_PORT, when set (its calls register over HTTP first,
    so the Asterisk credentials are needed too)."""
    port = settings.asterisk_audiosocket_port
    if port is None:
        return None
    if not asterisk_enabled(settings):
        log.error(
            "ASTERISK_AUDIOSOCKET_PORT is set but ASTERISK_WS_USERNAME/_PASSWORD are not:"
            " AudioSocket stays off (its calls could not register)"
        )
        return None
    server = AudioSocketServer(phone, phone.asterisk)
    await server.start(settings.asterisk_audiosocket_host, port)
    return server


def main() -> None:
    settings = get_settings()
    serve(
        create_app(settings),
        host=settings.phone_service_host,
        port=settings.phone_service_port,
        log_level=settings.log_level,
    )
