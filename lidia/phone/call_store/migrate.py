"""Schema migrations: Alembic, configured in code (no alembic.ini), run by `SqlCallStore.start`.

The revisions live in `migrations/versions/`. A database made before Alembic (tables and a
`schema_version` row, no `alembic_version`) is first stamped at the revision equal to its
version, then upgraded like any other. On PostgreSQL the whole upgrade is one transaction
under an advisory lock, so replicas starting together migrate once; `search_path` points at
the store's schema so that Alembic's unqualified DDL lands there. On SQLite foreign keys
are off while migrating (see `_sqlite_foreign_keys`).

A new revision: change `schema.py`, then
`alembic.command.revision(alembic_config(url=...), message=..., autogenerate=True)`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, func, inspect, select, text

from lidia.core.migrations import alembic_config as migrations_config
from lidia.phone.call_store.schema import metadata, schema_version_table

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
# The revision each pre-Alembic `schema_version` equals.
LEGACY_REVISIONS = {1: "0001", 2: "0002"}


def alembic_config(
    connection: Connection | None = None, *, schema: str | None = None, url: str | None = None
) -> Config:
    """Alembic's config for our migrations: on `connection`, or a new one to `url`."""
    return migrations_config(MIGRATIONS_DIR, connection, schema=schema, url=url)


def upgrade_schema(engine: Engine, schema: str | None, revision: str = "head") -> None:
    """Bring the database to `revision`, the newest by default (a no-op when it is there).
    A pre-Alembic database is first stamped at the revision it equals."""

    def upgrade(conn: Connection, config: Config) -> None:
        legacy = legacy_revision(conn, schema)
        if legacy is not None:
            command.stamp(config, legacy)
        command.upgrade(config, revision)

    _migrate(engine, schema, upgrade)


def downgrade_schema(engine: Engine, schema: str | None, revision: str) -> None:
    """Take the database back to `revision` (for rolling back a release by hand)."""
    _migrate(engine, schema, lambda _conn, config: command.downgrade(config, revision))


def _migrate(
    engine: Engine, schema: str | None, work: Callable[[Connection, Config], None]
) -> None:
    """`work` in one transaction, locked, inside `schema`, with SQLite foreign keys off."""
    with engine.connect() as conn:
        _sqlite_foreign_keys(conn, enabled=False)
        try:
            with conn.begin():
                _lock_migrations(conn, schema)
                _enter_schema(conn, schema)
                work(conn, alembic_config(conn, schema=schema))
        finally:
            _sqlite_foreign_keys(conn, enabled=True)


def current_revision(engine: Engine, schema: str | None) -> str | None:
    with engine.connect() as conn:
        _enter_schema(conn, schema)
        context = MigrationContext.configure(conn, opts={"version_table_schema": schema})
        return context.get_current_revision()


def legacy_revision(conn: Connection, schema: str | None) -> str | None:
    """The revision a pre-Alembic database equals; None when Alembic manages it or it's new."""
    inspector = inspect(conn)
    if inspector.has_table(VERSION_TABLE, schema=schema):
        return None
    if not inspector.has_table("calls", schema=schema):
        return None
    version = None
    if inspector.has_table(schema_version_table.name, schema=schema):
        version = conn.execute(select(func.max(schema_version_table.c.version))).scalar()
    if version not in LEGACY_REVISIONS:
        raise RuntimeError(f"call database has tables but an unknown schema version {version}")
    return LEGACY_REVISIONS[version]


def schema_diffs(engine: Engine, schema: str | None) -> list[Any]:
    """What differs between `schema.py` and the migrated database (Alembic autogenerate's
    comparison): empty when every model change has its revision."""
    with engine.connect() as conn:
        _enter_schema(conn, schema)
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": _not_version_table}
        )
        return compare_metadata(context, metadata)


def _not_version_table(name: str | None, type_: str, _parent: Any) -> bool:
    return not (type_ == "table" and name == VERSION_TABLE)


def _sqlite_foreign_keys(conn: Connection, *, enabled: bool) -> None:
    """Off while migrating: a batch revision rebuilds a table by DROP and rename, and the
    DROP of `calls` would cascade-delete every turn and event. (Outside a transaction only.)"""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")
        conn.commit()


def _lock_migrations(conn: Connection, schema: str | None) -> None:
    """One migrator at a time per PostgreSQL schema (released at commit)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"lidia.call_store:{schema or ''}"},
        )


def _enter_schema(conn: Connection, schema: str | None) -> None:
    """Unqualified names (Alembic's ALTERs, reflection) resolve in `schema`, this transaction."""
    if conn.dialect.name == "postgresql" and schema:
        quoted = conn.dialect.identifier_preparer.quote_schema(schema)
        conn.execute(text(f"SET LOCAL search_path TO {quoted}"))
