"""`WS /twilio/media`: Twilio Media Streams, one `MediaStreamSession` per call."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from lidia.phone.deps import PhoneDep
from lidia.phone.media.session import MediaStreamSession

router = APIRouter(tags=["twilio"])


@router.websocket("/twilio/media")
async def twilio_media(websocket: WebSocket, phone: PhoneDep) -> None:
    if not phone.checker.check_websocket(websocket):
        await websocket.close(code=1008)  # before accept: the upgrade gets HTTP 403
        return
    await websocket.accept()
    await MediaStreamSession(phone, websocket).run()
