"""Phone turn latency: caller's last voiced frame → first outbound reply frame (Media Streams),
against the same turn through `/process_call` alone, in one run.

Real sockets on 127.0.0.1: the orchestrator (tiny.en STT, RHVoice, the fake OpenAI LLM) and the
phone service under uvicorn; the scripted Twilio client sends 20 ms frames in real time.
Run: python bench/bench_phone.py
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import httpx
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lidia.audio.codecs import mulaw_to_pcm, rms, wav_bytes
from lidia.orchestrator.app import create_app as create_orchestrator
from lidia.phone.app import create_app as create_phone
from lidia.phone.call_store import SqlCallStore
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.service import VoiceService
from tests.conftest import make_settings
from tests.phone.test_media_stream import WS_PUBLIC, phone_settings
from tests.support.fake_llm_servers import FakeOpenAI, Script
from tests.support.live_server import live_server
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

TURNS = 3
UTTERANCE = "Hello I would like to book an appointment for tomorrow."
REPLY = "Здравствуйте! Чем могу помочь?"


def split_trailing_silence(mulaw: bytes) -> tuple[bytes, bytes]:
    """(voiced part, trailing quiet part): "last voiced frame" must mean the caller's last
    word, not the quiet tail espeak-ng leaves in its WAV."""
    frames = [mulaw[i : i + 160] for i in range(0, len(mulaw), 160)]
    last = max(i for i, f in enumerate(frames) if rms(mulaw_to_pcm(f)) > 0.01)
    return b"".join(frames[: last + 1]), b"".join(frames[last + 1 :])


async def phone_turns(phone_url: str, store: SqlCallStore, mulaw: bytes) -> list[dict]:
    results = []
    for n in range(TURNS):
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
            first = next(
                r.at for r in client.received[before:] if r.message.get("event") == "media"
            )
            assert client.last_voiced_sent_at is not None
            mouth_to_ear = first - client.last_voiced_sent_at
            await silence
            await client.stop()
            await client.closed()
        [turn] = await store.turns(call_sid)
        results.append({"mouth_to_ear_s": mouth_to_ear, **turn.latencies})
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
    try:
        with FakeOpenAI() as llm:
            llm.reset(Script(text=REPLY))
            settings = make_settings(
                root / "orch", openai_base_url=llm.base_url, openai_model="fake"
            )
            with live_server(create_orchestrator(settings, stt=stt, tts=voice)) as orch_url:
                store = SqlCallStore(f"sqlite:///{root / 'calls.db'}")
                phone = create_phone(phone_settings(root / "phone", orch_url), call_store=store)
                with live_server(phone) as phone_url:
                    direct = process_call_turns(orch_url, wav_8k)
                    turns = asyncio.run(phone_turns(phone_url, store, mulaw))
    finally:
        voice.close()
    vad_wait = median(t["vad_wait_s"] for t in turns)
    mouth = median(t["mouth_to_ear_s"] for t in turns)
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
    ]


def main() -> None:
    for metric, value, goal in run():
        print(f"{metric:<55} {value:8.3f}   goal {goal}")


if __name__ == "__main__":
    main()
