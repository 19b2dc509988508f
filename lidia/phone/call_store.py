"""Call records: every call, its turns, DTMF and errors (SQLite by default, PostgreSQL by URL).

One schema for both databases (SQLAlchemy 2 Core), created at start with `metadata.create_all`
and stamped in `schema_version` so a later release can migrate. Version 2 added the caller's
message extracted at call end (`message_*` columns); `start()` migrates a v1 database in place.
Every write is its own
transaction: a crash mid-call leaves everything written up to that moment readable.

The engine is SQLAlchemy's synchronous one; each public method is `async` and runs its
database work in a worker thread (`asyncio.to_thread`), so the event loop never blocks.
Audio lives in files (`calls_log/<CallSid>/...`); the store keeps their paths.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

SCHEMA_VERSION = 2
T = TypeVar("T")

metadata = MetaData()

schema_version_table = Table(
    "schema_version", metadata, Column("version", Integer, primary_key=True)
)

calls_table = Table(
    "calls",
    metadata,
    Column("call_sid", String(64), primary_key=True),
    Column("from_number", String(64)),
    Column("to_number", String(64)),
    Column("mode", String(16)),
    Column("status", String(32), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("duration_s", Float),
    Column("outcome", String(64)),
    Column("errors", JSON, nullable=False),
    Column("dtmf", String(256), nullable=False, default=""),
    Column("message_audio_path", Text),
    Column("message_recording_url", Text),
    Column("message_transcript", Text),
    # v2: the caller's message, extracted from the transcript at call end.
    Column("message_name", String(256)),
    Column("message_phone", String(64)),
    Column("message_reason", Text),
    Column("message_summary", Text),
    Column("message_left", Boolean, nullable=False, default=False, server_default="0"),
)

# Columns each schema version added to `calls`, for migrating an older database in place.
CALLS_COLUMNS_ADDED = {
    2: ["message_name", "message_phone", "message_reason", "message_summary", "message_left"],
}

turns_table = Table(
    "turns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "call_sid",
        String(64),
        ForeignKey("calls.call_sid", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("turn_index", Integer, nullable=False),
    Column("caller_audio_path", Text),
    Column("transcript", Text),
    Column("reply", Text),
    Column("reply_audio_path", Text),
    Column("fallback", Boolean, nullable=False, default=False),
    Column("latencies", JSON, nullable=False),
    Column("barge_in", Boolean, nullable=False, default=False),
    Column("heard_ms", Integer),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("call_sid", "turn_index", name="uq_turns_call_index"),
)

events_table = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "call_sid",
        String(64),
        ForeignKey("calls.call_sid", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("kind", String(32), nullable=False),  # dtmf | error | barge_in | message | ...
    Column("data", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class CallRecord:
    call_sid: str
    from_number: str | None
    to_number: str | None
    mode: str | None
    status: str
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    duration_s: float | None = None
    outcome: str | None = None
    errors: list[str] = field(default_factory=list)
    dtmf: str = ""
    message_audio_path: str | None = None
    message_recording_url: str | None = None
    message_transcript: str | None = None
    message_name: str | None = None
    message_phone: str | None = None
    message_reason: str | None = None
    message_summary: str | None = None
    message_left: bool = False


@dataclass
class CallSummary:
    """A row of the calls list: the call and how many turns it has."""

    call: CallRecord
    turn_count: int


@dataclass(frozen=True)
class CallQuery:
    """Filters of the calls list. Dates are UTC days, both ends included; `caller` matches
    part of the caller's number; `text` searches transcripts, replies and the message."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    caller: str | None = None
    text: str | None = None


@dataclass
class TurnRecord:
    """One exchange. `latencies` holds seconds per stage; `heard_ms` how much reply played."""

    turn_index: int
    caller_audio_path: str | None = None
    transcript: str | None = None
    reply: str | None = None
    reply_audio_path: str | None = None
    fallback: bool = False
    latencies: dict[str, Any] = field(default_factory=dict)
    barge_in: bool = False
    heard_ms: int | None = None
    error: str | None = None
    created_at: dt.datetime | None = None


@dataclass
class EventRecord:
    kind: str
    data: dict[str, Any]
    created_at: dt.datetime


# Fields `update_call` may change (the rest are set once, at creation).
CALL_UPDATABLE = {
    "status",
    "ended_at",
    "duration_s",
    "outcome",
    "mode",
    "message_audio_path",
    "message_recording_url",
    "message_transcript",
    "message_name",
    "message_phone",
    "message_reason",
    "message_summary",
    "message_left",
    "from_number",
    "to_number",
}
TURN_UPDATABLE = {"barge_in", "heard_ms", "reply", "reply_audio_path", "latencies", "error"}


