"""Applying one journal entry to the real store, idempotently: applying it twice (a crash
between the database's commit and the journal's) changes nothing.

How each write is made idempotent: a call or a turn is inserted only if absent (the call's
primary key, the turn's unique `(call_sid, turn_index)`); updates set values; the times
(`started_at`, `ended_at`, a turn's or an event's `created_at`) are taken when the entry was
journaled, not when it is applied, so a replay writes the same row; an event (and the DTMF
digit or error it goes with) is skipped when the call already has that event kind at that
exact time (microseconds).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from lidia.phone.call_store.records import record_values
from lidia.phone.call_store.schema import (
    CallRecord,
    TurnRecord,
    calls_table,
    events_table,
    turns_table,
)
from lidia.phone.call_store.store import SqlCallStore, claim_stream_row

log = logging.getLogger("phone.journal")

Applier = Callable[[SqlCallStore, dict[str, Any]], Any]


def apply_entry(store: SqlCallStore, op: str, args: dict[str, Any]) -> Any:
    """Apply one journaled write (blocking: call it from a worker thread). Not for
    `STORE_METHODS`, which are the store's coroutines."""
    return APPLIERS[op](store, args)


def _create_call(store: SqlCallStore, args: dict[str, Any]) -> bool:
    with store.engine.begin() as conn:
        exists = conn.execute(
            select(calls_table.c.call_sid).where(calls_table.c.call_sid == args["call_sid"])
        ).first()
        if exists:
            return False
        conn.execute(insert(calls_table).values(**record_values(CallRecord(**args))))
    return True


def _update_call(store: SqlCallStore, args: dict[str, Any]) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            update(calls_table)
            .where(calls_table.c.call_sid == args["call_sid"])
            .values(**args["fields"])
        )


def _finish_call(store: SqlCallStore, args: dict[str, Any]) -> None:
    """`SqlCallStore.finish_call`, with the end time of the moment it was journaled."""
    ended: dt.datetime = args["ended_at"]
    with store.engine.begin() as conn:
        row = conn.execute(
            select(calls_table.c.started_at, calls_table.c.outcome).where(
                calls_table.c.call_sid == args["call_sid"]
            )
        ).first()
        if row is None:
            return
        duration = args["duration_s"]
        conn.execute(
            update(calls_table)
            .where(calls_table.c.call_sid == args["call_sid"])
            .values(
                status=args["status"],
                ended_at=ended,
                duration_s=duration if duration is not None else _seconds(ended, row.started_at),
                outcome=args["outcome"] or row.outcome or args["status"],
            )
        )


def _seconds(ended: dt.datetime, started: dt.datetime) -> float:
    if started.tzinfo is None:
        started = started.replace(tzinfo=dt.UTC)
    return (ended - started).total_seconds()


def _add_turn(store: SqlCallStore, args: dict[str, Any]) -> None:
    turn = TurnRecord(**args["turn"])
    with store.engine.begin() as conn:
        exists = conn.execute(
            select(turns_table.c.id).where(
                turns_table.c.call_sid == args["call_sid"],
                turns_table.c.turn_index == turn.turn_index,
            )
        ).first()
        if not exists:
            values = record_values(turn, call_sid=args["call_sid"])
            conn.execute(insert(turns_table).values(**values))


def _update_turn(store: SqlCallStore, args: dict[str, Any]) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            update(turns_table)
            .where(
                turns_table.c.call_sid == args["call_sid"],
                turns_table.c.turn_index == args["turn_index"],
            )
            .values(**args["fields"])
        )


def _add_event(store: SqlCallStore, args: dict[str, Any]) -> None:
    with store.engine.begin() as conn:
        _insert_event_once(conn, args["call_sid"], args["kind"], args["data"], args["at"])


def _add_dtmf(store: SqlCallStore, args: dict[str, Any]) -> None:
    call_sid, digit = args["call_sid"], args["digit"]
    with store.engine.begin() as conn:
        if _insert_event_once(conn, call_sid, "dtmf", {"digit": digit}, args["at"]):
            conn.execute(
                update(calls_table)
                .where(calls_table.c.call_sid == call_sid)
                .values(dtmf=func.substr(calls_table.c.dtmf + digit, 1, 256))
            )


def _add_error(store: SqlCallStore, args: dict[str, Any]) -> None:
    call_sid, message = args["call_sid"], args["message"]
    with store.engine.begin() as conn:
        current = conn.execute(
            select(calls_table.c.errors).where(calls_table.c.call_sid == call_sid).with_for_update()
        ).scalar_one_or_none()
        if current is None:
            return
        if _insert_event_once(conn, call_sid, "error", {"message": message}, args["at"]):
            conn.execute(
                update(calls_table)
                .where(calls_table.c.call_sid == call_sid)
                .values(errors=[*current, message])
            )


def _insert_event_once(
    conn: Connection, call_sid: str, kind: str, data: dict[str, Any], at: dt.datetime
) -> bool:
    """Insert the event unless the call has one of this kind at this very time; True if new."""
    table = events_table
    exists = conn.execute(
        select(table.c.id).where(
            table.c.call_sid == call_sid, table.c.kind == kind, table.c.created_at == at
        )
    ).first()
    if exists:
        return False
    conn.execute(insert(table).values(call_sid=call_sid, kind=kind, data=data, created_at=at))
    return True


def _claim_stream(store: SqlCallStore, args: dict[str, Any]) -> bool:
    """A stream accepted while the database was down (`stream_tokens`), claimed now. False
    means another replica claimed it first meanwhile: logged, the record is left as it is."""
    with store.engine.begin() as conn:
        claimed = claim_stream_row(conn, args["call_sid"], args["at"])
    if not claimed:
        log.warning(
            "stream of call %s was accepted offline but is claimed elsewhere", args["call_sid"]
        )
    return claimed


APPLIERS: dict[str, Applier] = {
    "claim_stream": _claim_stream,
    "create_call": _create_call,
    "update_call": _update_call,
    "finish_call": _finish_call,
    "add_turn": _add_turn,
    "update_turn": _update_turn,
    "add_event": _add_event,
    "add_dtmf": _add_dtmf,
    "add_error": _add_error,
}
# Writes already idempotent in `SqlCallStore` (the notification outbox): applied by awaiting
# the store's own coroutine with the journaled arguments.
STORE_METHODS = frozenset({"enqueue_deliveries", "mark_delivery"})
