"""Alembic's environment for the bookings table (loaded by Alembic, see `BookingStore.create`).

`config.attributes` carries the open connection (and its PostgreSQL schema) when the store
migrates itself; without one, it connects to `sqlalchemy.url` (e.g. to autogenerate). The
version table is the bookings' own, and autogenerate looks at the bookings' tables only: the
call store (its own `alembic_version`) may share the database."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine

from lidia.booking.store import VERSION_TABLE, metadata

config = context.config


def ours(name: str | None, type_: str, _parent: Any) -> bool:
    return type_ != "table" or name in metadata.tables


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        version_table_schema=config.attributes.get("schema"),
        include_name=ours,
        compare_type=True,
        render_as_batch=True,  # SQLite cannot ALTER most things: batch-mode revisions
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (connection := config.attributes.get("connection")) is not None:
    run_on(connection)
else:
    with create_engine(config.get_main_option("sqlalchemy.url", "")).begin() as own:
        run_on(own)
