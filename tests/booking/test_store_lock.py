"""The bookings store's lock on both databases: many callers racing for one slot from many
threads (several replicas), exactly one reservation wins; SQLite `BEGIN IMMEDIATE` and a
PostgreSQL advisory lock in a throw-away schema."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from lidia.booking.store import PENDING, Booking, BookingStore
from tests.support.admin_seed import PG_DSN, PG_URL
from tests.support.service_guard import service_missing

pytestmark = pytest.mark.time_dependent

START = dt.datetime(2026, 12, 10, 6, 30, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 12, 7, 5, 0, tzinfo=dt.UTC)
RACERS = 8


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.needs_service)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[BookingStore]]:
    """Several stores on one database, as several orchestrator replicas hold them."""
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bookings.db'}"
    else:
        url, schema = PG_URL, f"booking_test_{uuid.uuid4().hex[:12]}"
        try:
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
        except psycopg.OperationalError as exc:
            service_missing(f"PostgreSQL not reachable at 127.0.0.1:5432/test: {exc}")
    made = [BookingStore(url, schema=schema) for _ in range(3)]
    made[0].create()
    yield made
    for store in made:
        store.close()
    if schema:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def attempt(index: int, start: dt.datetime) -> Booking:
    return Booking(
        uid=f"lidia-racer-{index}",
        calendar="https://caldav.example|Приём",
        start=start,
        end=start + dt.timedelta(minutes=30),
        service="Консультация",
        name=f"Звонящий {index}",
        phone=None,
        comment=None,
        call_id=f"CA{index}",
    )


def test_racing_reservations_of_one_slot_give_it_to_exactly_one(
    stores: list[BookingStore],
) -> None:
    # Overlapping, not identical: half the callers want 9:30, half 9:45 (UTC 6:30 / 6:45).
    starts = [START + dt.timedelta(minutes=15 * (i % 2)) for i in range(RACERS)]
    with ThreadPoolExecutor(RACERS) as pool:
        results = list(
            pool.map(
                lambda i: stores[i % len(stores)].reserve(
                    attempt(i, starts[i]), dt.timedelta(), NOW
                ),
                range(RACERS),
            )
        )
    won = [result for result in results if result is not None]
    assert len(won) == 1 and won[0].status == PENDING
    assert [b.uid for b in stores[0].pending()] == [won[0].uid]
    # The buffer widens the check: a slot right after it is refused with 15 minutes' buffer.
    after = attempt(99, won[0].end)
    assert stores[1].reserve(after, dt.timedelta(minutes=15), NOW) is None
    assert stores[1].reserve(after, dt.timedelta(), NOW) is not None
    # The same uid again is the same booking (a retried tool call), not a clash.
    assert (
        stores[2].reserve(
            attempt(int(won[0].uid.rsplit("-", 1)[1]), won[0].start), dt.timedelta(), NOW
        )
        == won[0]
    )