class CallStore(Protocol):
    """Where calls are recorded. All methods are coroutines; each write is atomic."""

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def create_call(
        self,
        call_sid: str,
        *,
        from_number: str | None,
        to_number: str | None,
        mode: str | None = None,
        status: str = "in-progress",
    ) -> bool: ...
    async def get_call(self, call_sid: str) -> CallRecord | None: ...
    async def update_call(self, call_sid: str, **fields: Any) -> None: ...
    async def finish_call(
        self,
        call_sid: str,
        *,
        status: str,
        outcome: str | None = None,
        duration_s: float | None = None,
    ) -> None: ...
    async def add_turn(self, call_sid: str, turn: TurnRecord) -> None: ...
    async def update_turn(self, call_sid: str, turn_index: int, **fields: Any) -> None: ...
    async def add_dtmf(self, call_sid: str, digit: str) -> None: ...
    async def add_error(self, call_sid: str, message: str) -> None: ...
    async def add_event(self, call_sid: str, kind: str, data: dict[str, Any]) -> None: ...
    async def turns(self, call_sid: str) -> list[TurnRecord]: ...
    async def events(self, call_sid: str) -> list[EventRecord]: ...
    async def recent_calls(self, limit: int = 50) -> list[CallRecord]: ...
    async def search_calls(
        self, query: CallQuery, *, offset: int = 0, limit: int = 50
    ) -> tuple[list[CallSummary], int]: ...
    async def call_sids_started_before(self, cutoff: dt.datetime) -> list[str]: ...
    async def delete_calls(self, call_sids: list[str]) -> int: ...


def database_url_for(database_url: str | None, calls_log_dir: Path) -> str:
    """`DATABASE_URL`, or the default SQLite file `calls_log/calls.db`."""
    if database_url:
        return database_url
    calls_log_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(calls_log_dir / 'calls.db').resolve()}"


class SqlCallStore:
    """`CallStore` over SQLAlchemy: SQLite (`sqlite:///path`) or PostgreSQL
    (`postgresql+psycopg://...`). `schema` puts the tables in a PostgreSQL schema
    (tests use a throw-away one); None uses the default."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema
        self._engine = _make_engine(url, schema)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    async def start(self) -> None:
        """Create the tables (idempotent) and stamp the schema version."""
        await self._run(self._create_schema)

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
    ) -> bool:
        """Insert the call; False when it already exists (Twilio retries webhooks)."""
        values = {
            "call_sid": call_sid,
            "from_number": from_number,
            "to_number": to_number,
            "mode": mode,
            "status": status,
            "started_at": utcnow(),
            "errors": [],
            "dtmf": "",
        }

        def write() -> bool:
            try:
                with self._engine.begin() as conn:
                    conn.execute(insert(calls_table).values(**values))
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
        unknown = set(fields) - CALL_UPDATABLE
        if unknown:
            raise ValueError(f"cannot update call fields {sorted(unknown)}")
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
                ended = utcnow()
                started = _aware(row.started_at)
                duration = (
                    duration_s if duration_s is not None else ((ended - started).total_seconds())
                )
                conn.execute(
                    update(calls_table)
                    .where(calls_table.c.call_sid == call_sid)
                    .values(
                        status=status,
                        ended_at=ended,
                        duration_s=duration,
                        outcome=outcome or row.outcome or status,
                    )
                )

        await asyncio.to_thread(write)

    async def add_turn(self, call_sid: str, turn: TurnRecord) -> None:
        values = {
            "call_sid": call_sid,
            "turn_index": turn.turn_index,
            "caller_audio_path": turn.caller_audio_path,
            "transcript": turn.transcript,
            "reply": turn.reply,
            "reply_audio_path": turn.reply_audio_path,
            "fallback": turn.fallback,
            "latencies": turn.latencies,
            "barge_in": turn.barge_in,
            "heard_ms": turn.heard_ms,
            "error": turn.error,
            "created_at": turn.created_at or utcnow(),
        }
        await self._execute(insert(turns_table).values(**values))

    async def update_turn(self, call_sid: str, turn_index: int, **fields: Any) -> None:
        unknown = set(fields) - TURN_UPDATABLE
        if unknown:
            raise ValueError(f"cannot update turn fields {sorted(unknown)}")
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
                conn.execute(
                    insert(events_table).values(
                        call_sid=call_sid, kind="dtmf", data={"digit": digit}, created_at=utcnow()
                    )
                )

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
                    insert(events_table).values(
                        call_sid=call_sid,
                        kind="error",
                        data={"message": message},
                        created_at=utcnow(),
                    )
                )

        await asyncio.to_thread(write)

    async def add_event(self, call_sid: str, kind: str, data: dict[str, Any]) -> None:
        await self._execute(
            insert(events_table).values(
                call_sid=call_sid, kind=kind, data=data, created_at=utcnow()
            )
        )

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
        for Cyrillic too on both databases (see `_sqlite_pragmas`)."""
        conditions = _query_conditions(query)
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
                for table in (events_table, turns_table):
                    conn.execute(delete(table).where(table.c.call_sid.in_(call_sids)))
                result = conn.execute(
                    delete(calls_table).where(calls_table.c.call_sid.in_(call_sids))
                )
            return result.rowcount

        return await asyncio.to_thread(write)

    # ------------------------------------------------------------------ internals

    def _create_schema(self) -> None:
        with self._engine.begin() as conn:
            metadata.create_all(conn)
            current = conn.execute(select(func.max(schema_version_table.c.version))).scalar()
            if current is None:
                conn.execute(insert(schema_version_table).values(version=SCHEMA_VERSION))
            elif current > SCHEMA_VERSION:
                raise RuntimeError(
                    f"call database schema v{current} is newer than this code (v{SCHEMA_VERSION})"
                )
            elif current < SCHEMA_VERSION:
                self._migrate(conn, current)
                conn.execute(update(schema_version_table).values(version=SCHEMA_VERSION))

    def _migrate(self, conn: Connection, from_version: int) -> None:
        """Add the columns later versions introduced (`create_all` never alters a table)."""
        existing = {c["name"] for c in inspect(conn).get_columns("calls", schema=self.schema)}
        prefix = (
            f"{conn.dialect.identifier_preparer.quote_schema(self.schema)}." if self.schema else ""
        )
        for version in range(from_version + 1, SCHEMA_VERSION + 1):
            for name in CALLS_COLUMNS_ADDED.get(version, []):
                if name in existing:
                    continue
                column = calls_table.c[name]
                ddl = f"ALTER TABLE {prefix}calls ADD COLUMN {name} "
                ddl += column.type.compile(dialect=conn.dialect)
                if column.server_default is not None:
                    ddl += f" NOT NULL DEFAULT {_sql_default(column, conn)}"
                conn.execute(text(ddl))

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

    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.to_thread(work)


