"""Phone turn latency: caller's last voiced frame → first outbound reply frame, on each carrier
(Twilio Media Streams; Asterisk chan_websocket; Asterisk AudioSocket), against the same turn
through `/process_call` alone, in one run, the carriers' turns interleaved.

Real sockets on 127.0.0.1: the orchestrator (tiny.en STT, RHVoice, the fake OpenAI LLM) and one
phone service under uvicorn serving all three; the scripted Twilio client and the scripted
Asterisk (`tests.support.asterisk_peer`) send the same utterance as 20 ms frames in real time
(μ-law for Twilio, the same samples as 16-bit PCM for Asterisk). The first reply frame is the
first audio message after the last voiced frame (AudioSocket: the first that is not the digital
silence the app keeps the line alive with).
Run: python bench/bench_phone.py
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from statistics import median

import httpx
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lidia.audio.codecs import float_to_int16, mulaw_to_pcm, rms, wav_bytes
from lidia.orchestrator.app import create_app as create_orchestrator
from lidia.phone.app import create_app as create_phone
from lidia.phone.call_store import SqlCallStore
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.service import VoiceService
from tests.conftest import make_settings
from tests.phone.test_media_stream import WS_PUBLIC, phone_settings
from tests.support.asterisk_peer import AudioSocketPeer, ChanWebSocketPeer
from tests.support.fake_llm_servers import FakeOpenAI, Script
from tests.support.live_server import live_server
from tests.support.replicas import free_port
from tests.support.speech_fixtures import espeak_wav, tiny_en_model_path
from tests.support.twilio_client import (
    TEST_AUTH_TOKEN,
    TwilioMediaClient,
    signed_headers,
    silence_mulaw,
    speech_mulaw,
    stream_parameters,
    webhook_form,
)

TURNS = 5  # per carrier: single turns on a shared box vary by ±0.5 s
UTTERANCE = "Hello I would like to book an appointment for tomorrow."
REPLY = "Здравствуйте! Чем могу помочь?"


def split_trailing_silence(mulaw: bytes) -> tuple[bytes, bytes]:
    """(voiced part, trailing quiet part): "last voiced frame" must mean the caller's last
    word, not the quiet tail espeak-ng leaves in its WAV."""
    frames = [mulaw[i : i + 160] for i in range(0, len(mulaw), 160)]
    last = max(i for i, f in enumerate(frames) if rms(mulaw_to_pcm(f)) > 0.01)
    return b"".join(frames[: last + 1]), b"".join(frames[last + 1 :])


ASTERISK_USER, ASTERISK_PASSWORD = "asterisk", "bench-secret"
CALLER, COMPANY = "+79161234567", "+74951234567"
Turn = Callable[[int], Awaitable[dict]]


def slin(mulaw: bytes) -> bytes:
    """The caller's μ-law as the 16-bit PCM Asterisk carries (the very same samples)."""
    return float_to_int16(mulaw_to_pcm(mulaw)).tobytes()


async def twilio_turn(phone_url: str, store: SqlCallStore, mulaw: bytes, n: int) -> dict:
    call_sid = f"CA{0xBE00 + n:032x}"
    form = webhook_form(call_sid)
    async with httpx.AsyncClient(base_url=phone_url) as http:
        answer = await http.post(
            "/twilio/voice", data=form, headers=signed_headers("/twilio/voice", form)
        )
    parameters = stream_parameters(answer.text)  # the call's one-time streamToken
    ws = phone_url.replace("http://", "ws://") + "/twilio/media"
    async with TwilioMediaClient(
        ws, WS_PUBLIC, TEST_AUTH_TOKEN, call_sid, parameters=parameters
    ) as client:
        await client.connected()
        await client.start()
        await client.wait_for_mark("greeting-end")
        voiced, tail = split_trailing_silence(mulaw)
        await client.media(voiced, realtime=True, voiced=True)
        before = len(client.received)
        silence = asyncio.create_task(client.media(tail + silence_mulaw(2.0), realtime=True))
        await client.wait_for(lambda b=before: bool(client.media_payloads(after=b)))
        first = next(r.at for r in client.received[before:] if r.message.get("event") == "media")
        assert client.last_voiced_sent_at is not None
        mouth_to_ear = first - client.last_voiced_sent_at
        await silence
        await client.stop()
        await client.closed()
    [turn] = await store.turns(call_sid)
    return {"mouth_to_ear_s": mouth_to_ear, **turn.latencies}


