"""The durable journal in front of PostgreSQL: nothing lost while the database is down.

PostgreSQL is reached through a TCP proxy the test cuts (every connection dropped, new ones
refused) and restores; the journal is a real SQLite file; a second store straight to the
database checks what landed there.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from lidia.phone.call_store import SqlCallStore, TurnRecord
from lidia.phone.call_store.faults import CallStoreUnavailable
from lidia.phone.call_store.journaled import JournaledCallStore
from lidia.phone.call_store.replay import apply_entry
from tests.support.admin_seed import PG_DSN
from tests.support.service_guard import service_missing
from tests.support.tcp_proxy import TcpProxy, tcp_proxy

PG_HOST, PG_PORT = "127.0.0.1", 5432
CALL = "CA" + "1" * 32
MESSAGE = "Перезвоните мне, пожалуйста, после обеда."


@pytest.fixture
def pg_schema() -> Iterator[str]:
    schema = f"journal_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as exc:
        service_missing(f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT}: {exc}")
    yield schema
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    with tcp_proxy(PG_HOST, PG_PORT) as running:
        yield running


@pytest.fixture
async def direct(pg_schema: str) -> AsyncIterator[SqlCallStore]:
    """The same schema without the proxy: what really is in the database."""
    store = SqlCallStore(pg_url(PG_PORT), schema=pg_schema)
    yield store
    await store.close()


def pg_url(port: int) -> str:
    return f"postgresql+psycopg://postgres@{PG_HOST}:{port}/test"


def journaled(proxy: TcpProxy, schema: str, journal: Path) -> JournaledCallStore:
    inner = SqlCallStore(pg_url(proxy.port), schema=schema)
    return JournaledCallStore(inner, journal, retry_s=0.1)


async def drained(store: JournaledCallStore, within_s: float = 15.0) -> None:
    for _ in range(int(within_s / 0.05)):
        if not len(store.journal) and store.database_error is None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"journal not drained: {len(store.journal)} left, {store.problems()}")


async def test_a_call_written_while_postgres_is_down_reaches_it_once_back(
    proxy: TcpProxy, pg_schema: str, direct: SqlCallStore, tmp_path: Path
) -> None:
    store = journaled(proxy, pg_schema, tmp_path / "journal.db")
    await store.start()
    assert await store.create_call(CALL, from_number="+79161234567", to_number="+74950000000")
    proxy.cut()  # the database dies mid-call
    await store.add_event(CALL, "stream_start", {"streamSid": "MZ1"})
    await store.add_turn(CALL, TurnRecord(turn_index=1, transcript=MESSAGE, reply="Хорошо."))
    await store.update_turn(CALL, 1, heard_ms=900)
    await store.add_dtmf(CALL, "5")
    await store.add_error(CALL, "turn 2: orchestrator timed out")
    await store.update_call(CALL, message_transcript=MESSAGE)
    await store.finish_call(CALL, status="completed", outcome="message")
    written = [copy.deepcopy((e.op, e.args)) for e in store.journal.pending()]
    assert len(written) == 7 and "database" in store.problems()

    # The live call still reads its own record; the dashboard's reads say "unavailable".
    record = await store.get_call(CALL)
    assert record is not None and record.ended_at and record.outcome == "message"
    assert [t.transcript for t in await store.turns(CALL)] == [MESSAGE]
    with pytest.raises(CallStoreUnavailable):
        await store.events(CALL)

    proxy.restore()
    await drained(store)
    call = await direct.get_call(CALL)
    assert call is not None and call.status == "completed" and call.outcome == "message"
    assert call.ended_at == record.ended_at and call.message_transcript == MESSAGE
    assert call.dtmf == "5" and call.errors == ["turn 2: orchestrator timed out"]
    turns = await direct.turns(CALL)
    assert [(t.turn_index, t.transcript, t.heard_ms) for t in turns] == [(1, MESSAGE, 900)]
    events = [e.kind for e in await direct.events(CALL)]
    assert events == ["stream_start", "dtmf", "error"]

    # Replaying every entry twice more (a crash between the two commits) changes nothing.
    before = (call, turns, await direct.events(CALL))
    for _ in range(2):
        for op, args in written:
            await asyncio.to_thread(apply_entry, direct, op, copy.deepcopy(args))
    after = (await direct.get_call(CALL), await direct.turns(CALL), await direct.events(CALL))
    assert after == before
    await store.close()


async def test_start_with_postgres_down_then_the_journal_file_survives_a_restart(
    proxy: TcpProxy, pg_schema: str, direct: SqlCallStore, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.db"
    proxy.cut()
    store = journaled(proxy, pg_schema, journal)
    await store.start()  # does not fail: migrations wait in the background
    assert "database" in store.problems()
    assert await store.create_call(CALL, from_number="+79161234567", to_number=None)
    await store.add_turn(CALL, TurnRecord(turn_index=1, transcript=MESSAGE))
    await store.close()  # the process stops with the database still down

    proxy.restore()
    again = journaled(proxy, pg_schema, journal)
    await again.start()  # migrates, then replays what the last run left
    await drained(again)
    assert (await direct.get_call(CALL)) is not None
    assert [t.transcript for t in await direct.turns(CALL)] == [MESSAGE]
    await again.close()