def _make_engine(url: str, schema: str | None) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL: readers never block the writer; a crash loses no committed row.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
            # SQLite's lower() (behind ILIKE) folds ASCII only: fold Cyrillic too, like PostgreSQL.
            dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if schema:
        engine = engine.execution_options(schema_translate_map={None: schema})
    return engine


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _sql_default(column: Column, conn: Connection) -> str:
    # Booleans: PostgreSQL wants false, SQLite 0; other server defaults are literal text.
    if isinstance(column.type, Boolean):
        return "false" if conn.dialect.name == "postgresql" else "0"
    return str(column.server_default.arg)  # type: ignore[union-attr]


def _like_pattern(value: str) -> str:
    """`%value%` with LIKE's wildcards in `value` escaped (searched for literally)."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _query_conditions(query: CallQuery) -> list[Any]:
    conditions: list[Any] = []
    if query.date_from is not None:
        start = dt.datetime.combine(query.date_from, dt.time(), tzinfo=dt.UTC)
        conditions.append(calls_table.c.started_at >= start)
    if query.date_to is not None:
        end = dt.datetime.combine(query.date_to + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        conditions.append(calls_table.c.started_at < end)
    if query.caller and query.caller.strip():
        pattern = _like_pattern(query.caller.strip())
        conditions.append(calls_table.c.from_number.like(pattern, escape="\\"))
    if query.text and query.text.strip():
        pattern = _like_pattern(query.text.strip())
        in_turns = (
            select(turns_table.c.call_sid)
            .where(
                or_(
                    turns_table.c.transcript.ilike(pattern, escape="\\"),
                    turns_table.c.reply.ilike(pattern, escape="\\"),
                )
            )
            .scalar_subquery()
        )
        conditions.append(
            or_(
                calls_table.c.call_sid.in_(in_turns),
                *(
                    calls_table.c[name].ilike(pattern, escape="\\")
                    for name in (
                        "message_transcript",
                        "message_name",
                        "message_reason",
                        "message_summary",
                    )
                ),
            )
        )
    return conditions


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _call_record(row: Any) -> CallRecord:
    return CallRecord(
        call_sid=row["call_sid"],
        from_number=row["from_number"],
        to_number=row["to_number"],
        mode=row["mode"],
        status=row["status"],
        started_at=_aware(row["started_at"]),
        ended_at=_aware(row["ended_at"]) if row["ended_at"] else None,
        duration_s=row["duration_s"],
        outcome=row["outcome"],
        errors=list(row["errors"] or []),
        dtmf=row["dtmf"] or "",
        message_audio_path=row["message_audio_path"],
        message_recording_url=row["message_recording_url"],
        message_transcript=row["message_transcript"],
        message_name=row["message_name"],
        message_phone=row["message_phone"],
        message_reason=row["message_reason"],
        message_summary=row["message_summary"],
        message_left=bool(row["message_left"]),
    )


def _event_record(row: Any) -> EventRecord:
    return EventRecord(row["kind"], row["data"], _aware(row["created_at"]))


def _turn_record(row: Any) -> TurnRecord:
    return TurnRecord(
        turn_index=row["turn_index"],
        caller_audio_path=row["caller_audio_path"],
        transcript=row["transcript"],
        reply=row["reply"],
        reply_audio_path=row["reply_audio_path"],
        fallback=bool(row["fallback"]),
        latencies=dict(row["latencies"] or {}),
        barge_in=bool(row["barge_in"]),
        heard_ms=row["heard_ms"],
        error=row["error"],
        created_at=_aware(row["created_at"]),
    )
