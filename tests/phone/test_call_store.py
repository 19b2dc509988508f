"""The call store on SQLite (a file under tmp) and on the real PostgreSQL at 127.0.0.1:5432."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy

from lidia.phone.call_store import (
    SCHEMA_VERSION,
    SqlCallStore,
    TurnRecord,
    database_url_for,
    schema_version_table,
)
from tests.support.admin_seed import drop_store, make_store


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlCallStore]:
    store, schema = await make_store(request.param, tmp_path, schema_prefix="calls_test")
    try:
        yield store
    finally:
        await drop_store(store, schema)


async def test_a_whole_call_is_recorded(store: SqlCallStore) -> None:
    assert await store.create_call("CA1", from_number="+100", to_number="+200", mode="stream")
    assert not await store.create_call("CA1", from_number="+100", to_number="+200")  # retry
    await store.add_turn(
        "CA1",
        TurnRecord(
            turn_index=1,
            caller_audio_path="/x/turn001_caller.wav",
            transcript="Алло",
            reply="Здравствуйте!",
            reply_audio_path="/x/turn001_reply.wav",
            latencies={"stt_s": 0.2, "first_frame_s": 0.9},
        ),
    )
    await store.update_turn("CA1", 1, barge_in=True, heard_ms=640)
    await store.add_dtmf("CA1", "1")
    await store.add_dtmf("CA1", "#")
    await store.add_error("CA1", "orchestrator timed out")
    await store.update_call("CA1", message_audio_path="/x/message.wav")
    await store.finish_call("CA1", status="completed", outcome="message", duration_s=42.0)

    call = await store.get_call("CA1")
    assert call is not None
    assert (call.from_number, call.to_number, call.status) == ("+100", "+200", "completed")
    assert call.outcome == "message" and call.duration_s == 42.0 and call.ended_at
    assert call.dtmf == "1#" and call.errors == ["orchestrator timed out"]
    assert call.message_audio_path == "/x/message.wav"
    [turn] = await store.turns("CA1")
    assert turn.transcript == "Алло" and turn.reply == "Здравствуйте!"
    assert turn.barge_in and turn.heard_ms == 640 and turn.latencies["stt_s"] == 0.2
    kinds = [e.kind for e in await store.events("CA1")]
    assert kinds == ["dtmf", "dtmf", "error"]
    assert [c.call_sid for c in await store.recent_calls()] == ["CA1"]


async def test_status_callback_keeps_an_earlier_outcome(store: SqlCallStore) -> None:
    await store.create_call("CA2", from_number=None, to_number=None)
    await store.update_call("CA2", outcome="conversation")
    await store.finish_call("CA2", status="completed")
    call = await store.get_call("CA2")
    assert call is not None and call.outcome == "conversation" and call.duration_s is not None


async def test_unknown_fields_are_refused(store: SqlCallStore) -> None:
    await store.create_call("CA3", from_number=None, to_number=None)
    with pytest.raises(ValueError, match="started_at"):
        await store.update_call("CA3", started_at=None)
    with pytest.raises(ValueError, match="transcript"):
        await store.update_turn("CA3", 1, transcript="x")


async def test_schema_is_created_once_and_versioned(store: SqlCallStore) -> None:
    await store.start()  # a second start (restart) is harmless

    def versions() -> list[int]:
        with store.engine.connect() as conn:
            rows = conn.execute(sqlalchemy.select(schema_version_table.c.version))
            return [row[0] for row in rows]

    assert await asyncio.to_thread(versions) == [SCHEMA_VERSION]


async def test_what_was_written_survives_a_crash(tmp_path: Path) -> None:
    # Each write commits on its own: a new process (a new engine) reads it all back.
    url = database_url_for(None, tmp_path)
    writer = SqlCallStore(url)
    await writer.start()
    await writer.create_call("CA5", from_number="+1", to_number="+2")
    await writer.add_turn("CA5", TurnRecord(turn_index=1, transcript="hello"))
    # no finish_call, no close: the process "died" here
    reader = SqlCallStore(url)
    call = await reader.get_call("CA5")
    assert call is not None and call.ended_at is None
    assert [t.transcript for t in await reader.turns("CA5")] == ["hello"]
    await reader.close()
    await writer.close()
