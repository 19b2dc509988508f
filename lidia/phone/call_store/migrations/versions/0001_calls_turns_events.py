"""Calls, turns and events: the schema as version 1 of the store created it.

Revision ID: 0001
Revises:
Create Date: 2026-03-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    version = op.create_table(
        "schema_version", sa.Column("version", sa.Integer(), primary_key=True)
    )
    op.create_table(
        "calls",
        sa.Column("call_sid", sa.String(64), primary_key=True),
        sa.Column("from_number", sa.String(64)),
        sa.Column("to_number", sa.String(64)),
        sa.Column("mode", sa.String(16)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("duration_s", sa.Float()),
        sa.Column("outcome", sa.String(64)),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("dtmf", sa.String(256), nullable=False),
        sa.Column("message_audio_path", sa.Text()),
        sa.Column("message_recording_url", sa.Text()),
        sa.Column("message_transcript", sa.Text()),
    )
    op.create_table(
        "turns",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("turn_index", sa.Integer(), nullable=False),
        sa.Column("caller_audio_path", sa.Text()),
        sa.Column("transcript", sa.Text()),
        sa.Column("reply", sa.Text()),
        sa.Column("reply_audio_path", sa.Text()),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("latencies", sa.JSON(), nullable=False),
        sa.Column("barge_in", sa.Boolean(), nullable=False),
        sa.Column("heard_ms", sa.Integer()),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["call_sid"], ["calls.call_sid"], ondelete="CASCADE"),
        sa.UniqueConstraint("call_sid", "turn_index", name="uq_turns_call_index"),
    )
    op.create_index("ix_turns_call_sid", "turns", ["call_sid"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["call_sid"], ["calls.call_sid"], ondelete="CASCADE"),
    )
    op.create_index("ix_events_call_sid", "events", ["call_sid"])
    op.bulk_insert(version, [{"version": 1}])


def downgrade() -> None:
    for table in ("events", "turns", "calls", "schema_version"):
        op.drop_table(table)
