"""One-time tokens that bind a call's Media Stream to the webhook that answered the call.

Twilio signs the WebSocket upgrade over the bare `wss://` URL, the same for every call, so a
recorded upgrade and `start` frame could be replayed against any call. `POST /twilio/voice`
therefore mints a random token per call and passes it as `<Parameter name="streamToken">`
(Twilio hands it back in `start.customParameters`); only its SHA-256 is kept, as a
`stream_token` event of the call. A `start` is accepted once: for a call that is ringing or
in progress, has no stream yet, and carries a token issued for it. The claim is written as a
`stream_claimed` event before the session touches the record or the call's files.

Within one process the claim is a test-and-set on `_claiming` (no await between the test and
the set), so two `start`s racing for one call cannot both win.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from lidia.phone.call_store import CallStore
from lidia.phone.ids import is_call_sid

TOKEN_PARAMETER = "streamToken"
TOKEN_EVENT = "stream_token"
CLAIM_EVENT = "stream_claimed"
STREAM_EVENTS = frozenset({CLAIM_EVENT, "stream_start"})  # either means the call had a stream
LIVE_STATUSES = frozenset({"ringing", "in-progress"})

_claiming: set[str] = set()


class StreamRefused(Exception):
    """A `start` this call must not accept; the message says why (logged, sent as the close
    reason)."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def issue_stream_token(store: CallStore, call_sid: str) -> str:
    """A fresh token for the call's stream TwiML; its digest is stored with the call."""
    token = secrets.token_urlsafe(32)
    await store.add_event(call_sid, TOKEN_EVENT, {"sha256": token_digest(token)})
    return token


def presented_token(custom_parameters: Mapping[str, Any]) -> str | None:
    token = custom_parameters.get(TOKEN_PARAMETER)
    return token if isinstance(token, str) and token else None


async def claim_stream(store: CallStore, call_sid: str, token: str | None) -> None:
    """Accept this call's one stream, or raise `StreamRefused` having changed nothing."""
    if not is_call_sid(call_sid):
        raise StreamRefused("unknown call")
    if call_sid in _claiming:
        raise StreamRefused("a stream is already being started for this call")
    _claiming.add(call_sid)
    try:
        await _check_claimable(store, call_sid, token)
        await store.add_event(call_sid, CLAIM_EVENT, {})
    finally:
        _claiming.discard(call_sid)


async def _check_claimable(store: CallStore, call_sid: str, token: str | None) -> None:
    record = await store.get_call(call_sid)
    if record is None:
        raise StreamRefused("unknown call")
    if record.status not in LIVE_STATUSES:  # Twilio's final statuses: completed, failed, ...
        raise StreamRefused(f"call is {record.status}, not live")
    events = await store.events(call_sid)
    if any(event.kind in STREAM_EVENTS for event in events):
        raise StreamRefused("call already has a stream")
    if token is None:
        raise StreamRefused(f"missing {TOKEN_PARAMETER} parameter")
    digest = token_digest(token)
    issued = (event.data.get("sha256") for event in events if event.kind == TOKEN_EVENT)
    if not any(isinstance(d, str) and hmac.compare_digest(d, digest) for d in issued):
        raise StreamRefused(f"wrong {TOKEN_PARAMETER} for this call")


def public_parameters(custom_parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The `start` parameters worth logging: everything but the token."""
    return {k: v for k, v in custom_parameters.items() if k != TOKEN_PARAMETER}
