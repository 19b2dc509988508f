"""The call as it happened: the stereo `call.wav` (caller left, Лидия right), the transcript
of both sides with offsets, the dashboard's timeline, and a call cut off by a shutdown.

Real sockets on 127.0.0.1: the orchestrator (multilingual Whisper base, RHVoice, the fake
OpenAI-compatible LLM) and the phone service under uvicorn, the scripted Twilio client on the
other end. The call's clock is the caller's audio: while the client sends nothing it stands
still, so DTMF (answered after a 1 s gap without media) puts a reply and a barge-in at call
times the test knows to the sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from lidia.admin.wording import outcome_ru
from lidia.audio.codecs import float_to_int16, mulaw_to_pcm
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.engines.rhvoice import RHVoiceEngine
from lidia.tts.service import VoiceService
from tests.support.fake_llm_servers import FakeOpenAI, Script
from tests.support.live_server import live_server
from tests.support.russian_phone import (
    Phone,
    answered,
    caller_mulaw,
    russian_orchestrator,
    serve_russian_phone,
)
from tests.support.russian_speech import BOOKING, BOOKING_WORDS, words_of
from tests.support.twilio_client import TwilioMediaClient, silence_mulaw

pytestmark = pytest.mark.slow

GREETING = "Здравствуйте! Клиника «Здоровье», слушаю вас."
APOLOGY = "Извините, сейчас я не могу ответить. Оставьте сообщение после сигнала."
REPLY = "Конечно. На какое время вас записать?"
AUTH = ("owner", "s3cret-пароль")
FRAME = 160  # bytes (= samples) of one 20 ms μ-law frame
DOWN = "http://127.0.0.1:9"  # nothing listens there


@dataclass
class ScriptedCall:
    """What the client sent and got, and the call times (samples) it put them at."""

    call_sid: str
    inbound: bytes  # everything the client sent, in order
    greeting: bytes
    reply: bytes
    reply_at: int
    cut: int  # where the barge-in's `clear` stopped the reply
    apology: bytes  # the apology and its beep


@dataclass
class RecordedCalls:
    phone: Phone
    scripted: ScriptedCall
    spoken_sid: str  # a call where the caller spoke Russian (VAD turn, not DTMF)
    spoken_at: int  # where the caller's speech began in that call


def pcm(mulaw: bytes) -> np.ndarray:
    return float_to_int16(mulaw_to_pcm(mulaw))


def read_stereo(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)


def serve_phone(root: Path, orchestrator_url: str) -> contextlib.AbstractContextManager[Phone]:
    return serve_russian_phone(
        root,
        orchestrator_url,
        greeting_text=GREETING,
        apology_text=APOLOGY,
        admin_username=AUTH[0],
        admin_password=AUTH[1],
        admin_secret="test-secret",
    )


async def send(twilio: TwilioMediaClient, inbound: bytearray, mulaw: bytes) -> None:
    await twilio.media(mulaw)
    inbound += mulaw


async def spoken_call(phone: Phone, speech: bytes) -> tuple[str, int]:
    """Greeting, 0.6 s of silence, the caller's Russian request, the reply."""
    twilio = await answered(phone)
    async with twilio:
        await twilio.connected()
        await twilio.start()
        await twilio.wait_for_mark("greeting-end")
        await twilio.media(silence_mulaw(0.6))
        await twilio.media(speech)
        await twilio.media(silence_mulaw(1.0))
        before = len(twilio.received)
        await twilio.wait_for_mark("turn1-end", within_s=60)
        reply = b"".join(twilio.media_payloads(after=before))
        await twilio.media(silence_mulaw(len(reply) / 8000))  # hung up once she finished
        await twilio.stop()
        assert await twilio.closed()
    return twilio.call_sid, 4800


