"""Storage faults on a live call (issue 15): PostgreSQL lost mid-call and at start, a full
calls disk, a read-only one. Real servers only: PostgreSQL behind a TCP proxy the test cuts,
small tmpfs mounts (this runs as root; elsewhere the mount tests skip, or fail on CI), the
phone service under uvicorn, the scripted Twilio client speaking RHVoice Russian.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import soundfile as sf

from lidia.audio.codecs import pcm_to_mulaw
from lidia.phone.app import create_app
from lidia.phone.call_files import MESSAGE_FILE, unsaved
from lidia.phone.call_store import SqlCallStore
from lidia.phone.call_store.journaled import JournaledCallStore
from lidia.tts.engines.rhvoice import RHVoiceEngine
from tests.phone.call_store.test_journal import drained, pg_schema, pg_url, proxy  # noqa: F401
from tests.phone.test_media_stream import (
    Phone,
    answer_call,
    assert_valid_mulaw_speech,
    greeted_call,
    new_call_sid,
    phone_settings,
)
from tests.phone.test_russian_call import REPLY, llm, orchestrator_url  # noqa: F401
from tests.support.fake_llm_servers import FakeOpenAI
from tests.support.live_server import live_server
from tests.support.russian_speech import BOOKING, phone_line_8k, rhvoice_16k
from tests.support.service_guard import service_missing
from tests.support.tcp_proxy import TcpProxy
from tests.support.twilio_client import signed_headers, silence_mulaw, webhook_form

ADMIN = ("admin", "пароль-для-теста")
DOWN_ORCHESTRATOR = "http://127.0.0.1:9"  # connection refused: the apology and a message


@pytest.fixture(scope="module")
def caller_says(rhvoice: RHVoiceEngine) -> bytes:
    return pcm_to_mulaw(phone_line_8k(rhvoice_16k(rhvoice, BOOKING)))


@asynccontextmanager
async def phone_with(
    root: Path, store: JournaledCallStore, orchestrator: str, **overrides: object
) -> AsyncIterator[Phone]:
    settings = phone_settings(
        root,
        orchestrator,
        admin_username=ADMIN[0],
        admin_password=ADMIN[1],
        call_store_retry_s=0.1,
        **overrides,
    )
    app = create_app(settings, call_store=store)
    with live_server(app) as url:
        yield Phone(url, store, settings)  # type: ignore[arg-type]
    await store.close()


def journaled(url: str, root: Path, schema: str | None = None) -> JournaledCallStore:
    return JournaledCallStore(SqlCallStore(url, schema=schema), root / "journal.db", retry_s=0.1)


async def get(phone: Phone, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=phone.url, auth=ADMIN) as client:
        return await client.get(path)


async def speak(client, caller_says: bytes) -> None:  # type: ignore[no-untyped-def]
    await client.media(caller_says, voiced=True)
    await client.media(silence_mulaw(1.0))


async def test_postgres_lost_mid_call_the_call_goes_on_and_lands_once_it_is_back(
    tmp_path: Path,
    proxy: TcpProxy,  # noqa: F811
    pg_schema: str,  # noqa: F811
    orchestrator_url: str,  # noqa: F811
    llm: FakeOpenAI,  # noqa: F811
    caller_says: bytes,
) -> None:
    store = journaled(pg_url(proxy.port), tmp_path, pg_schema)
    async with phone_with(tmp_path, store, orchestrator_url) as phone:
        async with greeted_call(phone) as (call_sid, client):
            proxy.cut()  # PostgreSQL dies while Лидия listens
            before = len(client.received)
            await speak(client, caller_says)
            await client.wait_for_mark("turn1-end")
            assert_valid_mulaw_speech(client.media_payloads(after=before))  # she answered

            health = (await get(phone, "/health")).json()
            assert health["status"] == "degraded" and "database" in health["problems"]
            page = await get(phone, "/admin")
            assert page.status_code == 503 and "База звонков временно недоступна" in page.text
            form = webhook_form(call_sid, CallStatus="completed", CallDuration="7")
            async with httpx.AsyncClient(base_url=phone.url) as http:
                status = await http.post(
                    "/twilio/status", data=form, headers=signed_headers("/twilio/status", form)
                )
            assert status.status_code == 204
            await client.stop()
            assert await client.closed()

        proxy.restore()
        await drained(store)
        health = (await get(phone, "/health")).json()
        assert health["status"] == "ok" and health["problems"] == {}
        assert (await get(phone, "/admin")).status_code == 200
    direct = SqlCallStore(pg_url(5432), schema=pg_schema)
    record = await direct.get_call(call_sid)
    assert record is not None and record.ended_at is not None
    assert record.status == "completed" and record.outcome == "conversation"
    turns = await direct.turns(call_sid)
    assert [t.reply for t in turns] == [REPLY] and turns[0].caller_audio_path
    assert "stream_start" in [e.kind for e in await direct.events(call_sid)]
    await direct.close()


async def test_phone_starts_and_answers_twilio_with_postgres_down(
    tmp_path: Path,
    proxy: TcpProxy,  # noqa: F811
    pg_schema: str,  # noqa: F811
) -> None:
    proxy.cut()  # down before the service starts
    store = journaled(pg_url(proxy.port), tmp_path, pg_schema)
    async with phone_with(tmp_path, store, DOWN_ORCHESTRATOR) as phone:
        call_sid = new_call_sid()
        assert "<Stream" in await answer_call(phone, call_sid)
        health = (await get(phone, "/health")).json()
        assert health["status"] == "degraded" and "database" in health["problems"]
        proxy.restore()
        await drained(store)
        assert (await store.get_call(call_sid)) is not None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs for the calls folder (mounted and unmounted by the test)."""
    mount = tmp_path / "calls_disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode:
        service_missing(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=False)
    unsaved.flush()  # whatever waits for this disk is written before it goes
    subprocess.run(["umount", str(mount)], check=True)


