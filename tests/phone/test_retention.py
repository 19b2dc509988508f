"""Retention: old calls lose their rows and their `calls_log/<CallSid>/` folders together,
never one without the other (SQLite and the real PostgreSQL)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from lidia.core.clock import FixedClock
from lidia.phone.app import create_app
from lidia.phone.call_store import SqlCallStore
from lidia.phone.retention import TRASH_DIR_NAME, purge_old_calls, recover_trash
from tests.conftest import make_settings
from tests.support.admin_seed import NOW, SEED_CALLS, make_store, seed_calls

pytestmark = pytest.mark.time_dependent

NEWEST, MIDDLE, OLDEST = (seed.call_sid for seed in reversed(SEED_CALLS))


async def remaining(store: SqlCallStore) -> list[str]:
    return sorted(c.call_sid for c in await store.recent_calls(100))


def folders(calls_log: Path) -> list[str]:
    return sorted(p.name for p in calls_log.iterdir() if p.is_dir() and p.name != TRASH_DIR_NAME)


async def test_old_calls_go_with_their_files(seeded_store: SqlCallStore, tmp_path: Path) -> None:
    calls_log = tmp_path / "calls_log"
    result = await purge_old_calls(
        seeded_store, calls_log, 4, now=NOW
    )  # MIDDLE (5 d), OLDEST (9 d)
    assert sorted(result.deleted) == sorted([MIDDLE, OLDEST]) and result.kept == []
    assert await remaining(seeded_store) == [NEWEST]
    assert folders(calls_log) == [NEWEST]
    assert await seeded_store.turns(OLDEST) == [] and await seeded_store.events(MIDDLE) == []
    assert not any((calls_log / TRASH_DIR_NAME).iterdir())
    assert (await purge_old_calls(seeded_store, calls_log, 4, now=NOW)).deleted == []


async def test_files_that_cannot_be_moved_keep_their_rows(
    seeded_store: SqlCallStore, tmp_path: Path
) -> None:
    calls_log = tmp_path / "calls_log"
    (calls_log / TRASH_DIR_NAME).write_text("a file where the trash folder should be")
    result = await purge_old_calls(seeded_store, calls_log, 4, now=NOW)
    assert result.deleted == [] and sorted(result.kept) == sorted([MIDDLE, OLDEST])
    assert await remaining(seeded_store) == sorted([NEWEST, MIDDLE, OLDEST])
    assert folders(calls_log) == sorted([NEWEST, MIDDLE, OLDEST])


async def test_a_failed_row_deletion_puts_the_files_back(tmp_path: Path) -> None:
    # A real database failure, made with an SQLite trigger (no fake store).
    store, _ = await make_store("sqlite", tmp_path)
    calls_log = tmp_path / "calls_log"
    await seed_calls(store, calls_log)

    def forbid_deletes() -> None:
        with store.engine.begin() as conn:
            conn.execute(
                sqlalchemy.text(
                    "CREATE TRIGGER no_delete BEFORE DELETE ON calls "
                    "BEGIN SELECT RAISE(ABORT, 'deletes forbidden'); END"
                )
            )

    await asyncio.to_thread(forbid_deletes)
    with pytest.raises(sqlalchemy.exc.DatabaseError, match="deletes forbidden"):
        await purge_old_calls(store, calls_log, 4, now=NOW)
    assert await remaining(store) == sorted([NEWEST, MIDDLE, OLDEST])
    assert folders(calls_log) == sorted([NEWEST, MIDDLE, OLDEST])
    assert len(await store.turns(MIDDLE)) == 2  # the transaction rolled back as a whole
    await store.close()


async def test_an_interrupted_purge_is_repaired(seeded_store: SqlCallStore, tmp_path: Path) -> None:
    calls_log = tmp_path / "calls_log"
    trash = calls_log / TRASH_DIR_NAME
    trash.mkdir()
    # Crash after moving MIDDLE's files, before deleting its rows: the files come back.
    (calls_log / MIDDLE).rename(trash / f"{MIDDLE}-0001")
    # Crash after deleting a call's rows, before emptying the trash: the files go.
    (trash / "CAgone-0002").mkdir()
    await recover_trash(seeded_store, calls_log)
    assert folders(calls_log) == sorted([NEWEST, MIDDLE, OLDEST])
    assert list(trash.iterdir()) == []


def test_retention_runs_at_start_up(tmp_path: Path) -> None:
    async def seed() -> None:
        store, _ = await make_store("sqlite", tmp_path)
        await seed_calls(store, tmp_path / "calls_log")
        await store.close()

    asyncio.run(seed())
    # Seeded calls started 1, 5 and 9 days before NOW; the app purges by its clock, at NOW.
    settings = make_settings(tmp_path, calls_retention_days=3)  # keeps NEWEST only
    app = create_app(settings, orchestrator_url="http://127.0.0.1:9", clock=FixedClock(NOW))
    with TestClient(app) as client:
        retention = client.app.state.phone.retention
        for _ in range(500):
            if retention.runs:
                break
            asyncio.run(asyncio.sleep(0.01))
        assert retention.runs >= 1
    store = SqlCallStore(f"sqlite:///{tmp_path / 'calls_log' / 'calls.db'}")
    assert [c.call_sid for c in asyncio.run(store.recent_calls())] == [NEWEST]
    store.engine.dispose()
    assert folders(tmp_path / "calls_log") == [NEWEST]