async def scripted_call(phone: Phone, stop_orchestrator: object, message: bytes) -> ScriptedCall:
    """Greeting; DTMF 1 → a reply; DTMF 2 barges in halfway through it; the orchestrator is
    gone by then, so the apology and beep play; the caller leaves a Russian message."""
    inbound = bytearray()
    twilio = await answered(phone)
    async with twilio:
        await twilio.connected()
        await twilio.start()
        await twilio.wait_for_mark("greeting-end")
        greeting = b"".join(twilio.media_payloads())
        await send(twilio, inbound, silence_mulaw(0.4))
        twilio.auto_echo_marks = False  # from here on the phone is still playing what it got
        before = len(twilio.received)
        await twilio.dtmf("1")
        await twilio.wait_for_mark("turn1-end", within_s=60)
        reply = b"".join(twilio.media_payloads(after=before))
        reply_at = max(len(inbound), len(greeting))  # queued behind the greeting, if need be

        halfway = (reply_at + len(reply) // 2 - len(inbound)) // FRAME * FRAME
        await send(twilio, inbound, silence_mulaw(halfway / 8000))
        cut = len(inbound)
        await asyncio.to_thread(stop_orchestrator)  # type: ignore[arg-type]
        before = len(twilio.received)
        await twilio.dtmf("2")  # while the reply still plays: barge-in, then a failing turn
        await twilio.wait_for_mark("apology-end", within_s=60)
        assert twilio.messages("clear")
        apology = b"".join(twilio.media_payloads(after=before))

        await send(twilio, inbound, silence_mulaw(len(apology) / 8000))  # she finishes
        await send(twilio, inbound, message)
        await send(twilio, inbound, silence_mulaw(0.5))
        await asyncio.sleep(0.2)
        await twilio.stop()
        assert await twilio.closed()
    return ScriptedCall(twilio.call_sid, bytes(inbound), greeting, reply, reply_at, cut, apology)


@pytest.fixture(scope="module")
def calls(
    tmp_path_factory: pytest.TempPathFactory,
    russian_stt: FasterWhisperEngine,
    fallback_voice: VoiceService,
    fake_openai: FakeOpenAI,
    rhvoice: RHVoiceEngine,
) -> Iterator[RecordedCalls]:
    root = tmp_path_factory.mktemp("orchestrator-rec")
    speech = caller_mulaw(rhvoice, BOOKING)
    fake_openai.reset(Script(text=REPLY))
    orchestrator = live_server(russian_orchestrator(root, russian_stt, fallback_voice, fake_openai))
    orchestrator_url = orchestrator.__enter__()
    running = [True]

    def stop_orchestrator() -> None:  # mid-call, so that the next turn fails
        if running.pop() if running else False:
            orchestrator.__exit__(None, None, None)

    try:
        with serve_phone(tmp_path_factory.mktemp("phone-rec"), orchestrator_url) as phone:
            spoken_sid, spoken_at = asyncio.run(spoken_call(phone, speech))
            scripted = asyncio.run(scripted_call(phone, stop_orchestrator, speech))
            yield RecordedCalls(phone, scripted, spoken_sid, spoken_at)
    finally:
        stop_orchestrator()
        fake_openai.reset(Script())


async def call_file(phone: Phone, call_sid: str, name: str = "call.wav", **params: str) -> bytes:
    async with httpx.AsyncClient(base_url=phone.url, auth=AUTH) as client:
        response = await client.get(f"/admin/calls/{call_sid}/audio/{name}", params=params)
    assert response.status_code == 200, response.text
    return response.content


async def test_the_stereo_call_holds_both_sides_sample_by_sample(calls: RecordedCalls) -> None:
    call = calls.scripted
    assert call.reply_at < call.cut < call.reply_at + len(call.reply)  # cut mid-reply
    path = calls.phone.calls_dir / call.call_sid / "call.wav"
    frames = read_stereo(await asyncio.to_thread(path.read_bytes))

    assert np.array_equal(frames[:, 0], pcm(call.inbound))  # the caller, all of it
    lidia = np.zeros(len(call.inbound), dtype=np.int16)
    lidia[: len(call.greeting)] = pcm(call.greeting)
    lidia[call.reply_at : call.cut] = pcm(call.reply)[: call.cut - call.reply_at]
    lidia[call.cut : call.cut + len(call.apology)] = pcm(call.apology)
    assert np.array_equal(frames[:, 1], lidia)
    assert np.abs(frames[: len(call.greeting), 1]).max() > 1000  # she is not silent

    record = await calls.phone.store.get_call(call.call_sid)
    assert record is not None and record.outcome == "message"
    turns = await calls.phone.store.turns(call.call_sid)
    assert turns[0].barge_in and turns[0].reply == REPLY and turns[1].error
    assert turns[0].reply_offset_s == round(call.reply_at / 8000, 3)
    prompts = [e.data for e in await calls.phone.store.events(call.call_sid) if e.kind == "prompt"]
    assert [(p["name"], p["text"], p["offset_s"]) for p in prompts] == [
        ("greeting", GREETING, 0.0),
        ("apology", APOLOGY, round(call.cut / 8000, 3)),
    ]


async def test_the_mono_mixdown_averages_the_two_sides(calls: RecordedCalls) -> None:
    sid = calls.scripted.call_sid
    stereo = read_stereo(await call_file(calls.phone, sid)).astype(np.int32)
    mono_wav = await call_file(calls.phone, sid, mix="mono")
    with wave.open(io.BytesIO(mono_wav)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (1, 8000)
        mono = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    assert np.array_equal(mono, np.rint(stereo.mean(axis=1)).astype(np.int16))
    async with httpx.AsyncClient(base_url=calls.phone.url, auth=AUTH) as client:
        bad = await client.get(f"/admin/calls/{sid}/audio/call.wav", params={"mix": "5.1"})
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "mix"


async def test_the_transcript_holds_both_sides_with_their_offsets(calls: RecordedCalls) -> None:
    sid, spoken_at = calls.spoken_sid, calls.spoken_at
    [turn] = await calls.phone.store.turns(sid)
    assert words_of(turn.transcript or "") >= BOOKING_WORDS, turn.transcript
    # The utterance starts where the caller began, less the VAD's pre-roll (500 ms).
    assert turn.caller_offset_s is not None
    assert spoken_at / 8000 - 0.6 <= turn.caller_offset_s <= spoken_at / 8000 + 0.4
    assert turn.reply_offset_s is not None and turn.reply_offset_s > turn.caller_offset_s + 1.0

    async with httpx.AsyncClient(base_url=calls.phone.url, auth=AUTH) as client:
        exported = (await client.get(f"/admin/calls/{sid}/export.json")).json()
    lines = [(line["who"], line["kind"], line["text"]) for line in exported["conversation"]]
    assert lines == [
        ("lidia", "prompt", GREETING),
        ("caller", "utterance", turn.transcript),
        ("lidia", "reply", REPLY),
    ]
    offsets = [line["offset_s"] for line in exported["conversation"]]
    assert offsets == [0.0, turn.caller_offset_s, turn.reply_offset_s]


async def test_the_call_page_plays_the_stereo_call_with_a_timeline(calls: RecordedCalls) -> None:
    call = calls.scripted
    async with httpx.AsyncClient(base_url=calls.phone.url, auth=AUTH) as client:
        page = (await client.get(f"/admin/calls/{call.call_sid}")).text
        script = (await client.get("/admin/static/admin.js")).text
    assert f'src="/admin/calls/{call.call_sid}/audio/call.wav"' in page
    assert "?mix=mono" in page and "слева звонящий, справа Лидия" in page
    timeline = page[page.index('id="call-timeline"') :]
    seeks = [float(v) for v in re.findall(r'data-seek="([0-9.]+)"', timeline)]
    assert seeks == sorted(seeks) and seeks[0] == 0.0
    assert round(call.reply_at / 8000, 3) in seeks and round(call.cut / 8000, 3) in seeks
    assert timeline.index(GREETING) < timeline.index(REPLY) < timeline.index(APOLOGY)
    assert "currentTime" in script and "data-seek" in script


async def test_a_call_cut_off_by_a_shutdown_is_interrupted_and_its_audio_saved(
    tmp_path: Path, rhvoice: RHVoiceEngine
) -> None:
    speech = caller_mulaw(rhvoice, BOOKING)
    server = serve_phone(tmp_path, DOWN)  # the greeting comes from espeak-ng then
    phone = server.__enter__()
    try:
        twilio = await answered(phone)
        async with twilio:
            await twilio.connected()
            await twilio.start()
            await twilio.wait_for_mark("greeting-end")
            greeting = b"".join(twilio.media_payloads())
            await twilio.media(silence_mulaw(0.2) + speech[:4000])  # mid-sentence
            await asyncio.sleep(0.3)
            await asyncio.to_thread(server.__exit__, None, None, None)  # SIGTERM's path
            assert await twilio.closed()
    finally:
        with contextlib.suppress(Exception):
            server.__exit__(None, None, None)
    record = await phone.store.get_call(twilio.call_sid)
    assert record is not None and record.outcome == "interrupted" and record.ended_at
    events = await phone.store.events(twilio.call_sid)
    assert any(e.kind == "interrupted" and e.data["close_code"] == 1012 for e in events)
    assert outcome_ru("interrupted") == "прерван: служба остановилась во время звонка"
    folder = phone.calls_dir / twilio.call_sid
    frames = read_stereo(await asyncio.to_thread((folder / "call.wav").read_bytes))
    assert len(frames) == 1600 + 4000 and await asyncio.to_thread((folder / "caller.wav").is_file)
    assert np.array_equal(frames[:, 0], pcm(silence_mulaw(0.2) + speech[:4000]))
    assert np.array_equal(frames[: len(greeting), 1], pcm(greeting)[: len(frames)])
