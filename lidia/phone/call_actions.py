"""What a call can do besides talk, decided by the phone service once per turn (issue 20).

The phone service knows the carrier, `TRANSFER_NUMBER` and `TRANSFER_HOURS`; it tells the
orchestrator each turn which actions this call can carry out, and the orchestrator offers the
LLM exactly those. The Twilio media session and gather mode use this function today; a
carrier adapter that cannot transfer passes `carrier_can_transfer=False`.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from lidia.core.clock import Clock
from lidia.core.settings import Settings
from lidia.phone.call_store import CallStore
from lidia.secretary.actions import END_CALL, TAKE_MESSAGE, TRANSFER_CALL, transfer_available

log = logging.getLogger("phone.call_actions")


def call_actions(
    settings: Settings, clock: Clock, *, carrier_can_transfer: bool = True
) -> list[str]:
    """The actions a call can carry out now: a message and a hang-up always, a transfer with
    a number, inside its hours, on a carrier that can put a call through."""
    actions = [TAKE_MESSAGE, END_CALL]
    if carrier_can_transfer and transfer_available(settings, clock.now()):
        actions.insert(0, TRANSFER_CALL)
    return actions


class _CallContext(Protocol):
    settings: Settings
    clock: Clock


def turn_channel(ctx: _CallContext, caller: str | None) -> dict[str, Any]:
    """A turn's `actions` and `caller` for the orchestrator client: what this call can do
    (the orchestrator offers exactly that) and who is calling (bookings default to it)."""
    return {"actions": call_actions(ctx.settings, ctx.clock), "caller": caller}


async def caller_of(store: CallStore, call_id: str) -> str | None:
    """The caller's number from the call's record (the carrier's adapter made it), or None:
    a store that cannot answer now must not hold up the call."""
    try:
        record = await store.get_call(call_id)
    except Exception as exc:
        log.warning("call %s: caller's number unknown (%s)", call_id, exc)
        return None
    return record.from_number if record is not None else None
