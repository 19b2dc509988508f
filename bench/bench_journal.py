"""The journal's cost on every call write (issue 15): one call's writes (the call, 10 turns,
10 events, the end) straight to the store vs through `JournaledCallStore`, on SQLite and on
PostgreSQL (when it answers on 127.0.0.1:5432), rounds interleaved in one run.

Run: `python -m bench.bench_journal [rounds]`.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg

from bench.common import interleaved_median_times, print_rows
from lidia.phone.call_store import SqlCallStore, TurnRecord
from lidia.phone.call_store.journaled import JournaledCallStore

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_sids = itertools.count(1)


async def one_call(store: SqlCallStore | JournaledCallStore) -> None:
    call_sid = f"CA{next(_sids):032x}"
    await store.create_call(call_sid, from_number="+79161234567", to_number="+74950000000")
    for index in range(1, 11):
        await store.add_turn(call_sid, TurnRecord(turn_index=index, transcript="Запишите меня"))
        await store.add_event(call_sid, "barge_in", {"heard_ms": 100 * index})
    await store.finish_call(call_sid, status="completed", outcome="conversation")


def pg_schema() -> str | None:
    schema = f"bench_journal_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError:
        return None
    return schema


def main(rounds: int = 20) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-journal-"))
    loop = asyncio.new_event_loop()
    stores: dict[str, SqlCallStore | JournaledCallStore] = {
        "sqlite direct": SqlCallStore(f"sqlite:///{root / 'direct.db'}"),
        "sqlite journaled": JournaledCallStore(
            SqlCallStore(f"sqlite:///{root / 'inner.db'}"), root / "j1.db"
        ),
    }
    schema = pg_schema()
    if schema:
        stores["postgres direct"] = SqlCallStore(PG_URL, schema=schema)
        stores["postgres journaled"] = JournaledCallStore(
            SqlCallStore(PG_URL, schema=f"{schema}_j"), root / "j2.db"
        )
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}_j"')
    for store in stores.values():
        loop.run_until_complete(store.start())
    cases = {
        name: (lambda s=store: loop.run_until_complete(one_call(s)))
        for name, store in stores.items()
    }
    times = interleaved_median_times(cases, rounds)
    rows = [(f"{name}: one call's 22 writes, s", t, "") for name, t in times.items()]
    for kind in ("sqlite", "postgres"):
        if f"{kind} direct" in times:
            ratio = times[f"{kind} journaled"] / times[f"{kind} direct"]
            rows.append((f"{kind}: journaled / direct", ratio, "small next to a turn (~1 s)"))
    print_rows("Call store journal (issue 15)", rows)
    for store in stores.values():
        loop.run_until_complete(store.close())
    if schema:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            conn.execute(f'DROP SCHEMA "{schema}_j" CASCADE')


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
