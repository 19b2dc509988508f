"""Capacity and graceful overload: N concurrent scripted calls, each speaking one turn.

For 1/5/10/20/50 calls at once (the scripted Twilio client, tiny.en STT, RHVoice, the fake
OpenAI LLM; the phone gate at MAX_CONCURRENT_CALLS): how many calls were admitted, how many
were told «все линии заняты» (and how fast the webhook said so), what each admitted caller
heard first after speaking (the reply, a filler, the apology), p50/p95 end of speech → first
frame, and the longest silence any caller heard between the end of speech and the end of
Лидия's answer (Twilio plays frames back to back: a gap is time with nothing queued).
Goal: nobody waits more than 3 s in silence; calls beyond capacity are told so at once.

Everything runs in this process (uvicorn threads), so the client's own work competes with
the services for the same 2 CPUs, as in `bench_phone`. Run: python -m bench.bench_load [N ...]
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_phone import REPLY, UTTERANCE, split_trailing_silence
from lidia.core.settings import Settings
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

LOADS = (1, 5, 10, 20, 50)
FRAME_S = 0.02
ANSWER_WAIT_S = 20.0  # a caller hangs up after this long without the end of an answer
_call_numbers = iter(range(0xAB000, 0xAFFFF))


@dataclass
class CallResult:
    admitted: bool
    webhook_s: float
    first_frame_s: float | None = None  # end of speech → first frame after it
    longest_silence_s: float | None = None
    heard: str = "nothing"  # reply | filler | apology | nothing


def silences(arrivals: list[float], spoke_until: float) -> tuple[float | None, float]:
    """(first frame delay, longest gap) when frames play back to back from their arrival."""
    cursor, longest, first = spoke_until, 0.0, None
    for at in arrivals:
        start = max(at, cursor)
        longest = max(longest, start - cursor)
        first = start - spoke_until if first is None else first
        cursor = start + FRAME_S
    return first, longest


async def one_call(phone_url: str, store: SqlCallStore, voiced: bytes, tail: bytes) -> CallResult:
    call_sid = f"CA{next(_call_numbers):032x}"
    form = webhook_form(call_sid)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=phone_url, timeout=30) as http:
        answer = await http.post(
            "/twilio/voice", data=form, headers=signed_headers("/twilio/voice", form)
        )
    webhook_s = time.perf_counter() - started
    if "<Connect>" not in answer.text:
        return CallResult(False, webhook_s)
    ws = phone_url.replace("http://", "ws://") + "/twilio/media"
    parameters = stream_parameters(answer.text)
    async with TwilioMediaClient(
        ws, WS_PUBLIC, TEST_AUTH_TOKEN, call_sid, parameters=parameters
    ) as c:
        await c.connected()
        await c.start()
        await c.wait_for_mark("greeting-end", within_s=60)
        await c.media(voiced, realtime=True, voiced=True)
        before = len(c.received)
        spoke_until = c.last_voiced_sent_at or time.perf_counter()
        quiet = asyncio.create_task(c.media(tail + silence_mulaw(ANSWER_WAIT_S), realtime=True))
        ended = lambda: any(m in c.marks() for m in ("turn1-end", "apology-end"))  # noqa: E731
        with contextlib.suppress(AssertionError):  # no answer in time: counted as such
            await c.wait_for(ended, within_s=ANSWER_WAIT_S)
        quiet.cancel()
        arrivals = [r.at for r in c.received[before:] if r.message.get("event") == "media"]
        marks = c.marks()
        await c.stop()
        await c.closed()
    first, longest = silences(arrivals, spoke_until)
    if not arrivals:  # silence until the caller gave up
        longest = ANSWER_WAIT_S
    turns = await store.turns(call_sid)
    heard = "apology" if "apology-end" in marks else "reply" if "turn1-end" in marks else "nothing"
    if heard == "reply" and turns and "filler_s" in (turns[0].latencies or {}):
        heard = "filler"  # a filler came first, then the reply
    return CallResult(True, webhook_s, first, longest, heard)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def summarise(load: int, calls: list[CallResult]) -> dict:
    admitted = [c for c in calls if c.admitted]
    firsts = [c.first_frame_s for c in admitted if c.first_frame_s is not None]
    silences_ = [c.longest_silence_s for c in admitted if c.longest_silence_s is not None]
    return {
        "calls": load,
        "admitted": len(admitted),
        "busy": load - len(admitted),
        "busy_webhook_p95_s": _percentile([c.webhook_s for c in calls if not c.admitted], 95),
        "replies": sum(c.heard == "reply" for c in admitted),
        "fillers": sum(c.heard == "filler" for c in admitted),
        "apologies": sum(c.heard == "apology" for c in admitted),
        "unanswered": sum(c.heard == "nothing" for c in admitted),
        "first_frame_p50_s": _percentile(firsts, 50),
        "first_frame_p95_s": _percentile(firsts, 95),
        "longest_silence_s": max(silences_, default=float("nan")),
    }


async def run_load(phone_url: str, store: SqlCallStore, load: int, mulaw: bytes) -> dict:
    voiced, tail = split_trailing_silence(mulaw)
    calls = await asyncio.gather(*(one_call(phone_url, store, voiced, tail) for _ in range(load)))
    return summarise(load, list(calls))


def serve_and_measure(root: Path, loads: tuple[int, ...], phone_overrides: dict) -> list[dict]:
    stt = FasterWhisperEngine.load(str(tiny_en_model_path()), models_dir=root / "models")
    voice = VoiceService.from_settings(make_settings(root / "voice", tts_engine="auto"))
    samples, rate = sf.read(io.BytesIO(espeak_wav(UTTERANCE)), dtype="float32")
    mulaw = speech_mulaw(samples, rate)
    try:
        with FakeOpenAI() as llm:
            llm.reset(Script(text=REPLY))
            settings = make_settings(
                root / "orch", openai_base_url=llm.base_url, openai_model="fake"
            )
            with live_server(create_orchestrator(settings, stt=stt, tts=voice)) as orch_url:
                store = SqlCallStore(f"sqlite:///{root / 'calls.db'}")
                phone_cfg = phone_settings(root / "phone", orch_url, **phone_overrides)
                with live_server(create_phone(phone_cfg, call_store=store)) as phone_url:
                    return [asyncio.run(run_load(phone_url, store, n, mulaw)) for n in loads]
    finally:
        voice.close()


def print_table(rows: list[dict], limit: int) -> None:
    print(f"MAX_CONCURRENT_CALLS={limit}")
    header = "calls adm busy busy_p95  reply filler apol none  first_p50 first_p95 longest_silence"
    print(header)
    for r in rows:
        print(
            f"{r['calls']:>5} {r['admitted']:>3} {r['busy']:>4} {r['busy_webhook_p95_s']:>8.3f}  "
            f"{r['replies']:>5} {r['fillers']:>6} {r['apologies']:>4} {r['unanswered']:>4}  "
            f"{r['first_frame_p50_s']:>9.3f} {r['first_frame_p95_s']:>9.3f} "
            f"{r['longest_silence_s']:>15.3f}"
        )


def run(loads: tuple[int, ...] = LOADS) -> list[tuple[str, float, str]]:
    limit = Settings.model_fields["max_concurrent_calls"].default
    root = Path(tempfile.mkdtemp(prefix="bench-load-"))
    rows = serve_and_measure(root, loads, {"phone_turn_timeout_s": 15.0})
    print_table(rows, limit)
    worst = max(r["longest_silence_s"] for r in rows)
    busy = [r["busy_webhook_p95_s"] for r in rows if r["busy"]]
    summary = [("load: longest silence after speaking, any load (s)", worst, "≤ 3")]
    if busy:
        summary.append(("load: beyond capacity, busy answer p95 (s)", max(busy), "≤ 0.5"))
    for r in rows:
        summary.append(
            (f"load {r['calls']}: first frame p95 (s)", r["first_frame_p95_s"], "≤ 3 (any answer)")
        )
    return summary


def main() -> None:
    loads = tuple(int(a) for a in sys.argv[1:]) or LOADS
    for metric, value, goal in run(loads):
        print(f"{metric:<55} {value:8.3f}   goal {goal}")


if __name__ == "__main__":
    main()
