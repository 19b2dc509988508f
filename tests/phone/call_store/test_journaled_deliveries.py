"""The notification outbox through the journal: `mark_delivery` is the store's own write,
journaled, over a real SQLite database and a real journal file."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lidia.phone.call_store import SqlCallStore
from lidia.phone.call_store.journaled import JournaledCallStore

pytestmark = pytest.mark.time_dependent

CALL = "CA" + "7" * 32


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[JournaledCallStore]:
    inner = SqlCallStore(f"sqlite:///{tmp_path / 'calls.db'}")
    journaled = JournaledCallStore(inner, tmp_path / "journal.db", retry_s=0.1)
    await journaled.start()
    yield journaled
    await journaled.close()


async def test_a_delivery_marked_through_the_journal_lands_in_the_store(
    store: JournaledCallStore,
) -> None:
    await store.create_call(CALL, from_number="+79161234567", to_number="+74951234567")
    await store.enqueue_deliveries(CALL, ["telegram"])
    (delivery,) = await store.deliveries(CALL)
    retry_at = dt.datetime(2026, 12, 1, 12, 30, tzinfo=dt.UTC)
    await store.mark_delivery(
        delivery.id,
        state="pending",
        attempts=1,
        next_attempt_at=retry_at,
        last_error="Телеграм не ответил",
        sent_at=None,
    )
    (marked,) = await store.deliveries(CALL)
    assert (marked.state, marked.attempts, marked.last_error) == (
        "pending",
        1,
        "Телеграм не ответил",
    )
    assert not len(store.journal)  # applied, so no longer journaled


async def test_a_wrong_mark_fails_at_the_call_not_at_replay(store: JournaledCallStore) -> None:
    with pytest.raises(TypeError):
        await store.mark_delivery(1, state="sent", attempt=1)  # misspelt: `attempts`
    assert not len(store.journal)
