"""The calls schema, written once: each table is a mapped dataclass, and that dataclass is the
record the store hands out (`CallRecord`, `TurnRecord`, `EventRecord`).

SQLAlchemy's ORM declarative dataclasses were chosen over Core tables plus hand-written
dataclasses because one class body gives both the `Table` (DDL, Alembic autogenerate) and a
typed record, so a column is added in one place (plus its Alembic revision, which
`migrate.schema_diffs` insists on). The store still talks Core SQL to `__table__`; no ORM
sessions. Columns a record does not carry (surrogate ids, the owning call of a turn) are
declared in `__table_args__`, so they are table columns but not dataclass fields.

A column `update_call`/`update_turn` may change says so with `info={"updatable": True}`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedAsDataclass, mapped_column

# The pre-Alembic `schema_version` row; the migrations keep it at 2 so a database is still
# recognisable by older releases. Alembic's `alembic_version` is the real version now.
LEGACY_SCHEMA_VERSION = 2
UPDATABLE = {"updatable": True}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime; SQLite hands back naive ones, and all we store is UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None or value.tzinfo:
            return value
        return value.replace(tzinfo=dt.UTC)


class Base(MappedAsDataclass, DeclarativeBase):
    pass


metadata = Base.metadata


def _owning_call() -> Column[str]:
    return Column(
        "call_sid", String(64), ForeignKey("calls.call_sid", ondelete="CASCADE"), nullable=False
    )


class CallRecord(Base):
    __tablename__ = "calls"

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    from_number: Mapped[str | None] = mapped_column(String(64), info=UPDATABLE)
    to_number: Mapped[str | None] = mapped_column(String(64), info=UPDATABLE)
    mode: Mapped[str | None] = mapped_column(String(16), info=UPDATABLE)
    status: Mapped[str] = mapped_column(String(32), info=UPDATABLE)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None, info=UPDATABLE)
    duration_s: Mapped[float | None] = mapped_column(Float, default=None, info=UPDATABLE)
    outcome: Mapped[str | None] = mapped_column(String(64), default=None, info=UPDATABLE)
    errors: Mapped[list[str]] = mapped_column(JSON, default_factory=list)
    dtmf: Mapped[str] = mapped_column(String(256), default="")
    message_audio_path: Mapped[str | None] = mapped_column(Text, default=None, info=UPDATABLE)
    message_recording_url: Mapped[str | None] = mapped_column(Text, default=None, info=UPDATABLE)
    message_transcript: Mapped[str | None] = mapped_column(Text, default=None, info=UPDATABLE)
    # Revision 0002: the caller's message, extracted from the transcript at call end.
    message_name: Mapped[str | None] = mapped_column(String(256), default=None, info=UPDATABLE)
    message_phone: Mapped[str | None] = mapped_column(String(64), default=None, info=UPDATABLE)
    message_reason: Mapped[str | None] = mapped_column(Text, default=None, info=UPDATABLE)
    message_summary: Mapped[str | None] = mapped_column(Text, default=None, info=UPDATABLE)
    message_left: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), info=UPDATABLE
    )
    # Revision 0005: when the call's one media stream was accepted (`stream_tokens`). Set only
    # by `claim_stream`'s conditional UPDATE (never by `update_call`), so that two phone
    # replicas sharing this database cannot both accept a `start` for one call.
    stream_claimed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    # Revision 0006: what carried the call ("twilio", "asterisk" for chan_websocket,
    # "audiosocket"); older rows are Twilio's.
    carrier: Mapped[str | None] = mapped_column(String(16), default=None, info=UPDATABLE)


class TurnRecord(Base):
    """One exchange. `latencies` holds seconds per stage; `heard_ms` how much reply played."""

    __tablename__ = "turns"
    __table_args__ = (
        Column("id", Integer, primary_key=True, autoincrement=True),
        _owning_call(),
        Index("ix_turns_call_sid", "call_sid"),
        UniqueConstraint("call_sid", "turn_index", name="uq_turns_call_index"),
    )

    turn_index: Mapped[int] = mapped_column(Integer)
    caller_audio_path: Mapped[str | None] = mapped_column(Text, default=None)
    transcript: Mapped[str | None] = mapped_column(Text, default=None)
    reply: Mapped[str | None] = mapped_column(Text, default=None, info=UPDATABLE)
    reply_audio_path: Mapped[str | None] = mapped_column(Text, default=None, info=UPDATABLE)
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    latencies: Mapped[dict[str, Any]] = mapped_column(JSON, default_factory=dict, info=UPDATABLE)
    barge_in: Mapped[bool] = mapped_column(Boolean, default=False, info=UPDATABLE)
    heard_ms: Mapped[int | None] = mapped_column(Integer, default=None, info=UPDATABLE)
    error: Mapped[str | None] = mapped_column(Text, default=None, info=UPDATABLE)
    # None until stored: the store stamps the time of `add_turn`.
    created_at: Mapped[dt.datetime | None] = mapped_column(
        UtcDateTime, nullable=False, default=None
    )
    # Revision 0004: where in the call (seconds from its start) the caller began this turn
    # and Лидия's reply began to be heard; the two-sided recording is on the same clock.
    caller_offset_s: Mapped[float | None] = mapped_column(Float, default=None, info=UPDATABLE)
    reply_offset_s: Mapped[float | None] = mapped_column(Float, default=None, info=UPDATABLE)


class EventRecord(Base):
    __tablename__ = "events"
    __table_args__ = (
        Column("id", Integer, primary_key=True, autoincrement=True),
        _owning_call(),
        Index("ix_events_call_sid", "call_sid"),
    )

    kind: Mapped[str] = mapped_column(String(32))  # dtmf | error | barge_in | message | ...
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class DeliveryRecord(Base):
    """One notice of one call on one owner channel (the notification outbox, revision 0003).

    `state`: pending (to send at `next_attempt_at`) | sent | failed (gave up; `last_error`).
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("call_sid", "channel", name="uq_deliveries_call_channel"),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(
        String(64), ForeignKey("calls.call_sid", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)


schema_version_table = Table(
    "schema_version", metadata, Column("version", Integer, primary_key=True)
)
calls_table: Table = CallRecord.__table__  # type: ignore[assignment]
turns_table: Table = TurnRecord.__table__  # type: ignore[assignment]
events_table: Table = EventRecord.__table__  # type: ignore[assignment]
deliveries_table: Table = DeliveryRecord.__table__  # type: ignore[assignment]


def updatable_columns(table: Table) -> frozenset[str]:
    return frozenset(column.name for column in table.columns if column.info.get("updatable"))


# Fields `update_call` / `update_turn` may change (the rest are set once, at creation).
CALL_UPDATABLE = updatable_columns(calls_table)
TURN_UPDATABLE = updatable_columns(turns_table)
