"""FastAPI dependencies: routes reach the phone context only through these aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from lidia.core.errors import EngineUnavailableError
from lidia.core.settings import Settings
from lidia.phone.context import PhoneContext


def get_phone(connection: HTTPConnection) -> PhoneContext:
    """The context the lifespan stored (HTTP and WebSocket routes alike)."""
    phone = getattr(connection.app.state, "phone", None)
    if phone is None:
        raise EngineUnavailableError("the phone service is still starting; try again in a moment")
    return phone


def get_phone_settings(phone: Annotated[PhoneContext, Depends(get_phone)]) -> Settings:
    return phone.settings


async def signed_twilio_form(
    request: Request, phone: Annotated[PhoneContext, Depends(get_phone)]
) -> dict[str, str]:
    """The webhook's form, once its `X-Twilio-Signature` is valid (403 otherwise)."""
    return await phone.checker.check_http(request)


PhoneDep = Annotated[PhoneContext, Depends(get_phone)]
SettingsDep = Annotated[Settings, Depends(get_phone_settings)]
TwilioForm = Annotated[dict[str, str], Depends(signed_twilio_form)]
