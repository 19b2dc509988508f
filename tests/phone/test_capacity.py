# ruff: noqa: F811  (pytest fixtures imported from test_media_stream share their names)
"""Capacity and graceful overload: calls beyond MAX_CONCURRENT_CALLS are told so at once and
leave a message (each part acknowledged); a turn with no audio by its one deadline gets the
apology instead of silence.

Over real sockets on 127.0.0.1, like `test_media_stream`: the orchestrator (tiny.en, RHVoice,
the fake LLM) and the phone service under uvicorn, the scripted Twilio client. What Лидия
says is checked by ear: the multilingual Whisper model transcribes her Russian.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from lidia.audio.codecs import decode_audio, mulaw_to_pcm, pcm_to_mulaw, wav_bytes
from lidia.phone.app import create_app
from lidia.phone.call_store import SqlCallStore
from lidia.phone.capacity import CallCapacity
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.engines.rhvoice import RHVoiceEngine
from tests.phone.test_media_stream import (  # noqa: F401  (fixtures used by name)
    Phone,
    answer_call,
    client_for,
    llm,
    new_call_sid,
    orchestrator_url,
    phone_settings,
    utterance,
)
from tests.support.fake_llm_servers import FakeOpenAI, Script
from tests.support.live_server import live_server
from tests.support.prometheus import scrape, value
from tests.support.russian_speech import CALL_BACK, phone_line_8k, rhvoice_16k, words_of
from tests.support.twilio_client import (
    TEST_PUBLIC_BASE,
    signed_headers,
    silence_mulaw,
    stream_parameters,
    webhook_form,
)

# ---------------------------------------------------------------- the gate on its own


def test_calls_beyond_the_limit_are_refused_and_counted() -> None:
    capacity = CallCapacity(2)
    assert capacity.admit("CA1", {}) and capacity.admit("CA2", {})
    assert capacity.admit("CA1", {})  # Twilio retried the webhook: still one call
    assert not capacity.admit("CA3", {})
    assert capacity.snapshot({})["refused"] == {"webhook": 1, "stream": 0}
    capacity.release("CA2")  # final status: it never streamed
    assert capacity.admit("CA3", {})


def test_a_stream_refused_at_start_does_not_take_a_line() -> None:
    class Session:
        over_capacity = False

    talking, refused = Session(), Session()
    refused.over_capacity = True
    capacity = CallCapacity(1, hold_s=0.0)  # admissions lapse at once: streams decide
    assert capacity.admit_stream("CA1", {})
    assert not capacity.admit_stream("CA2", {"CA1": talking})
    assert capacity.in_progress({"CA1": talking, "CA2": refused}) == 1
    assert capacity.admit_stream("CA3", {"CA2": refused})  # the busy caller holds no line
    assert capacity.snapshot({})["refused"] == {"webhook": 0, "stream": 1}


# ---------------------------------------------------------------- over real sockets


@contextmanager
def serve(root: Path, orchestrator: str, **overrides: object) -> Iterator[tuple[Phone, FastAPI]]:
    settings = phone_settings(root, orchestrator, **overrides)
    store = SqlCallStore(f"sqlite:///{root / 'calls.db'}")
    app = create_app(settings, call_store=store)
    with live_server(app) as url:
        yield Phone(url, store, settings), app
    store.engine.dispose()


@pytest.fixture(scope="module")
def one_line(
    tmp_path_factory: pytest.TempPathFactory, orchestrator_url: str
) -> Iterator[tuple[Phone, FastAPI]]:
    with serve(tmp_path_factory.mktemp("one-line"), orchestrator_url, max_concurrent_calls=1) as p:
        yield p


@pytest.fixture(scope="module")
def caller_message(rhvoice: RHVoiceEngine) -> bytes:
    return pcm_to_mulaw(phone_line_8k(rhvoice_16k(rhvoice, CALL_BACK)))


def heard_words(stt: FasterWhisperEngine, wav: bytes) -> set[str]:
    """What Лидия said, as Whisper hears it (blocking: call it in a worker thread)."""
    return words_of(stt.transcribe(decode_audio(wav, sample_rate=16_000), "ru").text)


async def post_status(phone: Phone, call_sid: str, status: str) -> None:
    form = webhook_form(call_sid, CallStatus=status, CallDuration="3")
    async with httpx.AsyncClient(base_url=phone.url) as client:
        response = await client.post(
            "/twilio/status", data=form, headers=signed_headers("/twilio/status", form)
        )
    assert response.status_code == 204


async def test_a_call_beyond_capacity_hears_all_lines_busy_and_can_leave_a_message(
    one_line: tuple[Phone, FastAPI], russian_stt: FasterWhisperEngine
) -> None:
    phone, _ = one_line
    first, second, third = new_call_sid(), new_call_sid(), new_call_sid()
    assert "<Connect>" in await answer_call(phone, first)
    busy = await answer_call(phone, second)
    assert "<Connect>" not in busy and "purpose=message" in busy and "<Record" in busy
    play = re.search(r"<Play>([^<]+)</Play>", busy)
    assert play is not None and play.group(1).startswith(TEST_PUBLIC_BASE + "/audio/")
    async with httpx.AsyncClient(base_url=phone.url) as client:
        wav = (await client.get(play.group(1).removeprefix(TEST_PUBLIC_BASE))).content
    busy_words = await asyncio.to_thread(heard_words, russian_stt, wav)
    assert {"линии", "заняты", "сообщение"} <= busy_words, busy_words

    with httpx.Client(base_url=phone.url) as client:
        capacity = client.get("/health").json()["capacity"]
        samples = scrape(client)  # type: ignore[arg-type]
    assert capacity["max_concurrent_calls"] == 1 and capacity["calls_in_progress"] == 1
    assert value(samples, "lidia_phone_calls_refused_total", at="webhook") == 1
    assert value(samples, "lidia_phone_max_concurrent_calls") == 1
    await post_status(phone, second, "completed")  # waits for the record written after the answer
    events = [e.kind for e in await phone.store.events(second)]
    assert "over_capacity" in events

    await post_status(phone, first, "completed")  # it ended before streaming: the line is free
    assert "<Connect>" in await answer_call(phone, third)
    await post_status(phone, third, "completed")


async def test_the_busy_answer_does_not_wait_for_the_database(
    one_line: tuple[Phone, FastAPI],
) -> None:
    """While the call database is locked, a call beyond capacity still hears «все линии
    заняты» (a webhook that wrote first would hang past the client's 5 s timeout); its record
    is written once the database is free, and its final status finds and closes it."""
    phone, _ = one_line
    holder, refused = new_call_sid(), new_call_sid()
    assert "<Connect>" in await answer_call(phone, holder)
    database = sqlite3.connect(phone.store.engine.url.database, isolation_level=None)
    database.execute("BEGIN EXCLUSIVE")  # every other writer and reader waits now
    try:
        busy = await answer_call(phone, refused)
        assert "<Connect>" not in busy and "purpose=message" in busy
        status = asyncio.create_task(post_status(phone, refused, "completed"))
        await asyncio.sleep(0.2)  # the status callback arrives while the record is pending
    finally:
        database.execute("ROLLBACK")
        database.close()
    await status
    record = await phone.store.get_call(refused)
    assert record is not None and record.status == "completed" and record.duration_s == 3
    assert [e.kind for e in await phone.store.events(refused)] == ["over_capacity"]
    await post_status(phone, holder, "completed")


async def test_a_stream_beyond_capacity_takes_a_message_and_acknowledges_it(
    one_line: tuple[Phone, FastAPI],
    llm: FakeOpenAI,
    caller_message: bytes,
    russian_stt: FasterWhisperEngine,
) -> None:
    phone, app = one_line
    capacity: CallCapacity = app.state.phone.capacity
    capacity.hold_s = 0.0  # both webhooks admit (their holds lapse); the streams decide
    try:
        talking, busy = new_call_sid(), new_call_sid()
        params = [stream_parameters(await answer_call(phone, sid)) for sid in (talking, busy)]
        async with (
            client_for(phone, talking, parameters=params[0]) as first,
            client_for(phone, busy, parameters=params[1]) as second,
        ):
            for client, prompt in ((first, "greeting-end"), (second, "busy-end")):
                await client.connected()
                await client.start()
                await client.wait_for_mark(prompt)
            assert "greeting-end" not in second.marks()
            before = len(second.received)
            await second.media(caller_message, voiced=True)
            await second.media(silence_mulaw(2.0))
            await second.wait_for_mark("message_ack-end")
            ack = wav_bytes(mulaw_to_pcm(b"".join(second.media_payloads(after=before))), 8000)
            for client in (first, second):
                await client.stop()
                assert await client.closed()
    finally:
        capacity.hold_s = 30.0
    ack_words = await asyncio.to_thread(heard_words, russian_stt, ack)
    assert "записала" in ack_words, ack_words
    record = await phone.store.get_call(busy)
    assert record is not None and record.outcome == "message" and record.message_audio_path
    assert any(e.kind == "over_capacity" for e in await phone.store.events(busy))
    assert not await phone.store.turns(busy)  # nothing reached the orchestrator
    talked = await phone.store.get_call(talking)
    assert talked is not None and talked.outcome != "message"


# ---------------------------------------------------------------- one deadline per turn


async def test_no_audio_by_the_deadline_plays_the_apology_not_silence(
    tmp_path: Path, orchestrator_url: str, fake_openai: FakeOpenAI, utterance: bytes
) -> None:
    """Every event comes in time (the LLM's words 0.35 s apart), the reply's audio does not:
    a per-event timeout never fires; the turn's one deadline plays the apology instead."""
    slow = "Давайте я посмотрю что можно сделать для вас прямо сейчас сегодня."
    # Each word in time for the LLM's per-piece timeout, the sentence's end ~3.5 s late.
    fake_openai.reset(Script(pieces=[f" {word}" for word in slow.split()], token_delay_s=0.35))
    overrides = {"phone_first_audio_deadline_s": 1.5, "filler_delay_s": 30.0}
    try:
        with serve(tmp_path, orchestrator_url, **overrides) as (phone, _):
            call_sid = new_call_sid()
            parameters = stream_parameters(await answer_call(phone, call_sid))
            async with client_for(phone, call_sid, parameters=parameters) as client:
                await client.connected()
                await client.start()
                await client.wait_for_mark("greeting-end")
                await client.media(utterance, voiced=True)
                await client.media(silence_mulaw(1.0), realtime=True)  # the clock runs true
                await client.wait_for_mark("apology-end", within_s=15)
                assert "turn1-end" not in client.marks()
                await client.stop()
                assert await client.closed()
            turn = (await phone.store.turns(call_sid))[0]
    finally:
        fake_openai.reset(Script())
    assert turn.error and "no audio 1.5 s after the caller stopped speaking" in turn.error