async def websocket_turn(phone_url: str, mulaw: bytes, n: int) -> dict:
    """One turn as Asterisk's chan_websocket carries it."""
    voiced, tail = split_trailing_silence(mulaw)
    uri = phone_url.replace("http://", "ws://") + "/asterisk/media"
    call = f"1765100{n:03d}.{n}"
    peer = ChanWebSocketPeer(
        uri, ASTERISK_USER, ASTERISK_PASSWORD, call=call, from_number=CALLER, to_number=COMPANY
    )
    async with peer:
        await peer.wait_for_mark("greeting-end", within_s=60)
        last_voiced = await peer.say(slin(voiced))
        await peer.say(slin(tail))  # then silence, as the line goes on
        await peer.wait_for(lambda: peer.first_audio_after(last_voiced) is not None, 60)
        first = peer.first_audio_after(last_voiced)
        assert first is not None
        await asyncio.sleep(2.0)
    return {"mouth_to_ear_s": first - last_voiced}


def _voiced_after(peer: AudioSocketPeer, at: float) -> float | None:
    return next((s.at for s in peer.received_audio if s.at > at and any(s.data)), None)


def _greeting_over(peer: AudioSocketPeer) -> bool:
    """The greeting has been heard and 0.5 s of keep-alive silence followed it."""
    frames = peer.received_audio
    return (
        any(any(s.data) for s in frames)
        and len(frames) >= 25
        and not any(any(s.data) for s in frames[-25:])
    )


async def audiosocket_turn(phone_url: str, port: int, mulaw: bytes, n: int) -> dict:
    """One turn as Asterisk's AudioSocket() carries it (the dialplan registers the call first)."""
    voiced, tail = split_trailing_silence(mulaw)
    peer = AudioSocketPeer("127.0.0.1", port, call_uuid=uuid.UUID(int=0xA5_0000 + n))
    async with httpx.AsyncClient(base_url=phone_url, auth=(ASTERISK_USER, ASTERISK_PASSWORD)) as h:
        registered = await h.post(
            f"/asterisk/calls/{peer.call_uuid}", params={"from": CALLER, "to": COMPANY}
        )
        registered.raise_for_status()
    async with peer:
        await peer.wait_for(lambda: _greeting_over(peer), 60)
        last_voiced = await peer.say(slin(voiced))
        await peer.say(slin(tail))
        await peer.wait_for(lambda: _voiced_after(peer, last_voiced) is not None, 60)
        first = _voiced_after(peer, last_voiced)
        assert first is not None
        await asyncio.sleep(2.0)
    return {"mouth_to_ear_s": first - last_voiced}


async def carrier_turns(turns: dict[str, Turn]) -> dict[str, list[dict]]:
    """TURNS turns on every carrier, one round at a time, the order rotating each round, so
    the machine's drift hits every carrier alike."""
    names = list(turns)
    results: dict[str, list[dict]] = {name: [] for name in names}
    for n in range(TURNS):
        shift = n % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(await turns[name](n))
    return results


def process_call_turns(orchestrator_url: str, wav: bytes) -> list[float]:
    times = []
    for n in range(TURNS):
        started = time.perf_counter()
        with httpx.stream(
            "POST",
            f"{orchestrator_url}/process_call",
            params={"stream": "true", "response": "events"},
            files={"audio": ("a.wav", wav, "audio/wav")},
            data={"session_id": f"bench{n}"},
            timeout=60,
        ) as response:
            for line in response.iter_lines():
                if '"type": "audio"' in line or '"type":"audio"' in line:
                    times.append(time.perf_counter() - started)
                    break
    return times


