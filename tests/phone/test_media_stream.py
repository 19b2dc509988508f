"""Media Streams end to end: the scripted Twilio client ↔ phone service ↔ real orchestrator.

Everything runs over real sockets on 127.0.0.1: the orchestrator (tiny.en STT, RHVoice,
the fake OpenAI-compatible LLM) and the phone service each under uvicorn, and the client
speaks Twilio's protocol over a real WebSocket. Caller speech is espeak-ng English made at
test time (the test STT model is English-only).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from lidia.audio.codecs import mulaw_to_pcm, rms
from lidia.core.settings import Settings
from lidia.orchestrator.app import create_app as create_orchestrator
from lidia.phone.app import create_app
from lidia.phone.call_store import SqlCallStore
from lidia.secretary.brain import FALLBACK_REPLY
from tests.conftest import make_settings
from tests.support.fake_llm_servers import FakeOpenAI, Script
from tests.support.live_server import live_server
from tests.support.speech_fixtures import espeak_wav
from tests.support.twilio_client import (
    TEST_AUTH_TOKEN,
    TEST_PUBLIC_BASE,
    TwilioMediaClient,
    signed_headers,
    silence_mulaw,
    speech_mulaw,
    stream_parameters,
    webhook_form,
)

# No comma: espeak-ng pauses long enough at a comma to end a phone turn there.
UTTERANCE = "Hello I would like to book an appointment for tomorrow."
REPLY = "Здравствуйте! Чем могу помочь?"
WS_PUBLIC = TEST_PUBLIC_BASE.replace("https://", "wss://") + "/twilio/media"
_call_numbers = itertools.count(1)


@dataclass
class Phone:
    url: str
    store: SqlCallStore
    settings: Settings

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/twilio/media"


def phone_settings(root: Path, orchestrator_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "orchestrator_url": orchestrator_url,
        "public_base_url": TEST_PUBLIC_BASE,
        "twilio_auth_token": TEST_AUTH_TOKEN,
        "twilio_account_sid": "AC" + "0" * 32,
        "greeting_text": "Здравствуйте!",
        "phone_turn_timeout_s": 20.0,
    }
    values.update(overrides)
    return make_settings(root, **values)


@pytest.fixture(scope="module")
def orchestrator_url(
    tmp_path_factory: pytest.TempPathFactory, tiny_stt, fallback_voice, fake_openai: FakeOpenAI
) -> Iterator[str]:
    root = tmp_path_factory.mktemp("orchestrator")
    settings = make_settings(root, openai_base_url=fake_openai.base_url, openai_model="fake")
    app = create_orchestrator(settings, stt=tiny_stt, tts=fallback_voice)
    with live_server(app) as url:
        yield url


def serve_phone(root: Path, orchestrator_url: str, **overrides: object) -> Iterator[Phone]:
    settings = phone_settings(root, orchestrator_url, **overrides)
    store = SqlCallStore(f"sqlite:///{root / 'calls.db'}")
    with live_server(create_app(settings, call_store=store)) as url:
        yield Phone(url, store, settings)
    store.engine.dispose()


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory, orchestrator_url: str) -> Iterator[Phone]:
    yield from serve_phone(tmp_path_factory.mktemp("phone"), orchestrator_url)


@pytest.fixture(scope="module")
def phone_without_orchestrator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phone]:
    # Nothing listens on port 9 of the loopback: connection refused, like a crashed service.
    yield from serve_phone(tmp_path_factory.mktemp("phone-down"), "http://127.0.0.1:9")


@pytest.fixture
def llm(fake_openai: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_openai.reset(Script(text=REPLY))
    yield fake_openai
    fake_openai.reset(Script())


@pytest.fixture(scope="module")
def utterance() -> bytes:
    samples, rate = sf.read(io.BytesIO(espeak_wav(UTTERANCE)), dtype="float32")
    return speech_mulaw(samples, rate)


def new_call_sid() -> str:
    return f"CA{next(_call_numbers):032x}"


async def answer_call(phone: Phone, call_sid: str) -> str:
    form = webhook_form(call_sid)
    async with httpx.AsyncClient(base_url=phone.url) as client:
        response = await client.post(
            "/twilio/voice", data=form, headers=signed_headers("/twilio/voice", form)
        )
    assert response.status_code == 200
    return response.text


def client_for(phone: Phone, call_sid: str, **kwargs: object) -> TwilioMediaClient:
    return TwilioMediaClient(phone.ws_url, WS_PUBLIC, TEST_AUTH_TOKEN, call_sid, **kwargs)


async def start_call(client: TwilioMediaClient) -> None:
    await client.connected()
    await client.start()
    await client.wait_for_mark("greeting-end")


@asynccontextmanager
async def greeted_call(phone: Phone) -> AsyncIterator[tuple[str, TwilioMediaClient]]:
    """A new call answered by the webhook, its media stream started, the greeting played."""
    call_sid = new_call_sid()
    twiml = await answer_call(phone, call_sid)
    async with client_for(phone, call_sid, parameters=stream_parameters(twiml)) as client:
        await start_call(client)
        yield call_sid, client


def assert_valid_mulaw_speech(payloads: list[bytes]) -> None:
    assert payloads and all(len(p) == 160 for p in payloads)  # 20 ms at 8 kHz, 1 byte each
    assert rms(mulaw_to_pcm(b"".join(payloads))) > 0.01


async def test_a_call_greets_answers_and_is_recorded(
    phone: Phone, llm: FakeOpenAI, utterance: bytes
) -> None:
    async with greeted_call(phone) as (call_sid, client):
        assert_valid_mulaw_speech(client.media_payloads())  # the greeting
        before = len(client.received)
        await client.media(utterance, voiced=True)
        await client.media(silence_mulaw(1.0))
        await client.wait_for_mark("turn1-end")
        assert_valid_mulaw_speech(client.media_payloads(after=before))
        assert "turn1-s1" in client.marks()  # a mark after the first of two sentences
        await client.stop()
        assert await client.closed()

    record = await phone.store.get_call(call_sid)
    assert record is not None and record.outcome == "conversation" and record.ended_at
    turns = await phone.store.turns(call_sid)
    assert len(turns) == 1
    turn = turns[0]
    assert {"hello", "appointment", "tomorrow"} <= set(
        re.findall(r"[a-z]+", turn.transcript.lower())
    )
    assert turn.reply == REPLY and not turn.fallback and not turn.barge_in
    assert turn.heard_ms and turn.heard_ms > 500  # every mark echoed: all of it was heard
    caller, _ = sf.read(turn.caller_audio_path)
    reply, _ = sf.read(turn.reply_audio_path)
    assert len(caller) > 8000 and len(reply) > 8000
    for stage in ("vad_wait_s", "transcript_s", "first_audio_event_s", "first_frame_s"):
        assert turn.latencies[stage] >= 0
    assert llm.requests[-1].body["messages"][-1]["content"] == turn.transcript
    caller_wav = Path(phone.settings.calls_log_dir, call_sid, "caller.wav")
    assert await asyncio.to_thread(caller_wav.is_file)


async def test_barge_in_clears_playback_and_records_what_was_heard(
    phone: Phone, llm: FakeOpenAI, utterance: bytes
) -> None:
    async with greeted_call(phone) as (call_sid, client):
        client.auto_echo_marks = False  # from now on the "phone" is still playing
        before = len(client.received)
        await client.media(utterance, voiced=True)
        await client.media(silence_mulaw(0.6))
        await client.wait_for(lambda: bool(client.media_payloads(after=before)))
        await client.media(utterance, voiced=True)  # the caller talks over Лидия
        await client.wait_for(lambda: bool(client.messages("clear")))
        await client.stop()
        assert await client.closed()

    turns = await phone.store.turns(call_sid)
    assert turns[0].barge_in
    assert turns[0].heard_ms is not None and turns[0].heard_ms >= 0
    events = [e.kind for e in await phone.store.events(call_sid)]
    assert "barge_in" in events


async def test_llm_failure_gives_the_fallback_reply(
    phone: Phone, fake_openai: FakeOpenAI, utterance: bytes
) -> None:
    fake_openai.reset(Script(fail_first=100, fail_status=500))
    try:
        async with greeted_call(phone) as (call_sid, client):
            before = len(client.received)
            await client.media(utterance, voiced=True)
            await client.media(silence_mulaw(1.0))
            await client.wait_for_mark("turn1-end")
            assert_valid_mulaw_speech(client.media_payloads(after=before))
            await client.stop()
            assert await client.closed()
    finally:
        fake_openai.reset(Script())
    turn = (await phone.store.turns(call_sid))[0]
    assert turn.fallback and turn.reply == FALLBACK_REPLY


async def test_malformed_messages_are_ignored_and_the_call_goes_on(
    phone: Phone, llm: FakeOpenAI, utterance: bytes
) -> None:
    async with greeted_call(phone) as (call_sid, client):
        await client.send("this is not json")
        await client.send(b"\x00\x01binary")
        await client.send({"event": "media"})  # no media field
        await client.send({"event": "media", "media": {"payload": "%%% not base64"}})
        await client.send({"event": "teleport"})
        await client.send("[1, 2, 3]")
        await client.send({"event": ["not", "a", "string"]})
        await client.send({"event": {"nested": 1}})
        await client.dtmf("X")  # not a key on any phone
        before = len(client.received)
        await client.media(utterance, voiced=True)
        await client.media(silence_mulaw(1.0))
        await client.wait_for_mark("turn1-end")
        assert_valid_mulaw_speech(client.media_payloads(after=before))
        await client.stop()
        assert await client.closed()
    events = await phone.store.events(call_sid)
    assert sum(e.kind == "protocol_error" for e in events) == 9
    record = await phone.store.get_call(call_sid)
    assert record is not None and record.dtmf == ""
    assert (await phone.store.turns(call_sid))[0].reply == REPLY


async def test_dtmf_digits_reach_the_conversation(phone: Phone, llm: FakeOpenAI) -> None:
    async with greeted_call(phone) as (call_sid, client):
        await client.dtmf("1")
        await client.dtmf("2")
        await client.wait_for_mark("turn1-end")
        await client.stop()
        assert await client.closed()  # the service has finished writing the call
    turn = (await phone.store.turns(call_sid))[0]
    assert turn.transcript == "[DTMF 12]" and turn.reply == REPLY
    assert llm.requests[-1].body["messages"][-1]["content"] == "[DTMF 12]"
    record = await phone.store.get_call(call_sid)
    assert record is not None and record.dtmf == "12"


async def test_orchestrator_down_plays_the_apology_and_records_a_message(
    phone_without_orchestrator: Phone, utterance: bytes
) -> None:
    phone = phone_without_orchestrator
    # The greeting comes from espeak-ng: still not silent.
    async with greeted_call(phone) as (call_sid, client):
        before = len(client.received)
        await client.media(utterance, voiced=True)
        await client.media(silence_mulaw(0.5))
        await client.wait_for_mark("apology-end")
        assert_valid_mulaw_speech(client.media_payloads(after=before))
        await client.media(utterance, voiced=True)  # the message
        await client.media(silence_mulaw(0.5))
        await asyncio.sleep(0.2)
        await client.stop()
        assert await client.closed()
    record = await phone.store.get_call(call_sid)
    assert record is not None and record.outcome == "message" and record.errors
    message, rate = sf.read(record.message_audio_path)
    assert rate == 8000 and len(message) >= len(utterance)
    turn = (await phone.store.turns(call_sid))[0]
    assert turn.error and await asyncio.to_thread(Path(turn.caller_audio_path).is_file)


async def test_a_stream_for_an_unknown_call_is_closed(phone: Phone) -> None:
    async with client_for(phone, "CA" + "f" * 32) as client:
        await client.connected()
        await client.start()
        assert await client.closed()
    assert client.close_code == 1008
    assert not client.media_payloads()
    assert np.isclose(len(client.received), 0)