def fill(disk: Path) -> Path:
    """Fill the disk to the last byte: the next write fails with ENOSPC."""
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return filler


async def test_full_calls_disk_keeps_the_message_in_memory_until_there_is_room(
    tmp_path: Path, small_disk: Path, caller_says: bytes
) -> None:
    filler = await asyncio.to_thread(fill, small_disk)
    calls_dir = small_disk / "calls_log"
    store = journaled(f"sqlite:///{tmp_path / 'calls.db'}", small_disk)  # the journal is full too
    async with phone_with(tmp_path, store, DOWN_ORCHESTRATOR, calls_log_dir=calls_dir) as phone:
        async with greeted_call(phone) as (call_sid, client):
            before = len(client.received)
            await speak(client, caller_says)
            await client.wait_for_mark("apology-end")  # no orchestrator: the apology
            assert_valid_mulaw_speech(client.media_payloads(after=before))
            await speak(client, caller_says)  # the message
            await client.stop()
            assert await client.closed()
        message_file = calls_dir / call_sid / MESSAGE_FILE
        assert not message_file.exists()
        health = (await get(phone, "/health")).json()
        assert health["status"] == "degraded" and "No space left" in health["problems"]["disk"]
        record = await store.get_call(call_sid)
        assert record is not None and record.outcome == "message"
        assert any(MESSAGE_FILE in error for error in record.errors)

        filler.unlink()  # room again: the next retry writes what waited in memory
        for _ in range(100):
            if message_file.exists() and not len(unsaved):
                break
            await asyncio.sleep(0.05)
        message, rate = sf.read(message_file)
        assert rate == 8000 and len(message) >= len(caller_says)
        await drained(store)
        problems = (await get(phone, "/health")).json()["problems"]
        assert set(problems) == {"orchestrator"}  # the disk is fine again


async def test_read_only_calls_disk_still_greets_and_records_the_error(
    tmp_path: Path, small_disk: Path, caller_says: bytes
) -> None:
    await asyncio.to_thread(
        subprocess.run, ["mount", "-o", "remount,ro", str(small_disk)], check=True
    )
    store = journaled(f"sqlite:///{tmp_path / 'calls.db'}", tmp_path)
    calls_dir = small_disk / "calls_log"
    async with phone_with(tmp_path, store, DOWN_ORCHESTRATOR, calls_log_dir=calls_dir) as phone:
        async with greeted_call(phone) as (call_sid, client):
            assert_valid_mulaw_speech(client.media_payloads())  # the greeting played
            await speak(client, caller_says)
            await client.wait_for_mark("apology-end")
            await client.stop()
            assert await client.closed()
        health = (await get(phone, "/health")).json()
        assert "Read-only" in health["problems"]["disk"]
        record = await store.get_call(call_sid)
        assert record is not None and any("Read-only" in error for error in record.errors)
