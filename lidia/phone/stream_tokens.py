"""One-time tokens that bind a call's Media Stream to the webhook that answered the call.

Twilio signs the WebSocket upgrade over the bare `wss://` URL, the same for every call, so a
recorded upgrade and `start` frame could be replayed against any call. `POST /twilio/voice`
therefore mints a random token per call and passes it as `<Parameter name="streamToken">`
(Twilio hands it back in `start.customParameters`); only its SHA-256 is kept, as a
`stream_token` event of the call. A `start` is accepted once: for a call that is ringing or
in progress, has no stream yet, and carries a token issued for it. Nothing is written before
the claim is won, then a `stream_claimed` event, before the session touches the record or
the call's files.

Who decides, with more than one phone replica behind a load balancer on one PostgreSQL:
- The database. The claim is one conditional UPDATE (`SqlCallStore.claim_stream`: set
  `calls.stream_claimed_at` where it is NULL and the call is live), so of two `start`s racing
  on two replicas exactly one wins, whatever the timing. Within one replica a test-and-set
  (no await between the test and the set) turns a second local `start` away before it even
  reaches the database.
- While the database is down (`JournaledCallStore`): the replica decides alone, from what it
  knows itself: the call's record as it wrote it (in memory), the tokens *it* issued, the
  streams *it* accepted. The claim is journaled and made in the database when it returns (an
  entry that then loses, because another replica claimed the call meanwhile, is logged). So
  during an outage a `start` reaching the replica that answered the call's webhook is served
  as usual; one reaching another replica is refused (it cannot check the token or the call's
  state), and a replayed `start` could only be accepted by the replica that issued its token,
  once. With one replica (the default) an outage changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from lidia.phone.call_store import CallStore
from lidia.phone.call_store.faults import CallStoreUnavailable
from lidia.phone.call_store.store import LIVE_STATUSES as _LIVE
from lidia.phone.ids import is_call_sid

TOKEN_PARAMETER = "streamToken"
TOKEN_EVENT = "stream_token"
CLAIM_EVENT = "stream_claimed"
STREAM_EVENTS = frozenset({CLAIM_EVENT, "stream_start"})  # either means the call had a stream
LIVE_STATUSES = frozenset(_LIVE)
REMEMBERED_CALLS = 4096  # per store: tokens issued and streams accepted by this replica


class StreamRefused(Exception):
    """A `start` this call must not accept; the message says why (logged, sent as the close
    reason)."""


class _Replica:
    """What this process knows without the database, per store (a store is one replica's
    view of the calls; two stores in one process behave as two replicas)."""

    def __init__(self) -> None:
        self.issued: OrderedDict[str, set[str]] = OrderedDict()  # CallSid → token digests
        self.accepted: OrderedDict[str, None] = OrderedDict()  # streams accepted here

    def remember(self, table: OrderedDict[str, Any], call_sid: str, value: Any) -> None:
        table[call_sid] = value
        table.move_to_end(call_sid)
        while len(table) > REMEMBERED_CALLS:
            table.popitem(last=False)


_replicas: weakref.WeakKeyDictionary[object, _Replica] = weakref.WeakKeyDictionary()


def _replica(store: CallStore) -> _Replica:
    known = _replicas.get(store)
    if known is None:
        known = _replicas[store] = _Replica()
    return known


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def issue_stream_token(store: CallStore, call_sid: str) -> str:
    """A fresh token for the call's stream TwiML; its digest is stored with the call."""
    token = secrets.token_urlsafe(32)
    digest = token_digest(token)
    replica = _replica(store)
    replica.remember(replica.issued, call_sid, replica.issued.get(call_sid, set()) | {digest})
    await store.add_event(call_sid, TOKEN_EVENT, {"sha256": digest})
    return token


def presented_token(custom_parameters: Mapping[str, Any]) -> str | None:
    token = custom_parameters.get(TOKEN_PARAMETER)
    return token if isinstance(token, str) and token else None


async def claim_stream(store: CallStore, call_sid: str, token: str | None) -> None:
    """Accept this call's one stream, or raise `StreamRefused` having changed nothing."""
    if not is_call_sid(call_sid):
        raise StreamRefused("unknown call")
    replica = _replica(store)
    if call_sid in replica.accepted:
        raise StreamRefused("call already has a stream")
    replica.remember(replica.accepted, call_sid, None)  # the local test-and-set
    try:
        await _claim(store, replica, call_sid, token)
    except BaseException:
        replica.accepted.pop(call_sid, None)
        raise


async def _claim(store: CallStore, replica: _Replica, call_sid: str, token: str | None) -> None:
    _refuse_unless_claimable(call_sid, await _record_or_refuse(store, call_sid))
    if token is None:
        raise StreamRefused(f"missing {TOKEN_PARAMETER} parameter")
    if not await _token_fits(store, replica, call_sid, token_digest(token)):
        raise StreamRefused(f"wrong {TOKEN_PARAMETER} for this call")
    claimed = await store.claim_stream(call_sid, at=store.clock.now())  # the database decides races
    if claimed is False:
        _refuse_unless_claimable(call_sid, await _record_or_refuse(store, call_sid))
        raise StreamRefused("call already has a stream")
    # True: claimed in the database. None: the database is down; the checks above used this
    # replica's own memory and the claim waits in the journal.
    await store.add_event(call_sid, CLAIM_EVENT, {} if claimed else {"offline": True})


async def _record_or_refuse(store: CallStore, call_sid: str) -> Any:
    try:
        record = await store.get_call(call_sid)
    except CallStoreUnavailable as exc:  # down, and the call is not one this replica wrote
        raise StreamRefused("call database unavailable and the call is not known here") from exc
    if record is None:
        raise StreamRefused("unknown call")
    return record


def _refuse_unless_claimable(call_sid: str, record: Any) -> None:
    if record.status not in LIVE_STATUSES:  # Twilio's final statuses: completed, failed, ...
        raise StreamRefused(f"call is {record.status}, not live")
    if getattr(record, "stream_claimed_at", None) is not None:
        raise StreamRefused("call already has a stream")


async def _token_fits(store: CallStore, replica: _Replica, call_sid: str, digest: str) -> bool:
    """Issued for this call: by this replica (memory), else by any (the call's events)."""
    if _matches(replica.issued.get(call_sid, ()), digest):
        return True
    try:
        events = await store.events(call_sid)
    except CallStoreUnavailable as exc:
        raise StreamRefused(
            f"call database unavailable: cannot check a {TOKEN_PARAMETER} issued elsewhere"
        ) from exc
    issued = (event.data.get("sha256") for event in events if event.kind == TOKEN_EVENT)
    return _matches(issued, digest)


def _matches(digests: Any, digest: str) -> bool:
    return any(isinstance(d, str) and hmac.compare_digest(d, digest) for d in digests)


def public_parameters(custom_parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The `start` parameters worth logging: everything but the token."""
    return {k: v for k, v in custom_parameters.items() if k != TOKEN_PARAMETER}
