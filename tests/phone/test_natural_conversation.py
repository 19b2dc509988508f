"""A Russian phone conversation that feels natural (issue 11), over real sockets end to end.

The orchestrator (multilingual Whisper base, RHVoice, the fake OpenAI-compatible LLM) and the
phone service run under uvicorn; the scripted Twilio client streams RHVoice Russian as 8 kHz
μ-law. A pause inside one sentence is silence inserted into that sentence's audio.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from lidia.tts.engines.rhvoice import RHVoiceEngine
from tests.phone.test_media_stream import Phone, greeted_call, serve_phone
from tests.support.fake_llm_servers import FakeOpenAI, Script
from tests.support.russian_phone import llm_replying
from tests.support.russian_speech import BOOKING, normalise, words_of
from tests.support.turn_speech import (
    BOOKING_THURSDAY,
    INTERRUPTION,
    mulaw,
    spoken_8k,
    with_pause,
)
from tests.support.twilio_client import TwilioMediaClient, silence_mulaw

pytestmark = pytest.mark.slow

REPLY = "Конечно, запишу вас. На какое время вам удобно? Утром или после обеда?"


@pytest.fixture(scope="module")
def russian_orchestrator_settings() -> dict[str, object]:
    return {"llm_timeout_s": 30.0}  # the slow LLM below is slow, not dead


@pytest.fixture(scope="module")
def phone(
    tmp_path_factory: pytest.TempPathFactory, russian_orchestrator_url: str
) -> Iterator[Phone]:
    # Wide delays: a loaded CI box takes seconds to transcribe, and a fast reply must stay fast.
    yield from serve_phone(
        tmp_path_factory.mktemp("phone-turns"),
        russian_orchestrator_url,
        stt_language="ru",
        phone_turn_timeout_s=60.0,
        phone_first_audio_deadline_s=10.0,
        filler_delay_s=3.0,
    )


@pytest.fixture
def llm(fake_openai: FakeOpenAI) -> Iterator[FakeOpenAI]:
    yield from llm_replying(fake_openai, REPLY)


@pytest.fixture(scope="module")
def speech(rhvoice: RHVoiceEngine) -> Callable[[str], bytes]:
    return lambda text: mulaw(spoken_8k(rhvoice, text))


async def event_kinds(phone: Phone, call_sid: str) -> list[str]:
    return [event.kind for event in await phone.store.events(call_sid)]


async def wait_for_event(phone: Phone, call_sid: str, kind: str, within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while kind not in await event_kinds(phone, call_sid):
        assert time.monotonic() < deadline, f"no {kind!r} event within {within_s} s"
        await asyncio.sleep(0.1)


async def finish(client: TwilioMediaClient) -> None:
    await client.stop()
    assert await client.closed(within_s=60)


async def reply_playing(client: TwilioMediaClient, caller: bytes) -> int:
    """The caller asks; returns once Лидия's reply audio is arriving (marks left unechoed)."""
    client.auto_echo_marks = False  # the phone is still playing what it was sent
    before = len(client.received)
    await client.media(caller + silence_mulaw(1.0), voiced=True)
    await client.wait_for(lambda: bool(client.media_payloads(after=before)), within_s=90)
    return len(client.received)


async def test_a_mid_sentence_pause_is_one_turn_answered_once(
    phone: Phone, llm: FakeOpenAI, rhvoice: RHVoiceEngine
) -> None:
    paused = mulaw(with_pause(spoken_8k(rhvoice, BOOKING_THURSDAY), 0.5))
    asked = len(llm.requests)
    async with greeted_call(phone) as (call_sid, client):
        await client.media(paused + silence_mulaw(1.5), realtime=True, voiced=True)
        await client.wait_for_mark("turn1-end", within_s=90)
        await finish(client)
    turns = await phone.store.turns(call_sid)
    assert len(turns) == 1, [t.transcript for t in turns]
    assert words_of(turns[0].transcript or "") >= {"записаться", "четверг"}, turns[0].transcript
    assert turns[0].reply == REPLY and not turns[0].barge_in
    assert len(llm.requests) - asked == 1  # answered once, never on the fragment
    assert "clear" not in {m.get("event") for m in (r.message for r in client.received)}


