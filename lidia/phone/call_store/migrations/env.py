"""Alembic's environment for the call store (loaded by Alembic, see `migrate.py`).

`config.attributes` carries the open connection (and its PostgreSQL schema) when the store
migrates itself; without one, it connects to `sqlalchemy.url` (e.g. to autogenerate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from lidia.phone.call_store.schema import metadata

config = context.config


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=config.attributes.get("schema"),
        compare_type=True,
        render_as_batch=True,  # SQLite cannot ALTER most things: batch-mode revisions
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
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
