"""The caller's message extracted at call end (the old store's schema version 2).

Revision ID: 0002
Revises: 0001
Create Date: 2026-03-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE_COLUMNS = (
    "message_name",
    "message_phone",
    "message_reason",
    "message_summary",
    "message_left",
)
LEGACY_VERSION = sa.table("schema_version", sa.column("version", sa.Integer()))


def upgrade() -> None:
    # Plain ADD COLUMN (SQLite has it): a batch copy of `calls` would cost a table rewrite.
    op.add_column("calls", sa.Column("message_name", sa.String(256)))
    op.add_column("calls", sa.Column("message_phone", sa.String(64)))
    op.add_column("calls", sa.Column("message_reason", sa.Text()))
    op.add_column("calls", sa.Column("message_summary", sa.Text()))
    op.add_column(
        "calls",
        sa.Column("message_left", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(LEGACY_VERSION.update().values(version=2))


def downgrade() -> None:
    for name in MESSAGE_COLUMNS:
        op.drop_column("calls", name)  # SQLite 3.35+ drops columns in place
    op.execute(LEGACY_VERSION.update().values(version=1))
