"""The outbox on the real call store (SQLite and PostgreSQL) with real channel servers:
every call's notice reaches every channel exactly once, through failures and restarts."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lidia.core.clock import FixedClock
from lidia.phone.call_store import SqlCallStore
from lidia.phone.notify.channels import TelegramChannel, WebhookChannel
from lidia.phone.notify.notice import CallNotice, notice_for_call
from lidia.phone.notify.outbox import BACKOFF_S, GIVE_UP_AFTER, Outbox, next_attempt_delay
from tests.support.admin_seed import drop_store, make_store
from tests.support.fake_notify_servers import FakeTelegram, WebhookReceiver, serve_fake

pytestmark = pytest.mark.time_dependent

CALL = "CA00000000000000000000000000000001"
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlCallStore]:
    store, schema = await make_store(
        request.param, tmp_path, schema_prefix="outbox_test", clock=FixedClock(T0)
    )
    try:
        yield store
    finally:
        await drop_store(store, schema)


async def _ended_call(store: SqlCallStore, call_sid: str = CALL) -> None:
    await store.create_call(call_sid, from_number="+79161234567", to_number="+74950000000")
    await store.update_call(call_sid, message_name="Ольга", message_reason="Запись на пятницу")
    await store.finish_call(call_sid, status="completed", outcome="message", duration_s=42)


def _notice_from(store: SqlCallStore):
    async def notice_for(call_sid: str) -> CallNotice | None:
        record = await store.get_call(call_sid)
        return notice_for_call(record, None) if record else None

    return notice_for


def test_backoff_starts_in_seconds_and_grows_to_minutes() -> None:
    delays = [next_attempt_delay(n) for n in range(1, 9)]
    assert delays[0] <= 5 and delays[1] <= 10
    assert delays == sorted(delays)
    assert delays[-1] == BACKOFF_S[-1] >= 300


async def test_each_channel_gets_the_notice_once(store: SqlCallStore) -> None:
    telegram, hook = FakeTelegram(), WebhookReceiver()
    with serve_fake(telegram) as tg_url, serve_fake(hook) as hook_url:
        channels = [
            TelegramChannel(telegram.token, "42", "Europe/Moscow", tg_url),
            WebhookChannel(f"{hook_url}/hook", "s"),
        ]
        outbox = Outbox(store, channels, _notice_from(store))
        await _ended_call(store)
        await outbox.call_ended(CALL)
        await outbox.call_ended(CALL)  # Twilio may call the status callback twice
        assert await outbox.send_due() == 2
        assert await outbox.send_due() == 0  # nothing left: never sent twice
    assert len(telegram.requests) == 1 and len(hook.requests) == 1
    assert "Ольга" in json.loads(telegram.requests[0].body)["text"]
    states = {d.channel: (d.state, d.attempts) for d in await store.deliveries(CALL)}
    assert states == {"telegram": ("sent", 1), "webhook": ("sent", 1)}


async def test_a_failing_channel_is_retried_with_backoff(store: SqlCallStore) -> None:
    telegram = FakeTelegram(fail_first=2)
    with serve_fake(telegram) as tg_url:
        channel = TelegramChannel(telegram.token, "42", "UTC", tg_url)
        outbox = Outbox(store, [channel], _notice_from(store))
        await _ended_call(store)
        await outbox.call_ended(CALL)
        await outbox.send_due(T0 + dt.timedelta(days=1))
        (delivery,) = await store.deliveries(CALL)
        assert (delivery.state, delivery.attempts) == ("pending", 1)
        assert "502" in (delivery.last_error or "")
        first_retry = delivery.next_attempt_at
        # Not due yet just before the retry time; due at it.
        assert await outbox.send_due(first_retry - dt.timedelta(milliseconds=1)) == 0
        assert await outbox.send_due(first_retry) == 1
        (delivery,) = await store.deliveries(CALL)
        assert delivery.attempts == 2
        assert delivery.next_attempt_at - first_retry >= dt.timedelta(seconds=BACKOFF_S[1])
        await outbox.send_due(delivery.next_attempt_at)
    (delivery,) = await store.deliveries(CALL)
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("sent", 3, None)
    assert len(telegram.requests) == 1


async def test_a_restart_resumes_the_outbox(store: SqlCallStore) -> None:
    """A notice that failed before a restart is sent by the next process, once."""
    telegram = FakeTelegram(fail_first=1)
    with serve_fake(telegram) as tg_url:
        channel = TelegramChannel(telegram.token, "42", "UTC", tg_url)
        first = Outbox(store, [channel], _notice_from(store))
        await _ended_call(store)
        await first.call_ended(CALL)
        await first.send_due()
        # The service restarts: a new store object on the same database, a new outbox.
        await store.close()
        reopened = SqlCallStore(store.url, schema=store.schema, clock=store.clock)
        await reopened.start()
        try:
            second = Outbox(reopened, [channel], _notice_from(reopened))
            later = T0 + dt.timedelta(minutes=1)
            assert await second.send_due(later) == 1
            assert await second.send_due(later) == 0
            (delivery,) = await reopened.deliveries(CALL)
        finally:
            await reopened.close()
    assert (delivery.state, delivery.attempts) == ("sent", 2)
    assert len(telegram.requests) == 1


async def test_a_permanent_failure_stops_and_is_recorded(store: SqlCallStore) -> None:
    telegram = FakeTelegram()
    with serve_fake(telegram) as tg_url:
        channel = TelegramChannel("1:revoked", "42", "UTC", tg_url)
        outbox = Outbox(store, [channel], _notice_from(store))
        await _ended_call(store)
        await outbox.call_ended(CALL)
        await outbox.send_due()
        assert await outbox.send_due(T0 + dt.timedelta(hours=1)) == 0
    (delivery,) = await store.deliveries(CALL)
    assert delivery.state == "failed"
    assert "401" in (delivery.last_error or "")
    assert "revoked" not in (delivery.last_error or "")


async def test_gives_up_after_two_days(store: SqlCallStore) -> None:
    channel = TelegramChannel("1:x", "42", "UTC", "http://127.0.0.1:9")  # nothing listens
    outbox = Outbox(store, [channel], _notice_from(store))
    await _ended_call(store)
    await outbox.call_ended(CALL)
    await outbox.send_due(T0 + GIVE_UP_AFTER + dt.timedelta(minutes=1))
    (delivery,) = await store.deliveries(CALL)
    assert (delivery.state, delivery.attempts) == ("failed", 1)


async def test_the_worker_sends_soon_after_a_call_ends(store: SqlCallStore) -> None:
    telegram = FakeTelegram()
    with serve_fake(telegram) as tg_url:
        channel = TelegramChannel(telegram.token, "42", "UTC", tg_url)
        outbox = Outbox(store, [channel], _notice_from(store), poll_s=30)
        outbox.start()
        try:
            await _ended_call(store)
            await outbox.call_ended(CALL)  # wakes the worker: no 30 s poll wait
            for _ in range(200):
                if telegram.requests:
                    break
                await asyncio.sleep(0.05)
        finally:
            await outbox.stop()
    assert len(telegram.requests) == 1


async def test_no_channels_means_no_rows(store: SqlCallStore) -> None:
    outbox = Outbox(store, [], _notice_from(store))
    await _ended_call(store)
    await outbox.call_ended(CALL)
    assert await store.deliveries(CALL) == []
