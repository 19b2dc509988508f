"""Orchestrator (port 8002): speech to text, the secretary's LLM, and the cloned voice.

Run:  python orchestrator.py
  or: uvicorn orchestrator:create_app --factory --host 0.0.0.0 --port 8002
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from lidia.core.clock import Clock
from lidia.core.error_handlers import install_error_handlers
from lidia.core.limits import install_json_limits
from lidia.core.rate_limit import FailureLimiter
from lidia.core.serve import serve
from lidia.core.settings import Settings, get_settings
from lidia.llm.base import ChatModel
from lidia.orchestrator.auth import install_auth
from lidia.orchestrator.metrics import install_orchestrator_metrics
from lidia.orchestrator.replica import ReplicaHeaderMiddleware, replica_name
from lidia.orchestrator.routes import (
    conversation,
    messages,
    openai_chat,
    openai_models,
    openai_speech,
    openai_transcriptions,
    service,
    speech,
)
from lidia.orchestrator.services import build_services
from lidia.stt.base import SpeechToText
from lidia.tts.service import SpeechSynthesizer, VoiceService

log = logging.getLogger("orchestrator")


def create_app(
    settings: Settings | None = None,
    *,
    stt: SpeechToText | None = None,
    llm: ChatModel | None = None,
    tts: SpeechSynthesizer | VoiceService | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the orchestrator. Engines not passed in are loaded once, in the lifespan.
    `clock` tells calendar time to whatever decides by date (tests pass a `FixedClock`)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for folder in (settings.temp_dir, settings.models_dir):
            folder.mkdir(parents=True, exist_ok=True)
        services = await build_services(settings, stt=stt, llm=llm, tts=tts, clock=clock)
        app.state.services = services
        log.info("orchestrator ready on port %s", settings.orchestrator_port)
        try:
            yield
        finally:
            app.state.services = None
            await services.aclose()

    app = FastAPI(title=service.SERVICE_NAME, version=service.VERSION, lifespan=lifespan)
    app.state.services = None
    install_error_handlers(app)
    app.include_router(service.router)
    app.include_router(speech.router)
    app.include_router(conversation.router)
    for openai_router in (openai_models, openai_speech, openai_transcriptions, openai_chat):
        app.include_router(openai_router.router)
    app.include_router(messages.router)
    install_json_limits(app, settings)  # inside auth: a keyless body is never read
    failures = FailureLimiter.from_settings(settings)  # wrong keys per client address
    install_auth(app, settings.orchestrator_api_key, failures=failures)
    # Which replica answered, behind a load balancer (deploy/nginx/lidia.conf).
    app.add_middleware(ReplicaHeaderMiddleware, name=replica_name(settings.orchestrator_port))
    install_orchestrator_metrics(app)  # last: its middleware is outermost, so 401s are counted too
    return app


def main() -> None:
    settings = get_settings()
    serve(
        create_app(settings),
        host=settings.orchestrator_host,
        port=settings.orchestrator_port,
        log_level=settings.log_level,
    )
