"""A whole Russian phone call over Media Streams: greeting, the caller's Russian request,
the LLM's answer spoken back, and a call record that holds the Russian transcript.

Everything runs over real sockets on 127.0.0.1: the orchestrator (multilingual Whisper base,
RHVoice, the fake OpenAI-compatible LLM) and the phone service each under uvicorn; the
scripted Twilio client speaks Twilio's protocol, with RHVoice Russian as the caller's voice
carried as 8 kHz μ-law, as the phone network carries it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lidia.audio.codecs import mulaw_to_pcm, rms
from lidia.phone.call_store import CallQuery
from lidia.tts.engines.rhvoice import RHVoiceEngine
from tests.support.fake_llm_servers import FakeOpenAI
from tests.support.russian_phone import (
    Phone,
    answered,
    caller_mulaw,
    llm_replying,
    serve_russian_phone,
)
from tests.support.russian_speech import BOOKING, BOOKING_WORDS, words_of
from tests.support.twilio_client import silence_mulaw

pytestmark = pytest.mark.slow

GREETING = "Здравствуйте! Вы позвонили в клинику. Чем могу помочь?"
REPLY = "Конечно. На какое время вас записать?"


@pytest.fixture(scope="module")
def orchestrator_url(russian_orchestrator_url: str) -> str:
    """The module's Russian orchestrator, by the name other modules import it under."""
    return russian_orchestrator_url


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory, orchestrator_url: str) -> Iterator[Phone]:
    # The default settings: Silero marks speech on μ-law RHVoice ~250 ms after it starts,
    # and VAD_PRE_ROLL_MS (500 ms) keeps the first word (see the test below).
    root = tmp_path_factory.mktemp("phone-ru")
    with serve_russian_phone(root, orchestrator_url, greeting_text=GREETING) as phone:
        yield phone


@pytest.fixture
def llm(fake_openai: FakeOpenAI) -> Iterator[FakeOpenAI]:
    yield from llm_replying(fake_openai, REPLY)


@pytest.fixture(scope="module")
def caller_says(rhvoice: RHVoiceEngine) -> bytes:
    """The caller's request as the μ-law bytes Twilio would stream (no comma: one turn)."""
    return caller_mulaw(rhvoice, BOOKING)


def is_speech(payloads: list[bytes]) -> bool:
    return bool(payloads) and rms(mulaw_to_pcm(b"".join(payloads))) > 0.01


async def call_and_say(phone: Phone, caller_says: bytes) -> str:
    """One call: greeting, the caller's utterance, the reply played; returns the CallSid."""
    twilio = await answered(phone)
    async with twilio:
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
    return twilio.call_sid


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
