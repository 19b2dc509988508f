"""The SQLAlchemy engine for a database URL: SQLite tuned for many small writes, or PostgreSQL,
optionally inside one PostgreSQL schema (tests use a throw-away one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event


def database_url_for(database_url: str | None, calls_log_dir: Path) -> str:
    """`DATABASE_URL`, or the default SQLite file `calls_log/calls.db`."""
    if database_url:
        return database_url
    calls_log_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(calls_log_dir / 'calls.db').resolve()}"


def make_engine(url: str, schema: str | None) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        # A database that hangs instead of refusing must not hold the store's writes for
        # minutes: the journal keeps them and the replayer retries.
        engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    if schema:
        engine = engine.execution_options(schema_translate_map={None: schema})
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: readers never block the writer; a crash loses no committed row.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # SQLite's lower() (behind ILIKE) folds ASCII only: fold Cyrillic too, like PostgreSQL.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value
