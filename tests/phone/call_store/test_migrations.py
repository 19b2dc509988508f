"""The call store's Alembic migrations, on SQLite and on the real PostgreSQL at 127.0.0.1:5432
(each test in a throw-away schema): fresh databases, databases the pre-Alembic store made at
its schema versions 1 and 2 (their DDL written out below), restarts, and model/migration drift.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import sqlalchemy
from alembic.script import ScriptDirectory

from lidia.phone.call_store import (
    LEGACY_SCHEMA_VERSION,
    CallQuery,
    SqlCallStore,
    TurnRecord,
    current_revision,
    database_url_for,
    downgrade_schema,
    schema_diffs,
    schema_version_table,
    upgrade_schema,
)
from lidia.phone.call_store.migrate import alembic_config
from tests.support.admin_seed import PG_DSN, PG_URL
from tests.support.service_guard import service_missing

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()

# What the pre-Alembic store's `metadata.create_all` ran at SCHEMA_VERSION 1.
V1_DDL = {
    "sqlite": [
        "CREATE TABLE calls (call_sid VARCHAR(64) NOT NULL, from_number VARCHAR(64),"
        " to_number VARCHAR(64), mode VARCHAR(16), status VARCHAR(32) NOT NULL,"
        " started_at DATETIME NOT NULL, ended_at DATETIME, duration_s FLOAT,"
        " outcome VARCHAR(64), errors JSON NOT NULL, dtmf VARCHAR(256) NOT NULL,"
        " message_audio_path TEXT, message_recording_url TEXT, message_transcript TEXT,"
        " PRIMARY KEY (call_sid))",
        "CREATE TABLE schema_version (version INTEGER NOT NULL, PRIMARY KEY (version))",
        "CREATE TABLE turns (id INTEGER NOT NULL, call_sid VARCHAR(64) NOT NULL,"
        " turn_index INTEGER NOT NULL, caller_audio_path TEXT, transcript TEXT, reply TEXT,"
        " reply_audio_path TEXT, fallback BOOLEAN NOT NULL, latencies JSON NOT NULL,"
        " barge_in BOOLEAN NOT NULL, heard_ms INTEGER, error TEXT,"
        " created_at DATETIME NOT NULL, PRIMARY KEY (id),"
        " CONSTRAINT uq_turns_call_index UNIQUE (call_sid, turn_index),"
        " FOREIGN KEY(call_sid) REFERENCES calls (call_sid) ON DELETE CASCADE)",
        "CREATE INDEX ix_turns_call_sid ON turns (call_sid)",
        "CREATE TABLE events (id INTEGER NOT NULL, call_sid VARCHAR(64) NOT NULL,"
        " kind VARCHAR(32) NOT NULL, data JSON NOT NULL, created_at DATETIME NOT NULL,"
        " PRIMARY KEY (id),"
        " FOREIGN KEY(call_sid) REFERENCES calls (call_sid) ON DELETE CASCADE)",
        "CREATE INDEX ix_events_call_sid ON events (call_sid)",
    ],
    "postgresql": [
        "CREATE TABLE calls (call_sid VARCHAR(64) NOT NULL, from_number VARCHAR(64),"
        " to_number VARCHAR(64), mode VARCHAR(16), status VARCHAR(32) NOT NULL,"
        " started_at TIMESTAMP WITH TIME ZONE NOT NULL, ended_at TIMESTAMP WITH TIME ZONE,"
        " duration_s FLOAT, outcome VARCHAR(64), errors JSON NOT NULL,"
        " dtmf VARCHAR(256) NOT NULL, message_audio_path TEXT, message_recording_url TEXT,"
        " message_transcript TEXT, PRIMARY KEY (call_sid))",
        "CREATE TABLE schema_version (version SERIAL NOT NULL, PRIMARY KEY (version))",
        "CREATE TABLE turns (id SERIAL NOT NULL, call_sid VARCHAR(64) NOT NULL,"
        " turn_index INTEGER NOT NULL, caller_audio_path TEXT, transcript TEXT, reply TEXT,"
        " reply_audio_path TEXT, fallback BOOLEAN NOT NULL, latencies JSON NOT NULL,"
        " barge_in BOOLEAN NOT NULL, heard_ms INTEGER, error TEXT,"
        " created_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (id),"
        " CONSTRAINT uq_turns_call_index UNIQUE (call_sid, turn_index),"
        " FOREIGN KEY(call_sid) REFERENCES calls (call_sid) ON DELETE CASCADE)",
        "CREATE INDEX ix_turns_call_sid ON turns (call_sid)",
        "CREATE TABLE events (id SERIAL NOT NULL, call_sid VARCHAR(64) NOT NULL,"
        " kind VARCHAR(32) NOT NULL, data JSON NOT NULL,"
        " created_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (id),"
        " FOREIGN KEY(call_sid) REFERENCES calls (call_sid) ON DELETE CASCADE)",
        "CREATE INDEX ix_events_call_sid ON events (call_sid)",
    ],
}
# Version 2's in-place migration (`ALTER TABLE ... ADD COLUMN`), as the old `_migrate` ran it.
V2_ALTERS = {
    kind: [
        "ALTER TABLE calls ADD COLUMN message_name VARCHAR(256)",
        "ALTER TABLE calls ADD COLUMN message_phone VARCHAR(64)",
        "ALTER TABLE calls ADD COLUMN message_reason TEXT",
        "ALTER TABLE calls ADD COLUMN message_summary TEXT",
        f"ALTER TABLE calls ADD COLUMN message_left BOOLEAN NOT NULL DEFAULT {false}",
    ]
    for kind, false in (("sqlite", "0"), ("postgresql", "false"))
}


def old_rows(false: str) -> list[str]:
    """A call the old store recorded: a Russian exchange, a DTMF digit (`false`: the
    dialect's literal)."""
    return [
        "INSERT INTO calls (call_sid, from_number, to_number, mode, status, started_at,"
        " ended_at, duration_s, outcome, errors, dtmf) VALUES ('CAold', '+79161234567',"
        " '+74950000000', 'stream', 'completed', '2026-03-01 10:00:00.000000',"
        " '2026-03-01 10:01:00.000000', 60.0, 'conversation', '[\"orchestrator timed out\"]',"
        " '5')",
        "INSERT INTO turns (call_sid, turn_index, transcript, reply, fallback, latencies,"
        " barge_in, created_at) VALUES ('CAold', 1, 'Здравствуйте, я хочу записаться на приём',"
        f" 'Конечно! На какой день?', {false}, '{{\"stt_s\": 0.2}}', {false},"
        " '2026-03-01 10:00:10.000000')",
        "INSERT INTO events (call_sid, kind, data, created_at) VALUES ('CAold', 'dtmf',"
        " '{\"digit\": \"5\"}', '2026-03-01 10:00:20.000000')",
    ]


@dataclass
class Database:
    """An empty database: a SQLite file, or a fresh schema of the real PostgreSQL."""

    kind: str
    url: str
    schema: str | None

    def run_raw(self, statements: list[str]) -> None:
        """Run SQL through the bare driver, as the old store's tables were made."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.url.removeprefix("sqlite:///")) as conn:
                for statement in statements:
                    conn.execute(statement)
            return
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{self.schema}"')
            for statement in statements:
                conn.execute(statement)

    @property
    def false(self) -> str:
        return "0" if self.kind == "sqlite" else "false"

    def store(self) -> SqlCallStore:
        return SqlCallStore(self.url, schema=self.schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield Database("sqlite", database_url_for(None, tmp_path / "calls_log"), None)
        return
    schema = f"migrate_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as exc:
        service_missing(f"PostgreSQL not reachable at 127.0.0.1:5432/test: {exc}")
    try:
        yield Database("postgresql", PG_URL, schema)
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def legacy_version(store: SqlCallStore) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sqlalchemy.select(schema_version_table.c.version)).scalar_one()


def executed_ddl(store: SqlCallStore) -> list[str]:
    """Collects every DDL statement the store's engine runs from now on."""
    statements: list[str] = []

    @sqlalchemy.event.listens_for(store.engine, "before_cursor_execute")
    def collect(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith(("CREATE", "ALTER", "DROP")):
            statements.append(statement)

    return statements


async def test_a_fresh_database_migrates_to_head_and_matches_the_models(
    database: Database,
) -> None:
    store = database.store()
    await store.start()
    assert current_revision(store.engine, database.schema) == HEAD
    assert schema_diffs(store.engine, database.schema) == []
    assert legacy_version(store) == LEGACY_SCHEMA_VERSION
    assert await store.create_call("CA1", from_number="+79161234567", to_number=None)
    await store.update_call("CA1", message_name="Анна Смирнова", message_left=True)
    call = await store.get_call("CA1")
    assert call is not None and call.message_name == "Анна Смирнова" and call.message_left
    await store.close()


@pytest.mark.parametrize("old_version", [1, 2])
async def test_a_database_of_the_pre_alembic_store_is_upgraded_with_its_rows(
    database: Database, old_version: int
) -> None:
    ddl = V1_DDL[database.kind] + (V2_ALTERS[database.kind] if old_version == 2 else [])
    database.run_raw([*ddl, f"INSERT INTO schema_version (version) VALUES ({old_version})"])
    database.run_raw(old_rows(database.false))

    store = database.store()
    await store.start()
    assert current_revision(store.engine, database.schema) == HEAD
    assert schema_diffs(store.engine, database.schema) == []
    assert legacy_version(store) == LEGACY_SCHEMA_VERSION

    old = await store.get_call("CAold")
    assert old is not None
    assert (old.from_number, old.status, old.outcome, old.duration_s) == (
        "+79161234567",
        "completed",
        "conversation",
        60.0,
    )
    assert old.errors == ["orchestrator timed out"] and old.dtmf == "5"
    assert old.message_left is False and old.message_name is None
    assert old.started_at.tzinfo is not None
    [turn] = await store.turns("CAold")
    assert turn.transcript == "Здравствуйте, я хочу записаться на приём"
    assert turn.latencies == {"stt_s": 0.2} and turn.fallback is False
    assert [(e.kind, e.data) for e in await store.events("CAold")] == [("dtmf", {"digit": "5"})]

    # The upgraded database takes what the new columns hold, and finds it again.
    await store.update_call("CAold", message_name="Анна", message_left=True)
    await store.add_turn("CAold", TurnRecord(2, transcript="Перезвоните мне завтра"))
    rows, total = await store.search_calls(CallQuery(text="перезвоните"))
    assert total == 1 and rows[0].call.message_name == "Анна" and rows[0].turn_count == 2
    await store.close()


async def test_starting_twice_changes_nothing(database: Database) -> None:
    store = database.store()
    await store.start()
    await store.create_call("CA2", from_number="+79995550001", to_number=None)
    ddl = executed_ddl(store)
    await store.start()  # a restart
    assert ddl == []
    assert current_revision(store.engine, database.schema) == HEAD
    assert legacy_version(store) == LEGACY_SCHEMA_VERSION
    assert [c.call_sid for c in await store.recent_calls()] == ["CA2"]
    await store.close()


async def test_a_model_column_without_its_revision_is_reported(database: Database) -> None:
    # A database stopped at revision 0001 lacks what `schema.py` declared after it: exactly
    # what the drift check sees when a column is added to the models without a migration.
    store = database.store()
    await asyncio.to_thread(upgrade_schema, store.engine, database.schema, "0001")
    diffs = schema_diffs(store.engine, database.schema)
    added = sorted(diff[3].name for diff in diffs if diff[0] == "add_column")
    assert added == [
        "caller_offset_s",  # revision 0004 (turns)
        "carrier",  # revision 0006 (calls)
        "message_left",
        "message_name",
        "message_phone",
        "message_reason",
        "message_summary",
        "reply_offset_s",  # revision 0004 (turns)
        "stream_claimed_at",  # revision 0005 (calls)
    ]
    tables = sorted(diff[1].name for diff in diffs if diff[0] == "add_table")
    assert tables == ["deliveries"]  # revision 0003
    indexes = [diff[1].table.name for diff in diffs if diff[0] == "add_index"]
    assert set(indexes) <= {"deliveries"}
    assert len(diffs) == len(added) + len(tables) + len(indexes)
    await store.close()


async def test_the_revisions_go_down_and_up_again(database: Database) -> None:
    store = database.store()
    await store.start()
    await asyncio.to_thread(downgrade_schema, store.engine, database.schema, "0001")
    assert current_revision(store.engine, database.schema) == "0001"
    assert legacy_version(store) == 1
    await store.start()
    assert current_revision(store.engine, database.schema) == HEAD
    assert schema_diffs(store.engine, database.schema) == []
    await store.close()
