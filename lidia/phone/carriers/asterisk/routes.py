"""What Asterisk reaches over HTTP (mounted only while `ASTERISK_WS_USERNAME` and
`ASTERISK_WS_PASSWORD` are set; every request needs them as HTTP Basic):

- `WS   /asterisk/media?call=…&from=…&to=…` chan_websocket (`websocket_line`); `dialstatus=…`
  on a second leg after a transfer nobody answered: Лидия then takes a message.
- `POST /asterisk/calls/{call}?from=…&to=…` registers an AudioSocket call (its UUID) before
  the dialplan runs `AudioSocket()`: caller ID is not carried by AudioSocket itself;
  `&dialstatus=…` when it comes back from a transfer nobody answered (a message, then).
- `GET  /asterisk/calls/{call}/next` what the dialplan does once Лидия's leg ended:
  `hangup` or `transfer:<number>` (plain text, for `CURL()`).
`{call}` is the dialplan's own id for the call (`${UNIQUEID}`, or the AudioSocket UUID).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, WebSocket
from fastapi.responses import PlainTextResponse

from lidia.core.errors import AuthenticationError, LidiaError
from lidia.phone.call.conversation import CallConversation
from lidia.phone.call_end import after_call
from lidia.phone.carriers.asterisk.audiosocket import CARRIER as AUDIOSOCKET
from lidia.phone.carriers.asterisk.auth import credentials_match
from lidia.phone.carriers.asterisk.websocket_line import AsteriskWebSocketLine
from lidia.phone.context import PhoneContext
from lidia.phone.deps import PhoneDep
from lidia.phone.ids import asterisk_call_id

log = logging.getLogger("phone.asterisk")

router = APIRouter(tags=["asterisk"])
MEDIA_SUBPROTOCOL = "media"
MAX_NUMBER_CHARS = 64


class UnknownCallError(LidiaError):
    status_code = 404
    code = "call_not_found"


class InvalidCallIdError(LidiaError):
    status_code = 422
    code = "invalid_call_id"


def checked_asterisk(request: Request, phone: PhoneDep) -> PhoneContext:
    """The phone context, once the request carries the Asterisk credentials (401 otherwise)."""
    if not credentials_match(phone.settings, request.headers.get("authorization")):
        error = AuthenticationError("Asterisk credentials (HTTP Basic) missing or wrong")
        error.code = "invalid_credentials"
        raise error
    return phone


AsteriskDep = Annotated[PhoneContext, Depends(checked_asterisk)]


def call_id_of(call: str) -> str:
    call_id = asterisk_call_id(call)
    if call_id is None:
        raise InvalidCallIdError(
            "call: expected the dialplan's ${UNIQUEID} or an AudioSocket UUID "
            "(letters, digits, '.', '-'; at most 60)",
            param="call",
        )
    return call_id


def _number(value: str | None) -> str | None:
    return value[:MAX_NUMBER_CHARS] if value else None


@router.websocket("/asterisk/media")
async def asterisk_media(websocket: WebSocket, phone: PhoneDep) -> None:
    if not credentials_match(phone.settings, websocket.headers.get("authorization")):
        log.warning("chan_websocket connection refused: wrong or missing credentials")
        await websocket.close(code=1008)  # before accept: the upgrade gets HTTP 403
        return
    params = websocket.query_params
    call_id = asterisk_call_id(params.get("call", ""))
    if call_id is None:
        log.warning("chan_websocket connection without a valid `call` parameter refused")
        await websocket.close(code=1008)
        return
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=MEDIA_SUBPROTOCOL if MEDIA_SUBPROTOCOL in offered else None)
    line = AsteriskWebSocketLine(
        phone,
        phone.asterisk,
        websocket,
        call_id,
        from_number=_number(params.get("from")),
        to_number=_number(params.get("to")),
        dial_status=params.get("dialstatus") or None,
    )
    conversation = CallConversation(phone, line)
    try:
        await conversation.run()
    finally:
        line.release()
    if conversation.call_sid is not None:
        phone.in_background(after_call(phone, call_id))


@router.post(
    "/asterisk/calls/{call}",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "`ok`: registered"}},
)
async def register_audiosocket_call(
    call: str,
    phone: AsteriskDep,
    from_: Annotated[str | None, Query(alias="from", max_length=MAX_NUMBER_CHARS)] = None,
    to: Annotated[str | None, Query(max_length=MAX_NUMBER_CHARS)] = None,
    dialstatus: Annotated[str | None, Query(max_length=32)] = None,
) -> PlainTextResponse:
    """Before `AudioSocket(<UUID>,…)`: the call's caller and called numbers, by its UUID."""
    call_id = call_id_of(call)
    created = await phone.store.create_call(
        call_id,
        from_number=_number(from_),
        to_number=_number(to),
        mode="stream",
        carrier=AUDIOSOCKET,
    )
    if created:
        log.info("AudioSocket call %s registered", call_id)
    elif dialstatus:  # the same call back from a transfer: one more connection is expected
        phone.asterisk.returning[call_id] = dialstatus
    return PlainTextResponse("ok")


@router.get(
    "/asterisk/calls/{call}/next",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "hangup | transfer:<number>"}},
)
async def next_step(call: str, phone: AsteriskDep) -> PlainTextResponse:
    """What the dialplan does once Лидия's leg ended: `hangup` or `transfer:<number>`."""
    call_id = call_id_of(call)
    if await phone.store.get_call(call_id) is None:
        raise UnknownCallError(f"no call {call!r} is known", param="call")
    return PlainTextResponse(await phone.asterisk.next_step(phone.store, call_id))