async def test_a_backchannel_during_a_reply_sends_no_clear(
    phone: Phone, llm: FakeOpenAI, speech: Callable[[str], bytes]
) -> None:
    async with greeted_call(phone) as (call_sid, client):
        await reply_playing(client, speech(BOOKING))
        await client.media(speech("Угу.") + silence_mulaw(1.0), voiced=True)
        await wait_for_event(phone, call_sid, "backchannel")
        assert not client.messages("clear")
        await finish(client)
    assert "barge_in" not in await event_kinds(phone, call_sid)
    turns = await phone.store.turns(call_sid)
    assert len(turns) == 1 and not turns[0].barge_in  # «угу» is an event, not a turn


async def test_a_real_interruption_clears_at_once(
    phone: Phone, llm: FakeOpenAI, speech: Callable[[str], bytes]
) -> None:
    async with greeted_call(phone) as (call_sid, client):
        await reply_playing(client, speech(BOOKING))
        await client.media(speech(INTERRUPTION) + silence_mulaw(2.5), voiced=True)
        await client.wait_for(lambda: bool(client.messages("clear")), within_s=10)
        await client.wait_for_mark("turn2-end", within_s=90)
        await finish(client)
    turns = await phone.store.turns(call_sid)
    assert turns[0].barge_in and "barge_in" in await event_kinds(phone, call_sid)
    # Heard whole, to its last word: Whisper base sometimes splits «субботу» («суд в боту»),
    # so the sentence's last letters are checked, not the word.
    heard = turns[1].transcript or ""
    assert "подождите" in words_of(heard), heard
    assert normalise(heard).replace(" ", "").endswith("боту"), heard


async def test_a_slow_llm_gets_a_filler_and_a_fast_one_does_not(
    phone: Phone, fake_openai: FakeOpenAI, speech: Callable[[str], bytes]
) -> None:
    calls = {}
    try:
        fake_openai.reset(Script(text=REPLY, first_token_delay_s=8.0))
        async with greeted_call(phone) as (calls["slow"], client):
            await client.media(speech(BOOKING) + silence_mulaw(2.5), voiced=True)
            await client.wait_for_mark("turn1-end", within_s=90)
            await finish(client)
        # Fast: a typed digit skips STT, whose seconds on a loaded CI box would not be fast.
        fake_openai.reset(Script(text=REPLY))
        async with greeted_call(phone) as (calls["fast"], client):
            await client.dtmf("1")
            await client.wait_for_mark("turn1-end", within_s=90)
            await finish(client)
    finally:
        fake_openai.reset(Script())
    assert "filler" in await event_kinds(phone, calls["slow"])
    slow_turn = (await phone.store.turns(calls["slow"]))[0]
    since_caller_finished = slow_turn.latencies["filler_s"] + slow_turn.latencies["vad_wait_s"]
    assert slow_turn.reply == REPLY and since_caller_finished >= 2.9  # FILLER_DELAY_S, 3 s
    fast_turn = (await phone.store.turns(calls["fast"]))[0]
    assert "filler" not in await event_kinds(phone, calls["fast"]), fast_turn.latencies
    assert fast_turn.reply == REPLY


async def test_a_reply_prepared_in_a_pause_the_caller_talked_over_leaves_no_trace(
    phone: Phone, llm: FakeOpenAI, rhvoice: RHVoiceEngine
) -> None:
    # «Запишите меня | к врачу на завтра.»: the first half sounds finished (P≈0.96), so a
    # reply is prepared in the pause; the caller goes on, and it is dropped unheard.
    paused = mulaw(with_pause(spoken_8k(rhvoice, "Запишите меня к врачу на завтра."), 0.6))
    async with greeted_call(phone) as (call_sid, client):
        await client.media(paused + silence_mulaw(1.5), realtime=True, voiced=True)
        await client.wait_for_mark("turn1-end", within_s=90)
        asked = len(llm.requests)
        await client.media(mulaw(spoken_8k(rhvoice, "Спасибо, до свидания.")), voiced=True)
        await client.media(silence_mulaw(1.5), realtime=True)
        await client.wait_for_mark("turn2-end", within_s=90)
        await finish(client)
    turns = await phone.store.turns(call_sid)
    assert [t.turn_index for t in turns] == [1, 2], [t.transcript for t in turns]
    assert "врач" in (turns[0].transcript or "").lower(), turns[0].transcript
    # The second turn's history: the first turn whole, and nothing of the dropped fragment.
    messages = llm.requests[asked].body["messages"]
    users = [m["content"] for m in messages if m["role"] == "user"]
    assert len(users) == 2 and "врач" in users[0].lower(), users
    assert [m["content"] for m in messages if m["role"] == "assistant"] == [REPLY]
