"""What the dialplan does once Лидия's leg of an Asterisk call ends, kept per call.

Neither chan_websocket nor AudioSocket can set a channel variable, so the dialplan asks
`GET /asterisk/calls/{call}/next` (`CURL()`): `hangup`, or `transfer:<E.164 number>`. The
answer is decided before the leg is ended (`HANGUP` / a hangup frame), so it is there when the
dialplan asks; it is kept here and, for other replicas and restarts, as a `next_step` event
on the call's record.
"""

from __future__ import annotations

from collections import OrderedDict

from lidia.phone.call_store import CallStore

HANGUP = "hangup"
# The transfer's DIALSTATUS after which the caller is still with us (the dialplan dials
# Лидия again with it): she offers to take a message.
NOT_ANSWERED = frozenset({"BUSY", "NOANSWER", "CANCEL", "CONGESTION", "CHANUNAVAIL"})
NEXT_STEP_EVENT = "next_step"
_KEPT = 1000  # recent calls' answers kept in memory; older ones are read from the store


def transfer_step(number: str) -> str:
    return f"transfer:{number}"


class AsteriskCalls:
    """The phone service's Asterisk state: each call's next step, calls on the line now."""

    def __init__(self) -> None:
        self._next: OrderedDict[str, str] = OrderedDict()
        self.connected: set[str] = set()  # AudioSocket calls with a live connection
        # AudioSocket calls registered again after a transfer nobody answered → DIALSTATUS.
        self.returning: dict[str, str] = {}

    async def decide(self, store: CallStore, call_id: str, step: str) -> None:
        self._next[call_id] = step
        self._next.move_to_end(call_id)
        while len(self._next) > _KEPT:
            self._next.popitem(last=False)
        await store.add_event(call_id, NEXT_STEP_EVENT, {"next": step})

    async def next_step(self, store: CallStore, call_id: str) -> str:
        step = self._next.get(call_id)
        if step is not None:
            return step
        steps = [e.data.get("next") for e in await store.events(call_id)]
        decided = [s for s in steps if isinstance(s, str)]
        return decided[-1] if decided else HANGUP