def run() -> list[tuple[str, float, str]]:
    root = Path(tempfile.mkdtemp(prefix="bench-phone-"))
    stt = FasterWhisperEngine.load(str(tiny_en_model_path()), models_dir=root / "models")
    voice = VoiceService.from_settings(make_settings(root / "voice", tts_engine="auto"))
    raw = espeak_wav(UTTERANCE)
    samples, rate = sf.read(io.BytesIO(raw), dtype="float32")
    mulaw = speech_mulaw(samples, rate)

    wav_8k = wav_bytes(mulaw_to_pcm(mulaw), 8000)  # exactly what the phone path uploads
    audiosocket_port = free_port()
    try:
        with FakeOpenAI() as llm:
            llm.reset(Script(text=REPLY))
            settings = make_settings(
                root / "orch", openai_base_url=llm.base_url, openai_model="fake"
            )
            with live_server(create_orchestrator(settings, stt=stt, tts=voice)) as orch_url:
                store = SqlCallStore(f"sqlite:///{root / 'calls.db'}")
                phone_config = phone_settings(
                    root / "phone",
                    orch_url,
                    asterisk_ws_username=ASTERISK_USER,
                    asterisk_ws_password=ASTERISK_PASSWORD,
                    asterisk_audiosocket_host="127.0.0.1",
                    asterisk_audiosocket_port=audiosocket_port,
                )
                phone = create_phone(phone_config, call_store=store)
                with live_server(phone) as phone_url:
                    direct = process_call_turns(orch_url, wav_8k)
                    by_carrier = asyncio.run(
                        carrier_turns(
                            {
                                "twilio": lambda n: twilio_turn(phone_url, store, mulaw, n),
                                "websocket": lambda n: websocket_turn(phone_url, mulaw, n),
                                "audiosocket": lambda n: audiosocket_turn(
                                    phone_url, audiosocket_port, mulaw, n
                                ),
                            }
                        )
                    )
    finally:
        voice.close()
    for name, results in by_carrier.items():
        each = " ".join(f"{t['mouth_to_ear_s']:.3f}" for t in results)
        print(f"{name:<12} last voiced frame → first reply frame, each turn (s): {each}")
    turns = by_carrier["twilio"]
    vad_wait = median(t["vad_wait_s"] for t in turns)
    mouth = median(t["mouth_to_ear_s"] for t in turns)
    websocket = median(t["mouth_to_ear_s"] for t in by_carrier["websocket"])
    audiosocket = median(t["mouth_to_ear_s"] for t in by_carrier["audiosocket"])
    orch = [t.get("orchestrator", {}) for t in turns]
    direct_s = median(direct)
    ratio = (mouth - vad_wait) / direct_s
    return [
        ("phone: last voiced frame → first reply frame (s)", mouth, "≤ 1.1 (GPU)"),
        ("  VAD end-of-speech wait (s)", vad_wait, "0.2–0.3"),
        ("  STT (s)", median(o.get("stt_s") or 0 for o in orch), ""),
        ("  LLM first token (s)", median(o.get("llm_first_token_s") or 0 for o in orch), ""),
        ("  TTS first chunk (s)", median(o.get("tts_first_audio_s") or 0 for o in orch), ""),
        (
            "  μ-law encoding of the first frame (s)",
            median(t.get("encoding_s", 0) for t in turns),
            "< 0.005",
        ),
        ("/process_call alone: first audio event (s)", direct_s, ""),
        ("ratio (phone − VAD wait) / process_call", ratio, "≤ 1.2"),
        ("Asterisk chan_websocket: last voiced → first reply (s)", websocket, ""),
        ("Asterisk AudioSocket: last voiced → first reply (s)", audiosocket, ""),
        ("ratio Asterisk chan_websocket / Twilio", websocket / mouth, "≈ 1 (≤ 1.1)"),
        ("ratio Asterisk AudioSocket / Twilio", audiosocket / mouth, "≈ 1 (≤ 1.1)"),
    ]


def main() -> None:
    for metric, value, goal in run():
        print(f"{metric:<55} {value:8.3f}   goal {goal}")


if __name__ == "__main__":
    main()
