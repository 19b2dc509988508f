"""`WS /twilio/media`: Twilio Media Streams, one `CallConversation` per call over its line."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from lidia.phone.call.conversation import CallConversation
from lidia.phone.carriers.twilio.line import TwilioMediaLine
from lidia.phone.deps import PhoneDep

router = APIRouter(tags=["twilio"])


@router.websocket("/twilio/media")
async def twilio_media(websocket: WebSocket, phone: PhoneDep) -> None:
    if not phone.checker.check_websocket(websocket):
        await websocket.close(code=1008)  # before accept: the upgrade gets HTTP 403
        return
    await websocket.accept()
    line = TwilioMediaLine(phone, websocket)
    try:
        await CallConversation(phone, line).run()
    finally:
        line.release()
