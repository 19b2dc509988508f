"""The call's one media stream, claimed in the database: `calls.stream_claimed_at`.

A `start` is accepted by `UPDATE calls SET stream_claimed_at = :now WHERE call_sid = :sid AND
stream_claimed_at IS NULL AND status IN ('ringing', 'in-progress')`: one statement, so two
phone replicas on one PostgreSQL cannot both win (`lidia.phone.stream_tokens`). Calls that
already had a stream (a `stream_claimed` or `stream_start` event) are marked as claimed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-15
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("stream_claimed_at", sa.DateTime(timezone=True)))
    calls = sa.table(
        "calls", sa.column("call_sid"), sa.column("started_at"), sa.column("stream_claimed_at")
    )
    events = sa.table("events", sa.column("call_sid"), sa.column("kind"))
    streamed = sa.select(events.c.call_sid).where(
        events.c.kind.in_(("stream_claimed", "stream_start"))
    )
    op.execute(
        sa.update(calls)
        .where(calls.c.call_sid.in_(streamed))
        .values(stream_claimed_at=calls.c.started_at)
    )


def downgrade() -> None:
    op.drop_column("calls", "stream_claimed_at")
