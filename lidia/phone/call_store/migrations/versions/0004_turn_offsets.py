"""Where each turn sits in the call: the caller's and the reply's offsets (seconds).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OFFSET_COLUMNS = ("caller_offset_s", "reply_offset_s")


def upgrade() -> None:
    # Plain ADD COLUMN of nullable columns: no table rewrite on either database.
    for name in OFFSET_COLUMNS:
        op.add_column("turns", sa.Column(name, sa.Float()))


def downgrade() -> None:
    for name in OFFSET_COLUMNS:
        op.drop_column("turns", name)  # SQLite 3.35+ drops columns in place
