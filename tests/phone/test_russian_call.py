"""A whole Russian phone call over Media Streams: greeting, the caller's Russian request,
the LLM's answer spoken back, and a call record that holds the Russian transcript.

Everything runs over real sockets on 127.0.0.1: the orchestrator (multilingual Whisper base,
RHVoice, the fake OpenAI-compatible LLM) and the phone service each under uvicorn; the
scripted Twilio client speaks Twilio's protocol, with RHVoice Russian as the caller's voice
carried as 8 kHz μ-law, as the phone network carries it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from lidia.audio.codecs import mulaw_to_pcm, pcm_to_mulaw, rms
from lidia.orchestrator.app import create_app as create_orchestrator
from lidia.phone.app import create_app as create_phone
from lidia.phone.call_store import CallQuery, SqlCallStore
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.engines.rhvoice import RHVoiceEngine
from lidia.tts.service import VoiceService
from tests.conftest import make_settings
from tests.support.fake_llm_servers import FakeOpenAI, Script
from tests.support.live_server import live_server
from tests.support.russian_speech import (
    BOOKING,
    BOOKING_WORDS,
    phone_line_8k,
    rhvoice_16k,
    words_of,
)
from tests.support.twilio_client import (
    TEST_AUTH_TOKEN,
    TEST_PUBLIC_BASE,
    TwilioMediaClient,
    signed_headers,
    silence_mulaw,
    stream_parameters,
    webhook_form,
)

pytestmark = pytest.mark.slow

GREETING = "Здравствуйте! Вы позвонили в клинику. Чем могу помочь?"
REPLY = "Конечно. На какое время вас записать?"
WS_PUBLIC = TEST_PUBLIC_BASE.replace("https://", "wss://") + "/twilio/media"
_call_numbers = itertools.count(0x7E0)


@dataclass
class Phone:
    url: str
    store: SqlCallStore

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/twilio/media"


@pytest.fixture(scope="module")
def orchestrator_url(
    tmp_path_factory: pytest.TempPathFactory,
    russian_stt: FasterWhisperEngine,
    fallback_voice: VoiceService,
    fake_openai: FakeOpenAI,
) -> Iterator[str]:
    settings = make_settings(
        tmp_path_factory.mktemp("orchestrator-ru"),
        stt_language="ru",
        openai_base_url=fake_openai.base_url,
        openai_model="fake",
    )
    with live_server(create_orchestrator(settings, stt=russian_stt, tts=fallback_voice)) as url:
        yield url


def serve_phone(root: Path, orchestrator_url: str, **overrides: object) -> Iterator[Phone]:
    settings = make_settings(
        root,
        stt_language="ru",
        orchestrator_url=orchestrator_url,
        public_base_url=TEST_PUBLIC_BASE,
        twilio_auth_token=TEST_AUTH_TOKEN,
        twilio_account_sid="AC" + "0" * 32,
        greeting_text=GREETING,
        phone_turn_timeout_s=30.0,
        **overrides,
    )
    store = SqlCallStore(f"sqlite:///{root / 'calls.db'}")
    with live_server(create_phone(settings, call_store=store)) as url:
        yield Phone(url, store)
    store.engine.dispose()


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory, orchestrator_url: str) -> Iterator[Phone]:
    # The default settings: Silero marks speech on μ-law RHVoice ~250 ms after it starts,
    # and VAD_PRE_ROLL_MS (500 ms) keeps the first word (see the test below).
    yield from serve_phone(tmp_path_factory.mktemp("phone-ru"), orchestrator_url)


@pytest.fixture
def llm(fake_openai: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_openai.reset(Script(text=REPLY))
    yield fake_openai
    fake_openai.reset(Script())


@pytest.fixture(scope="module")
def caller_says(rhvoice: RHVoiceEngine) -> bytes:
    """The caller's request as the μ-law bytes Twilio would stream (no comma: one turn)."""
    return pcm_to_mulaw(phone_line_8k(rhvoice_16k(rhvoice, BOOKING)))


async def answer(phone: Phone, call_sid: str) -> dict[str, str]:
    """The call answered by the webhook; returns its stream's `<Parameter>`s."""
    form = webhook_form(call_sid)
    async with httpx.AsyncClient(base_url=phone.url) as client:
        response = await client.post(
            "/twilio/voice", data=form, headers=signed_headers("/twilio/voice", form)
        )
    assert response.status_code == 200, response.text
    return stream_parameters(response.text)


def is_speech(payloads: list[bytes]) -> bool:
    return bool(payloads) and rms(mulaw_to_pcm(b"".join(payloads))) > 0.01


async def call_and_say(phone: Phone, caller_says: bytes) -> str:
    """One call: greeting, the caller's utterance, the reply played; returns the CallSid."""
    call_sid = f"CA{next(_call_numbers):032x}"
    parameters = await answer(phone, call_sid)
    async with TwilioMediaClient(
        phone.ws_url, WS_PUBLIC, TEST_AUTH_TOKEN, call_sid, parameters=parameters
    ) as twilio:
        await twilio.connected()
        await twilio.start()
        await twilio.wait_for_mark("greeting-end")
        assert is_speech(twilio.media_payloads())
        before = len(twilio.received)
        await twilio.media(caller_says, voiced=True)
        await twilio.media(silence_mulaw(1.0))
        await twilio.wait_for_mark("turn1-end", within_s=60)
        assert is_speech(twilio.media_payloads(after=before))  # the reply was played
        await twilio.stop()
        assert await twilio.closed()
    return call_sid


async def test_a_russian_call_is_heard_answered_and_recorded(
    phone: Phone, llm: FakeOpenAI, caller_says: bytes
) -> None:
    call_sid = await call_and_say(phone, caller_says)

    turns = await phone.store.turns(call_sid)
    assert len(turns) == 1
    heard = turns[0].transcript or ""
    assert words_of(heard) >= BOOKING_WORDS, heard
    assert llm.requests[-1].body["messages"][-1]["content"] == heard
    assert turns[0].reply == REPLY and not turns[0].fallback
    found, total = await phone.store.search_calls(CallQuery(text="врачу"))
    assert call_sid in {summary.call.call_sid for summary in found}, total


async def test_the_first_word_survives_the_default_vad_settings(
    phone: Phone, llm: FakeOpenAI, caller_says: bytes
) -> None:
    """Regression: with only the 100 ms end pad before Silero's late start, «Запишите меня»
    was heard as «Шутим, и меня»; the 500 ms pre-roll keeps the first word."""
    call_sid = await call_and_say(phone, caller_says)

    turns = await phone.store.turns(call_sid)
    assert [t.transcript for t in turns if t.transcript]
    assert words_of(turns[-1].transcript or "") >= BOOKING_WORDS, turns[-1].transcript
