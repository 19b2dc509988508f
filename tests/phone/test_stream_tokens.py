"""The stream claim is decided by the database: two phone replicas on one PostgreSQL racing
the same call's `start` never both win; while the database is down a replica decides alone
from what it wrote itself, and the claim lands (or is logged as lost) once it is back.

Real PostgreSQL on 127.0.0.1:5432 (db `test`, a throw-away schema per test; under CI=true a
missing server fails), reached directly or through a TCP proxy the test cuts; two stores in
one process are two replicas (each its own engine, connections and local memory).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from lidia.core.clock import SYSTEM_CLOCK
from lidia.phone.app import create_app
from lidia.phone.call_store import SqlCallStore
from lidia.phone.call_store.journaled import JournaledCallStore
from lidia.phone.stream_tokens import (
    CLAIM_EVENT,
    StreamRefused,
    claim_stream,
    issue_stream_token,
)
from tests.phone.call_store.test_journal import (  # noqa: F401  (fixtures used by name)
    direct,
    drained,
    pg_schema,
    pg_url,
    proxy,
)
from tests.phone.test_media_stream import (
    Phone,
    answer_call,
    client_for,
    new_call_sid,
    phone_settings,
)
from tests.support.live_server import live_server
from tests.support.tcp_proxy import TcpProxy
from tests.support.twilio_client import stream_parameters

CALLER, COMPANY = "+79161234567", "+74950000000"
RACES = 24


class Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def call_sid(n: int) -> str:
    return f"CA{n:032x}"


def replica(url: str, schema: str | None, journal: Path) -> JournaledCallStore:
    return JournaledCallStore(SqlCallStore(url, schema=schema), journal, retry_s=0.1)


async def outcome(claim: asyncio.Future) -> str:  # type: ignore[type-arg]
    try:
        await claim
    except StreamRefused as exc:
        return f"refused: {exc}"
    return "accepted"


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
async def test_two_stores_racing_the_database_claim_exactly_one_wins(
    database: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if database == "postgresql":
        schema = request.getfixturevalue("pg_schema")
        url = pg_url(5432)
    else:
        schema, url = None, f"sqlite:///{tmp_path / 'calls.db'}"
    first, second = SqlCallStore(url, schema=schema), SqlCallStore(url, schema=schema)
    await first.start()
    await second.start()
    sids = [call_sid(0xC1A1 + n) for n in range(RACES)]
    for sid in sids:
        await first.create_call(sid, from_number=CALLER, to_number=COMPANY)
    await second.get_call(sids[0])  # both pools connected: the race is the UPDATE itself
    for n, sid in enumerate(sids):
        racers = (first, second) if n % 2 else (second, first)
        won = await asyncio.gather(*(s.claim_stream(sid, at=SYSTEM_CLOCK.now()) for s in racers))
        assert sorted(won) == [False, True], sid
        claimed = (await first.get_call(sid)).stream_claimed_at  # type: ignore[union-attr]
        assert claimed is not None
        # Replaying the winner's journaled claim (same time) changes nothing; any other loses.
        assert await second.claim_stream(sid, at=claimed)
        assert not await second.claim_stream(sid, at=SYSTEM_CLOCK.now())
        assert (await second.get_call(sid)).stream_claimed_at == claimed  # type: ignore[union-attr]
    finished = call_sid(0xF1)
    await first.create_call(finished, from_number=CALLER, to_number=COMPANY)
    await first.finish_call(finished, status="completed")
    assert not await second.claim_stream(finished, at=SYSTEM_CLOCK.now())  # a finished call: never
    assert not await second.claim_stream(call_sid(0xF2), at=SYSTEM_CLOCK.now())  # an unknown one
    await first.close()
    await second.close()


async def test_two_replicas_racing_one_start_through_claim_stream_exactly_one_accepts(
    pg_schema: str,  # noqa: F811
    direct: SqlCallStore,  # noqa: F811
    tmp_path: Path,
) -> None:
    a = replica(pg_url(5432), pg_schema, tmp_path / "a.db")
    b = replica(pg_url(5432), pg_schema, tmp_path / "b.db")
    await a.start()
    await b.start()
    for n in range(RACES):
        sid = call_sid(0xBA00 + n)
        answering, other = (a, b) if n % 2 else (b, a)
        await answering.create_call(sid, from_number=CALLER, to_number=COMPANY)
        token = await issue_stream_token(answering, sid)
        results = await asyncio.gather(
            outcome(asyncio.ensure_future(claim_stream(answering, sid, token))),
            outcome(asyncio.ensure_future(claim_stream(other, sid, token))),
        )
        assert results.count("accepted") == 1, results
        assert [r for r in results if r != "accepted"] == ["refused: call already has a stream"]
        kinds = [e.kind for e in await direct.events(sid)]
        assert kinds.count(CLAIM_EVENT) == 1
        # A replay later, on either replica, is refused too.
        for store in (a, b):
            with pytest.raises(StreamRefused, match="already has a stream"):
                await claim_stream(store, sid, token)
    await a.close()
    await b.close()


async def test_with_the_database_down_the_answering_replica_decides_alone(
    proxy: TcpProxy,  # noqa: F811
    pg_schema: str,  # noqa: F811
    direct: SqlCallStore,  # noqa: F811
    tmp_path: Path,
) -> None:
    a = replica(pg_url(proxy.port), pg_schema, tmp_path / "a.db")
    b = replica(pg_url(proxy.port), pg_schema, tmp_path / "b.db")
    await a.start()
    await b.start()
    sid = call_sid(0xD0)
    proxy.cut()  # PostgreSQL is gone before the call comes in
    await a.create_call(sid, from_number=CALLER, to_number=COMPANY)
    token = await issue_stream_token(a, sid)  # journaled with the record
    with pytest.raises(StreamRefused, match="not known here"):
        await claim_stream(b, sid, token)  # another replica cannot check anything
    await claim_stream(a, sid, token)  # the replica that answered the call serves it
    with pytest.raises(StreamRefused, match="already has a stream"):
        await claim_stream(a, sid, token)  # a replay on it still loses
    assert "database" in a.problems()

    proxy.restore()
    await drained(a)
    record = await direct.get_call(sid)
    assert record is not None and record.stream_claimed_at is not None
    claims = [e.data for e in await direct.events(sid) if e.kind == CLAIM_EVENT]
    assert claims == [{"offline": True}]
    with pytest.raises(StreamRefused, match="already has a stream"):
        await claim_stream(b, sid, token)  # back up: the database knows, so does b
    await a.close()
    await b.close()


async def test_an_offline_claim_that_lost_meanwhile_is_logged_and_changes_nothing(
    proxy: TcpProxy,  # noqa: F811
    pg_schema: str,  # noqa: F811
    direct: SqlCallStore,  # noqa: F811
    tmp_path: Path,
) -> None:
    a = replica(pg_url(proxy.port), pg_schema, tmp_path / "a.db")  # cut off on its own
    b = replica(pg_url(5432), pg_schema, tmp_path / "b.db")
    await a.start()
    await b.start()
    sid = call_sid(0xD1)
    await a.create_call(sid, from_number=CALLER, to_number=COMPANY)
    token = await issue_stream_token(a, sid)
    proxy.cut()
    await claim_stream(a, sid, token)  # offline, journaled
    await claim_stream(b, sid, token)  # b reaches the database, which has no claim yet
    won_by_b = (await direct.get_call(sid)).stream_claimed_at  # type: ignore[union-attr]
    warnings = Warnings()
    logging.getLogger("phone.journal").addHandler(warnings)
    try:
        proxy.restore()
        await drained(a)
    finally:
        logging.getLogger("phone.journal").removeHandler(warnings)
    assert any("claimed elsewhere" in line for line in warnings.lines)
    assert (await direct.get_call(sid)).stream_claimed_at == won_by_b  # type: ignore[union-attr]
    await a.close()
    await b.close()


# ---------------------------------------------------------------- two phone replicas, real sockets

DOWN_ORCHESTRATOR = "http://127.0.0.1:9"  # prompts fall back to espeak-ng: the greeting still plays


@contextmanager
def two_phone_replicas(root: Path, url: str, schema: str) -> Iterator[tuple[Phone, Phone]]:
    """Two phone apps under uvicorn, each with its own journaled store on one PostgreSQL."""
    with ExitStack() as stack:
        phones = []
        for name in ("a", "b"):
            settings = phone_settings(root / name, DOWN_ORCHESTRATOR, call_store_retry_s=0.1)
            store = replica(url, schema, root / f"{name}-journal.db")
            app_url = stack.enter_context(live_server(create_app(settings, call_store=store)))
            phones.append(Phone(app_url, store, settings))  # type: ignore[arg-type]
        yield phones[0], phones[1]
    for phone in phones:
        asyncio.run(phone.store.close())


async def start_on(phone: Phone, call_sid: str, parameters: dict[str, str]) -> str:
    """A `start` on one replica: "greeted", or "refused" (closed with 1008, nothing played)."""
    async with client_for(phone, call_sid, parameters=parameters) as client:
        await client.connected()
        await client.start()
        try:
            await client.wait_for_mark("greeting-end")
        except AssertionError:  # the service closed the stream
            assert await client.closed()
            assert client.close_code == 1008 and not client.media_payloads()
            return "refused"
        await client.stop()
        assert await client.closed()
        return "greeted"


def test_one_start_sent_to_two_replicas_at_once_is_greeted_once(
    tmp_path: Path,
    pg_schema: str,  # noqa: F811
) -> None:
    with two_phone_replicas(tmp_path, pg_url(5432), pg_schema) as (a, b):

        async def race() -> list[str]:
            outcomes = []
            for _ in range(3):
                sid = new_call_sid()
                parameters = stream_parameters(await answer_call(a, sid))
                outcomes.append(
                    sorted(await asyncio.gather(*(start_on(p, sid, parameters) for p in (a, b))))
                )
            return outcomes

        assert asyncio.run(race()) == [["greeted", "refused"]] * 3


def test_with_postgres_down_the_replica_that_answered_still_greets(
    tmp_path: Path,
    proxy: TcpProxy,  # noqa: F811
    pg_schema: str,  # noqa: F811
) -> None:
    with two_phone_replicas(tmp_path, pg_url(proxy.port), pg_schema) as (a, b):

        async def call() -> tuple[str, str, str]:
            sid = new_call_sid()
            proxy.cut()
            parameters = stream_parameters(await answer_call(a, sid))
            elsewhere = await start_on(b, sid, parameters)  # cannot check the token: refused
            here = await start_on(a, sid, parameters)
            proxy.restore()
            await drained(a.store)  # type: ignore[arg-type]
            return sid, elsewhere, here

        sid, elsewhere, here = asyncio.run(call())
        assert (elsewhere, here) == ("refused", "greeted")

    async def landed() -> None:
        direct_store = SqlCallStore(pg_url(5432), schema=pg_schema)
        record = await direct_store.get_call(sid)
        assert record is not None and record.stream_claimed_at is not None
        kinds = [e.kind for e in await direct_store.events(sid)]
        assert kinds.count(CLAIM_EVENT) == 1 and kinds.count("stream_start") == 1
        await direct_store.close()

    asyncio.run(landed())
