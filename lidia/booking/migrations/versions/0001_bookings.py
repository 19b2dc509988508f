"""Bookings: the table as `metadata.create_all` made it before Alembic.

Revision ID: 0001
Revises:
Create Date: 2026-12-07
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
    op.create_table(
        "bookings",
        sa.Column("uid", sa.String(64), primary_key=True),
        sa.Column("calendar", sa.String(300), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(40)),
        sa.Column("comment", sa.String(1000)),
        sa.Column("call_id", sa.String(128)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("event_url", sa.String(1000)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_bookings_calendar_time", "bookings", ["calendar", "starts_at"])
    op.create_index("ix_bookings_phone", "bookings", ["phone"])


def downgrade() -> None:
    op.drop_index("ix_bookings_phone", table_name="bookings")
    op.drop_index("ix_bookings_calendar_time", table_name="bookings")
    op.drop_table("bookings")
