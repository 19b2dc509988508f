"""`SqlCallStore`: the `CallStore` over SQLAlchemy Core, SQLite by default, PostgreSQL by URL.

`start()` migrates the schema to the newest Alembic revision (`migrate.py`). Every write is its
own transaction: a crash mid-call leaves everything written up to that moment readable.
The engine is SQLAlchemy's synchronous one; each public method is `async` and runs its
database work in a worker thread (`asyncio.to_thread`), so the event loop never blocks.
Audio lives in files (`calls_log/<CallSid>/...`); the store keeps their paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from lidia.core.clock import SYSTEM_CLOCK, Clock
from lidia.phone.call_store.engine import make_engine
from lidia.phone.call_store.migrate import upgrade_schema
from lidia.phone.call_store.queries import query_conditions
from lidia.phone.call_store.records import (
    CallQuery,
    CallSummary,
    record_from_row,
    record_values,
)
from lidia.phone.call_store.schema import (
    CALL_UPDATABLE,
    TURN_UPDATABLE,
    CallRecord,
    DeliveryRecord,
    EventRecord,
    TurnRecord,
    calls_table,
    deliveries_table,
    events_table,
    turns_table,
)

T = TypeVar("T")


class SqlCallStore:
    """`CallStore` over SQLAlchemy: SQLite (`sqlite:///path`) or PostgreSQL
    (`postgresql+psycopg://...`). `schema` puts the tables in a PostgreSQL schema
    (tests use a throw-away one); None uses the default."""

    def __init__(self, url: str, *, schema: str | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.url = url
        self.schema = schema
        self.clock = clock  # stamps every record: retention and the dashboard read these
        self._engine = make_engine(url, schema)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    async def start(self) -> None:
        """Create or migrate the tables to the newest revision (idempotent)."""
        await asyncio.to_thread(upgrade_schema, self._engine, self.schema)

    async def close(self) -> None:
        await asyncio.to_thread(self._engine.dispose)

    async def create_call(
        self,
        call_sid: str,
        *,
        from_number: str | None,
        to_number: str | None,
        mode: str | None = None,
        status: str = "in-progress",
        carrier: str | None = None,
    ) -> bool:
        """Insert the call; False when it already exists (Twilio retries webhooks)."""
        call = CallRecord(
            call_sid,
            from_number,
            to_number,
            mode,
            status,
            started_at=self.clock.now(),
            carrier=carrier,
        )

        def write() -> bool:
            try:
                with self._engine.begin() as conn:
                    conn.execute(insert(calls_table).values(**record_values(call)))
                return True
            except IntegrityError:
                return False

        return await asyncio.to_thread(write)

    async def get_call(self, call_sid: str) -> CallRecord | None:
        records = await self._fetch(
            select(calls_table).where(calls_table.c.call_sid == call_sid), _call_record
        )
        return records[0] if records else None

    async def update_call(self, call_sid: str, **fields: Any) -> None:
        _refuse_unknown("call", fields, CALL_UPDATABLE)
        await self._execute(
            update(calls_table).where(calls_table.c.call_sid == call_sid).values(**fields)
        )

    async def finish_call(
        self,
        call_sid: str,
        *,
        status: str,
        outcome: str | None = None,
        duration_s: float | None = None,
    ) -> None:
        """Close the record: end time, duration (Twilio's, else measured), status, outcome.

        An outcome already set (e.g. "message") is kept unless a new one is given."""

        def write() -> None:
            with self._engine.begin() as conn:
                row = conn.execute(
                    select(calls_table.c.started_at, calls_table.c.outcome).where(
                        calls_table.c.call_sid == call_sid
                    )
                ).first()
                if row is None:
                    return
                ended = self.clock.now()
                measured = (ended - row.started_at).total_seconds()
                conn.execute(
                    update(calls_table)
                    .where(calls_table.c.call_sid == call_sid)
                    .values(
                        status=status,
                        ended_at=ended,
                        duration_s=duration_s if duration_s is not None else measured,
                        outcome=outcome or row.outcome or status,
                    )
                )

        await asyncio.to_thread(write)

    async def add_turn(self, call_sid: str, turn: TurnRecord) -> None:
        values = record_values(turn, call_sid=call_sid)
        values["created_at"] = turn.created_at or self.clock.now()
        await self._execute(insert(turns_table).values(**values))

    async def update_turn(self, call_sid: str, turn_index: int, **fields: Any) -> None:
        _refuse_unknown("turn", fields, TURN_UPDATABLE)
        await self._execute(
            update(turns_table)
            .where(turns_table.c.call_sid == call_sid, turns_table.c.turn_index == turn_index)
            .values(**fields)
        )

    async def add_dtmf(self, call_sid: str, digit: str) -> None:
        """Append the digit to the call's `dtmf` and log a `dtmf` event, in one transaction."""

        def write() -> None:
            with self._engine.begin() as conn:
                conn.execute(
                    update(calls_table)
                    .where(calls_table.c.call_sid == call_sid)
                    .values(dtmf=func.substr(calls_table.c.dtmf + digit, 1, 256))
                )
                conn.execute(_event_insert(call_sid, "dtmf", {"digit": digit}, self.clock.now()))

        await asyncio.to_thread(write)

    async def add_error(self, call_sid: str, message: str) -> None:
        """Append to the call's `errors` list and log an `error` event, in one transaction."""

        def write() -> None:
            with self._engine.begin() as conn:
                current = conn.execute(
                    select(calls_table.c.errors)
                    .where(calls_table.c.call_sid == call_sid)
                    .with_for_update()
                ).scalar_one_or_none()
                if current is None:
                    return
                conn.execute(
                    update(calls_table)
                    .where(calls_table.c.call_sid == call_sid)
                    .values(errors=[*current, message])
                )
                conn.execute(
                    _event_insert(call_sid, "error", {"message": message}, self.clock.now())
                )

        await asyncio.to_thread(write)

    async def add_event(self, call_sid: str, kind: str, data: dict[str, Any]) -> None:
        await self._execute(_event_insert(call_sid, kind, data, self.clock.now()))

    async def claim_stream(self, call_sid: str, *, at: dt.datetime) -> bool:
        """Mark the call's one media stream as accepted; False when it is unknown, not live,
        or already has one. One conditional UPDATE (`claim_stream_row`): atomic across every
        process sharing the database."""

        def write() -> bool:
            with self._engine.begin() as conn:
                return claim_stream_row(conn, call_sid, at)

        return await asyncio.to_thread(write)

    async def turns(self, call_sid: str) -> list[TurnRecord]:
        return await self._fetch(
            select(turns_table)
            .where(turns_table.c.call_sid == call_sid)
            .order_by(turns_table.c.turn_index),
            _turn_record,
        )

    async def events(self, call_sid: str) -> list[EventRecord]:
        return await self._fetch(
            select(events_table)
            .where(events_table.c.call_sid == call_sid)
            .order_by(events_table.c.id),
            _event_record,
        )

    async def recent_calls(self, limit: int = 50) -> list[CallRecord]:
        return await self._fetch(
            select(calls_table).order_by(calls_table.c.started_at.desc()).limit(limit),
            _call_record,
        )

    async def search_calls(
        self, query: CallQuery, *, offset: int = 0, limit: int = 50
    ) -> tuple[list[CallSummary], int]:
        """One page of calls matching `query`, newest first, and how many match in all.

        The text search is SQL (`ILIKE` over the call's turns and message), case-insensitive
        for Cyrillic too on both databases (see `engine._sqlite_pragmas`)."""
        conditions = query_conditions(query)
        turn_count = (
            select(func.count(turns_table.c.id))
            .where(turns_table.c.call_sid == calls_table.c.call_sid)
            .scalar_subquery()
        )
        page = (
            select(calls_table, turn_count.label("turn_count"))
            .where(*conditions)
            .order_by(calls_table.c.started_at.desc(), calls_table.c.call_sid.desc())
            .offset(offset)
            .limit(limit)
        )
        total = select(func.count()).select_from(calls_table).where(*conditions)

        def read() -> tuple[list[CallSummary], int]:
            with self._engine.connect() as conn:
                rows = conn.execute(page).mappings().all()
                count = conn.execute(total).scalar_one()
            return [CallSummary(_call_record(r), int(r["turn_count"])) for r in rows], count

        return await asyncio.to_thread(read)

    async def call_sids_started_before(self, cutoff: dt.datetime) -> list[str]:
        return await self._fetch(
            select(calls_table.c.call_sid).where(calls_table.c.started_at < cutoff),
            lambda row: row["call_sid"],
        )

    async def delete_calls(self, call_sids: list[str]) -> int:
        """Delete the calls with their turns and events, all in one transaction."""
        if not call_sids:
            return 0

        def write() -> int:
            with self._engine.begin() as conn:
                for table in (events_table, turns_table, deliveries_table):
                    conn.execute(delete(table).where(table.c.call_sid.in_(call_sids)))
                result = conn.execute(
                    delete(calls_table).where(calls_table.c.call_sid.in_(call_sids))
                )
            return result.rowcount

        return await asyncio.to_thread(write)

    # ------------------------------------------------------------------ notification outbox

    async def enqueue_deliveries(self, call_sid: str, channels: Sequence[str]) -> None:
        """One pending delivery per channel; channels already queued for the call are kept."""
        now = self.clock.now()

        def write() -> None:
            with self._engine.begin() as conn:
                queued = set(
                    conn.execute(
                        select(deliveries_table.c.channel).where(
                            deliveries_table.c.call_sid == call_sid
                        )
                    ).scalars()
                )
                for channel in (name for name in channels if name not in queued):
                    conn.execute(
                        insert(deliveries_table).values(**_new_delivery(call_sid, channel, now))
                    )

        # A concurrent enqueue for the same call may win the race: then it is queued once.
        with contextlib.suppress(IntegrityError):
            await asyncio.to_thread(write)

    async def due_deliveries(self, now: dt.datetime, limit: int = 50) -> list[DeliveryRecord]:
        table = deliveries_table
        return await self._fetch(
            select(table)
            .where(table.c.state == "pending", table.c.next_attempt_at <= now)
            .order_by(table.c.next_attempt_at, table.c.id)
            .limit(limit),
            _delivery_record,
        )

    async def deliveries(self, call_sid: str) -> list[DeliveryRecord]:
        table = deliveries_table
        return await self._fetch(
            select(table).where(table.c.call_sid == call_sid).order_by(table.c.id),
            _delivery_record,
        )

    async def mark_delivery(
        self,
        delivery_id: int,
        *,
        state: str,
        attempts: int,
        next_attempt_at: dt.datetime,
        last_error: str | None,
        sent_at: dt.datetime | None,
    ) -> None:
        await self._execute(
            update(deliveries_table)
            .where(deliveries_table.c.id == delivery_id)
            .values(
                state=state,
                attempts=attempts,
                next_attempt_at=next_attempt_at,
                last_error=last_error,
                sent_at=sent_at,
            )
        )

    # ------------------------------------------------------------------ internals

    async def _fetch(self, statement: Any, convert: Callable[[Any], T]) -> list[T]:
        """Run a SELECT in a worker thread; each row (a mapping) through `convert`."""

        def read() -> list[T]:
            with self._engine.connect() as conn:
                rows = conn.execute(statement).mappings().all()
            return [convert(row) for row in rows]

        return await asyncio.to_thread(read)

    async def _execute(self, statement: Any) -> None:
        def write() -> None:
            with self._engine.begin() as conn:
                conn.execute(statement)

        await asyncio.to_thread(write)


def _refuse_unknown(kind: str, fields: dict[str, Any], updatable: frozenset[str]) -> None:
    unknown = set(fields) - updatable
    if unknown:
        raise ValueError(f"cannot update {kind} fields {sorted(unknown)}")


LIVE_STATUSES = ("ringing", "in-progress")  # a stream may start only while the call is live


def claim_stream_row(conn: Connection, call_sid: str, at: dt.datetime) -> bool:
    """`UPDATE calls SET stream_claimed_at = :at WHERE call_sid = :sid AND stream_claimed_at IS
    NULL AND status IN live`: True when this statement claimed the stream. On PostgreSQL a
    racing second UPDATE waits for the first one's row lock, re-reads the row and matches
    nothing; SQLite serialises writers. The same `at` matches again, so replaying a journaled
    claim is idempotent (it answers True again and changes nothing)."""
    calls = calls_table
    unclaimed = and_(calls.c.stream_claimed_at.is_(None), calls.c.status.in_(LIVE_STATUSES))
    result = conn.execute(
        update(calls)
        .where(calls.c.call_sid == call_sid, or_(unclaimed, calls.c.stream_claimed_at == at))
        .values(stream_claimed_at=at)
    )
    return result.rowcount == 1


def _event_insert(call_sid: str, kind: str, data: dict[str, Any], at: dt.datetime) -> Any:
    event = EventRecord(kind, data, at)
    return insert(events_table).values(**record_values(event, call_sid=call_sid))


def _call_record(row: Any) -> CallRecord:
    return record_from_row(CallRecord, row)


def _turn_record(row: Any) -> TurnRecord:
    return record_from_row(TurnRecord, row)


def _new_delivery(call_sid: str, channel: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "call_sid": call_sid,
        "channel": channel,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _delivery_record(row: Any) -> DeliveryRecord:
    return record_from_row(DeliveryRecord, row)


def _event_record(row: Any) -> EventRecord:
    return record_from_row(EventRecord, row)
