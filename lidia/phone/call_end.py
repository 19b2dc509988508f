"""After a call has ended (Twilio's final status callback; an Asterisk leg's end): the caller's
message extracted from the transcript, then the owner's notice queued."""

from __future__ import annotations

import asyncio
import logging

from lidia.phone.caller_messages import extract_caller_message
from lidia.phone.context import PhoneContext

log = logging.getLogger("phone")

MESSAGE_WAIT_S = 60.0


async def after_call(phone: PhoneContext, call_sid: str) -> None:
    """Once the live call (if any) has written its last turn, extract the caller's message
    and store it, then tell the owner (never raises: it runs in the background)."""
    try:
        session = phone.active_calls.get(call_sid)
        if session is not None:
            await asyncio.wait_for(session.finished.wait(), MESSAGE_WAIT_S)
        await extract_caller_message(phone, call_sid)
    except Exception:
        log.exception("message extraction for call %s failed", call_sid)
    await tell_the_owner(phone, call_sid)


async def tell_the_owner(phone: PhoneContext, call_sid: str) -> None:
    """Queue the call's notice (with the message, once extracted) on the owner's channels."""
    if phone.outbox is None:
        return
    try:
        await phone.outbox.call_ended(call_sid)
    except Exception:  # the database may be down; the caller's side is already over
        log.exception("owner notice for call %s not queued", call_sid)
