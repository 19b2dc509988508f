"""Seeded calls for the dashboard's tests: records through the `CallStore` API, real WAV
files (espeak-ng) in `calls_log/<CallSid>/`, and start times spread over days."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import sqlalchemy

from lidia.core.clock import SYSTEM_CLOCK, Clock
from lidia.phone.call_store import SqlCallStore, TurnRecord, calls_table, database_url_for
from tests.support.service_guard import service_missing
from tests.support.speech_fixtures import espeak_wav

PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class SeedCall:
    call_sid: str
    from_number: str
    started_at: dt.datetime
    words: list[tuple[str, str]]  # (caller's words, Лидия's reply) per turn
    message: dict[str, object] | None = None
    outcome: str | None = None  # None: the store falls back to the Twilio status


SEED_CALLS = [
    SeedCall(
        "CA" + "a" * 32,
        "+79161234567",
        NOW - dt.timedelta(days=9),
        [("Здравствуйте, я хочу записаться на приём", "Конечно! На какой день?")],
    ),
    SeedCall(
        "CA" + "b" * 32,
        "+79995550001",
        NOW - dt.timedelta(days=5),
        [
            ("Добрый день, это Иван Петров", "Здравствуйте, Иван! Чем помочь?"),
            ("Перезвоните мне по поводу ЗАКАЗА номер 42", "Хорошо, передам."),
        ],
        {
            "message_name": "Иван Петров",
            "message_phone": "+79995550001",
            "message_reason": "Просит перезвонить по поводу заказа 42",
            "message_summary": "Иван Петров: перезвонить про заказ 42",
            "message_left": True,
        },
        outcome="message",
    ),
    SeedCall(
        "CA" + "c" * 32,
        "+74951112233",
        NOW - dt.timedelta(days=1),
        [("Какие у вас часы работы? 100% нужно знать", "С девяти до восемнадцати.")],
        outcome="conversation",
    ),
]


async def make_store(
    kind: str, root: Path, *, schema_prefix: str = "admin_test", clock: Clock = SYSTEM_CLOCK
) -> tuple[SqlCallStore, str | None]:
    """A started store: SQLite under `root`, or PostgreSQL in a fresh throw-away schema.
    `clock` stamps its records (a `FixedClock` for tests that decide by date)."""
    if kind == "sqlite":
        store = SqlCallStore(database_url_for(None, root / "calls_log"), clock=clock)
        await store.start()
        return store, None
    schema = f"{schema_prefix}_{uuid.uuid4().hex[:12]}"  # a throw-away schema per test
    try:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as exc:
        service_missing(f"PostgreSQL not reachable at 127.0.0.1:5432/test: {exc}")
    store = SqlCallStore(PG_URL, schema=schema, clock=clock)
    await store.start()
    return store, schema


async def drop_store(store: SqlCallStore, schema: str | None) -> None:
    await store.close()
    if schema:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def set_started_at(store: SqlCallStore, call_sid: str, started: dt.datetime) -> None:
    """Back-date a call (`started_at` is set once, at creation, by the store)."""

    def write() -> None:
        with store.engine.begin() as conn:
            conn.execute(
                sqlalchemy.update(calls_table)
                .where(calls_table.c.call_sid == call_sid)
                .values(started_at=started)
            )

    await asyncio.to_thread(write)


def wav_file(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(espeak_wav(text))
    return str(path)


async def seed_calls(store: SqlCallStore, calls_log_dir: Path) -> list[SeedCall]:
    """The three `SEED_CALLS`, each with per-turn audio and the whole call's `caller.wav`."""
    for seed in SEED_CALLS:
        folder = calls_log_dir / seed.call_sid
        await store.create_call(
            seed.call_sid, from_number=seed.from_number, to_number="+70000000000"
        )
        for index, (said, reply) in enumerate(seed.words, start=1):
            await store.add_turn(
                seed.call_sid,
                TurnRecord(
                    turn_index=index,
                    caller_audio_path=wav_file(folder / f"turn{index:03d}_caller.wav", "hello"),
                    transcript=said,
                    reply=reply,
                    reply_audio_path=wav_file(folder / f"turn{index:03d}_reply.wav", "reply"),
                    latencies={"first_frame_s": 0.8 + index / 10},
                    barge_in=index == 2,
                    heard_ms=700 if index == 2 else None,
                ),
            )
        wav_file(folder / "caller.wav", "hello this is the whole call")
        await store.add_dtmf(seed.call_sid, "5")
        if len(seed.words) > 1:
            await store.add_event(seed.call_sid, "barge_in", {"heard_ms": 700})
        await store.finish_call(
            seed.call_sid,
            status="completed",
            outcome=seed.outcome,
            duration_s=30.0 * len(seed.words),
        )
        if seed.message:
            await store.update_call(seed.call_sid, **seed.message)
        await set_started_at(store, seed.call_sid, seed.started_at)
    await store.add_error(SEED_CALLS[0].call_sid, "orchestrator timed out")
    return SEED_CALLS
