"""FastAPI dependencies: routes get engines and settings only through these aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from lidia.core.errors import EngineUnavailableError
from lidia.core.settings import Settings
from lidia.orchestrator.services import Services
from lidia.secretary.brain import Secretary
from lidia.stt.base import SpeechToText
from lidia.tts.service import VoiceService


def get_services(request: Request) -> Services:
    services = getattr(request.app.state, "services", None)
    if services is None:
        raise EngineUnavailableError("the service is still starting; try again in a moment")
    return services


def get_app_settings(services: Annotated[Services, Depends(get_services)]) -> Settings:
    return services.settings


def get_stt(services: Annotated[Services, Depends(get_services)]) -> SpeechToText:
    if services.stt is None:
        raise EngineUnavailableError(f"speech recognition is unavailable: {services.stt_error}")
    return services.stt


def get_voice(services: Annotated[Services, Depends(get_services)]) -> VoiceService:
    if services.voice is None:
        raise EngineUnavailableError(f"speech synthesis is unavailable: {services.voice_error}")
    return services.voice


def get_secretary(services: Annotated[Services, Depends(get_services)]) -> Secretary:
    return services.secretary


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SttDep = Annotated[SpeechToText, Depends(get_stt)]
VoiceDep = Annotated[VoiceService, Depends(get_voice)]
SecretaryDep = Annotated[Secretary, Depends(get_secretary)]
