"""What carried each call: `calls.carrier` ("twilio", "asterisk", "audiosocket").

Every call recorded before this revision came through Twilio, and is marked so.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("carrier", sa.String(16)))
    calls = sa.table("calls", sa.column("carrier"))
    op.execute(sa.update(calls).values(carrier="twilio"))


def downgrade() -> None:
    op.drop_column("calls", "carrier")
