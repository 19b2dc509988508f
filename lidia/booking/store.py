"""Лидия's own bookings (SQLAlchemy): SQLite by default, PostgreSQL when configured.

`reserve` is the one place two callers can race for a slot: under a per-calendar lock
(PostgreSQL: a transaction-scoped advisory lock; SQLite: `BEGIN IMMEDIATE`, which takes the
database's write lock before reading) it checks for an overlapping pending or confirmed
booking and inserts a `pending` row, so exactly one of them gets it. The row becomes
`confirmed` once the CalDAV write succeeded (see `desk`). Blocking: run in a worker thread.

The schema is Alembic's (`migrations/`, configured in code, run by `create`), with a version
table of its own so that it can share a database with the call store. A new revision: change
`bookings_table`, then `alembic.command.revision(alembic_config(url=...), message=...,
autogenerate=True)`.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    func,
    inspect,
    or_,
    select,
    text,
    update,
)

from lidia.core.migrations import alembic_config as migrations_config

PENDING, CONFIRMED, CANCELLED, FAILED = "pending", "confirmed", "cancelled", "failed"
ACTIVE = (PENDING, CONFIRMED)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "booking_alembic_version"  # not `alembic_version`: the call store's
FIRST_REVISION = "0001"  # the table as `metadata.create_all` made it before Alembic

metadata = MetaData()
bookings_table = Table(
    "bookings",
    metadata,
    Column("uid", String(64), primary_key=True),  # also the CalDAV event's UID
    Column("calendar", String(300), nullable=False),
    Column("starts_at", DateTime, nullable=False),  # naive UTC
    Column("ends_at", DateTime, nullable=False),
    Column("service", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("phone", String(40)),
    Column("comment", String(1000)),
    Column("call_id", String(128)),  # the conversation (Twilio CallSid on the phone)
    Column("status", String(16), nullable=False),
    Column("event_url", String(1000)),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
Index("ix_bookings_calendar_time", bookings_table.c.calendar, bookings_table.c.starts_at)
Index("ix_bookings_phone", bookings_table.c.phone)


@dataclass(frozen=True)
class Booking:
    uid: str
    calendar: str
    start: dt.datetime  # aware UTC
    end: dt.datetime
    service: str
    name: str
    phone: str | None
    comment: str | None
    call_id: str | None
    status: str = PENDING
    event_url: str | None = None


def bookings_url(booking_database: str | None, database_url: str | None, folder: Path) -> str:
    """`BOOKING_DATABASE`, else `DATABASE_URL`, else SQLite `calls_log/bookings.db`."""
    if booking_database or database_url:
        return str(booking_database or database_url)
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'bookings.db').resolve()}"


class BookingStore:
    """The bookings table. `schema`: a PostgreSQL schema of its own (tests)."""

    def __init__(self, url: str, schema: str | None = None) -> None:
        self.sqlite = url.startswith("sqlite")
        self.engine = _engine(url, schema)
        self.schema = schema

    def create(self) -> None:
        """Migrate the table to the newest revision (a no-op when it is there). A table made
        before Alembic (no version table) is first stamped at the first revision. PostgreSQL:
        one transaction under an advisory lock, so replicas starting together migrate once,
        with `search_path` at the store's schema for Alembic's unqualified DDL."""
        with self.engine.connect() as conn, conn.begin():
            if not self.sqlite:
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                    {"key": f"lidia.booking:{self.schema or ''}"},
                )
                if self.schema:
                    quoted = conn.dialect.identifier_preparer.quote_schema(self.schema)
                    conn.execute(text(f"SET LOCAL search_path TO {quoted}"))
            config = alembic_config(conn, schema=self.schema)
            tables = inspect(conn)
            if not tables.has_table(VERSION_TABLE, schema=self.schema) and tables.has_table(
                bookings_table.name, schema=self.schema
            ):
                command.stamp(config, FIRST_REVISION)
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    def reserve(self, booking: Booking, buffer: dt.timedelta, now: dt.datetime) -> Booking | None:
        """Insert `booking` as pending unless an active booking (widened by `buffer`) overlaps
        it: None then. A booking with the same uid already there is returned as it is (a
        retried call books once)."""
        with self.engine.begin() as conn:
            if not self.sqlite:
                key = zlib.crc32(booking.calendar.encode("utf-8"))
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            same = conn.execute(
                select(bookings_table).where(bookings_table.c.uid == booking.uid)
            ).first()
            if same is not None and same.status in ACTIVE:
                return _booking(same)
            t = bookings_table.c
            clash = conn.execute(
                select(t.uid).where(
                    t.calendar == booking.calendar,
                    t.status.in_(ACTIVE),
                    t.starts_at < _naive(booking.end + buffer),
                    t.ends_at > _naive(booking.start - buffer),
                    t.uid != booking.uid,
                )
            ).first()
            if clash is not None:
                return None
            row = _row(replace(booking, status=PENDING))
            if same is None:
                stamp = _naive(now)
                conn.execute(
                    bookings_table.insert().values(**row, created_at=stamp, updated_at=stamp)
                )
            else:  # a failed or cancelled try under the same uid: reuse it
                conn.execute(
                    update(bookings_table)
                    .where(t.uid == booking.uid)
                    .values(**row, updated_at=_naive(now))
                )
            return replace(booking, status=PENDING)

    def set_status(
        self, uid: str, status: str, now: dt.datetime, event_url: str | None = None
    ) -> None:
        values: dict[str, Any] = {"status": status, "updated_at": _naive(now)}
        if event_url is not None:
            values["event_url"] = event_url
        with self.engine.begin() as conn:
            conn.execute(update(bookings_table).where(bookings_table.c.uid == uid).values(**values))

    def get(self, uid: str) -> Booking | None:
        with self.engine.begin() as conn:
            row = conn.execute(select(bookings_table).where(bookings_table.c.uid == uid)).first()
        return _booking(row) if row is not None else None

    def created_at(self, uid: str) -> dt.datetime | None:
        with self.engine.begin() as conn:
            value = conn.execute(
                select(bookings_table.c.created_at).where(bookings_table.c.uid == uid)
            ).scalar_one_or_none()
        return _aware(value) if value is not None else None

    def active_between(self, calendar: str, start: dt.datetime, end: dt.datetime) -> list[Booking]:
        """Pending and confirmed bookings of `calendar` overlapping [start, end)."""
        t = bookings_table.c
        return self._select(
            t.calendar == calendar,
            t.status.in_(ACTIVE),
            t.starts_at < _naive(end),
            t.ends_at > _naive(start),
        )

    def pending(self) -> list[Booking]:
        return self._select(bookings_table.c.status == PENDING)

    def upcoming(
        self,
        now: dt.datetime,
        *,
        phone: str | None = None,
        call_id: str | None = None,
        limit: int = 50,
    ) -> list[Booking]:
        """Confirmed bookings from `now` on, soonest first; of `phone` or `call_id` if given
        (either matches)."""
        t = bookings_table.c
        conditions: list[Any] = [t.status == CONFIRMED, t.starts_at >= _naive(now)]
        owners = []
        if phone:
            owners.append(t.phone == phone)
        if call_id:
            owners.append(t.call_id == call_id)
        if owners:
            conditions.append(or_(*owners))
        return self._select(*conditions, limit=limit)

    def count(self) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(select(func.count()).select_from(bookings_table)).scalar_one())

    def _select(self, *conditions: Any, limit: int | None = None) -> list[Booking]:
        query = select(bookings_table).where(*conditions).order_by(bookings_table.c.starts_at)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.begin() as conn:
            return [_booking(row) for row in conn.execute(query)]


def alembic_config(
    connection: Connection | None = None, *, schema: str | None = None, url: str | None = None
) -> Config:
    """Alembic's config for the bookings' migrations: on `connection`, or a new one to `url`."""
    return migrations_config(MIGRATIONS_DIR, connection, schema=schema, url=url)


SQLITE_LOCK_WAIT_S = 30.0  # as the connections' own busy timeout


def _engine(url: str, schema: str | None) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_LOCK_WAIT_S}
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin_immediate)
    else:
        engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    if schema:
        engine = engine.execution_options(schema_translate_map={None: schema})
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy's documented recipe: pysqlite's own transaction handling off, so that our
    # BEGIN IMMEDIATE (below) is what starts every transaction.
    dbapi_connection.isolation_level = None
    _wal_mode(dbapi_connection)


def _wal_mode(dbapi_connection: Any) -> None:
    """WAL, once per file (it persists). Switching needs the file to itself and SQLite answers
    "locked" at once, without its busy timeout, while another connection is inside a
    transaction (replicas starting together): so it is read first and retried a while."""
    deadline = time.monotonic() + SQLITE_LOCK_WAIT_S
    while True:
        try:
            (mode,) = dbapi_connection.execute("PRAGMA journal_mode").fetchone()
            if mode.lower() != "wal":
                dbapi_connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock before the overlap check


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC)


def _row(booking: Booking) -> dict[str, Any]:
    return {
        "uid": booking.uid,
        "calendar": booking.calendar,
        "starts_at": _naive(booking.start),
        "ends_at": _naive(booking.end),
        "service": booking.service,
        "name": booking.name,
        "phone": booking.phone,
        "comment": booking.comment,
        "call_id": booking.call_id,
        "status": booking.status,
        "event_url": booking.event_url,
    }


def _booking(row: Any) -> Booking:
    return Booking(
        uid=row.uid,
        calendar=row.calendar,
        start=_aware(row.starts_at),
        end=_aware(row.ends_at),
        service=row.service,
        name=row.name,
        phone=row.phone,
        comment=row.comment,
        call_id=row.call_id,
        status=row.status,
        event_url=row.event_url,
    )
