"""The bookings table under Alembic, on SQLite and on PostgreSQL (a throw-away schema): a fresh
database is migrated, a second start changes nothing, a table made by the old `create_all`
is stamped and kept, and the call store can share the database (each its own version table)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, MetaData, String, Table, event, inspect, select, text

from lidia.booking.store import VERSION_TABLE, Booking, BookingStore, metadata
from lidia.phone.call_store import SqlCallStore
from tests.support.admin_seed import PG_DSN, PG_URL
from tests.support.service_guard import service_missing

NOW = dt.datetime(2026, 12, 7, 5, 0, tzinfo=dt.UTC)
START = dt.datetime(2026, 12, 10, 6, 30, tzinfo=dt.UTC)
versions = Table(VERSION_TABLE, MetaData(), Column("version_num", String(32)))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.needs_service)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """(url, schema): a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bookings.db'}", None
        return
    schema = f"booking_migrate_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as exc:
        service_missing(f"PostgreSQL not reachable at 127.0.0.1:5432/test: {exc}")
    yield PG_URL, schema
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def stores(database: tuple[str, str | None]) -> Iterator[Any]:
    """`make()`: a new store on the database (as a restarted service holds it), closed after."""
    made: list[BookingStore] = []

    def make() -> BookingStore:
        made.append(BookingStore(database[0], schema=database[1]))
        return made[-1]

    yield make
    for store in made:
        store.close()


def booking(index: int) -> Booking:
    start = START + dt.timedelta(hours=index)
    return Booking(
        uid=f"lidia-migrate-{index}",
        calendar="https://caldav.example|Приём",
        start=start,
        end=start + dt.timedelta(minutes=30),
        service="Консультация",
        name="Анна",
        phone="+79161234567",
        comment=None,
        call_id=f"CA{index}",
    )


def revisions(store: BookingStore) -> list[str]:
    with store.engine.begin() as conn:
        return list(conn.execute(select(versions.c.version_num)).scalars())


def tables(store: BookingStore) -> set[str]:
    return set(inspect(store.engine).get_table_names(schema=store.schema))


def diffs(store: BookingStore) -> list[Any]:
    """Autogenerate's comparison of `bookings_table` with the migrated database."""
    with store.engine.connect() as conn, conn.begin():
        if store.schema:
            conn.execute(text(f'SET LOCAL search_path TO "{store.schema}"'))
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": ours}
        )
        return compare_metadata(context, metadata)


def ours(name: str | None, type_: str, _parent: Any) -> bool:
    return type_ != "table" or name in metadata.tables


def statements(store: BookingStore) -> list[str]:
    """The SQL the store sends from now on (collected into the returned list)."""
    sent: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: sent.append(args[2].strip()))
    return sent


def test_a_fresh_database_gets_the_table_and_one_version_row(stores: Any) -> None:
    store = stores()
    store.create()
    assert {"bookings", VERSION_TABLE} <= tables(store)
    assert "alembic_version" not in tables(store)  # the call store's name stays free
    assert revisions(store) == ["0001"]
    assert diffs(store) == []  # the revision builds exactly `bookings_table`
    assert store.reserve(booking(1), dt.timedelta(), NOW) is not None


def test_a_second_start_changes_nothing(stores: Any) -> None:
    first = stores()
    first.create()
    first.reserve(booking(1), dt.timedelta(), NOW)
    again = stores()
    sent = statements(again)
    again.create()
    assert any(VERSION_TABLE in sql for sql in sent)  # it did look
    assert not [sql for sql in sent if sql.upper().startswith(("CREATE", "ALTER", "DROP"))]
    assert not [sql for sql in sent if sql.upper().startswith(("INSERT", "UPDATE"))]
    assert revisions(again) == ["0001"]
    assert again.get(booking(1).uid) is not None


def test_a_table_made_before_alembic_is_stamped_and_kept(stores: Any) -> None:
    old = stores()
    metadata.create_all(old.engine)  # what `create` did before the migrations
    old.reserve(booking(1), dt.timedelta(), NOW)
    old.reserve(booking(2), dt.timedelta(), NOW)
    assert VERSION_TABLE not in tables(old)
    store = stores()
    store.create()
    assert revisions(store) == ["0001"]
    assert store.count() == 2 and store.get(booking(2).uid) == booking(2)
    assert diffs(store) == []


async def test_the_call_store_shares_the_database(
    stores: Any, database: tuple[str, str | None]
) -> None:
    bookings = stores()
    bookings.create()
    bookings.reserve(booking(1), dt.timedelta(), NOW)
    calls = SqlCallStore(database[0], schema=database[1])
    try:
        await calls.start()
        await calls.start()
    finally:
        await calls.close()
    again = stores()
    again.create()
    assert {"bookings", "calls", VERSION_TABLE, "alembic_version"} <= tables(again)
    assert revisions(again) == ["0001"]
    assert again.count() == 1


def test_replicas_starting_together_migrate_once(stores: Any) -> None:
    replicas = [stores() for _ in range(4)]
    with ThreadPoolExecutor(len(replicas)) as pool:
        list(pool.map(BookingStore.create, replicas))
    assert revisions(replicas[0]) == ["0001"]
    assert replicas[0].count() == 0
