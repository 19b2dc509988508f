"""Capacity and graceful overload: N concurrent scripted calls, each speaking one turn.

For 1/5/10/20/50 calls at once (the scripted Twilio client, tiny.en STT, RHVoice, the fake
OpenAI LLM; the phone gate at MAX_CONCURRENT_CALLS): how many calls were admitted, how many
were told «все линии заняты» (and how fast: the client's p95, and the phone app's own time
from request to response headers), what each admitted caller heard first after speaking
(the reply, a filler, the apology), p50/p95 end of speech → first frame, and the longest
silence any caller heard between the end of speech and the end of Лидия's answer (Twilio
plays frames back to back: a gap is time with nothing queued), and the phone event loop's
worst lag (a 10 ms timer's lateness: > 0.1 s means something blocked the loop).
Goal: nobody waits more than 3 s in silence; calls beyond capacity are told so at once.

`--find-capacity` turns the gate off (capacity very high) and runs 1/2/3/4/6/8 calls: the most
calls whose p95 end of speech → first frame stays ≤ 3 s (every call answered) is printed as
"measured capacity", the value for MAX_CONCURRENT_CALLS on this box. `--busy-burst N`: N
webhooks beyond capacity at once, with no call streaming, from one shared HTTP client (as
Twilio's fleet: its own machines) and with a new client per call (the old bench client), so
the webhook's own time and the client's are told apart.

Everything runs in this process (uvicorn threads), so the client's own work competes with
the services for the same CPUs and the GIL, as in `bench_phone`. Webhooks go out through one
shared client: making an `httpx.AsyncClient` loads the CA bundle (≈ 20 ms of CPU under the
GIL each), and a client per call made the busy answer look seconds slow at 50 calls.
Run: python -m bench.bench_load [N ...] | --find-capacity | --busy-burst N
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
CAPACITY_LOADS = (1, 2, 3, 4, 6, 8)
CAPACITY_GOAL_S = 3.0  # p95 end of speech → first frame
NO_GATE = 10_000  # MAX_CONCURRENT_CALLS for the capacity search: the gate never refuses
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


@dataclass
class PhoneTimings:
    """The phone app's side: each webhook's time from request to response headers (busy
    answers apart), and its event loop's worst lag."""

    busy_s: list[float] = field(default_factory=list)
    admitted_s: list[float] = field(default_factory=list)
    loop_lag_s: float = 0.0

    def reset(self) -> None:
        self.busy_s.clear()
        self.admitted_s.clear()
        self.loop_lag_s = 0.0


class TimedPhone:
    """ASGI wrapper around the phone app: times `/twilio/voice` inside the server (so client
    delays do not count) and watches the server loop's lag with a 10 ms timer."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.timings = PhoneTimings()
        self._watching = False

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["path"] != "/twilio/voice":
            await self.app(scope, receive, send)
            return
        if not self._watching:
            self._watching = True
            asyncio.get_running_loop().create_task(self._watch_loop())
        started = time.perf_counter()
        headers_at: list[float] = []

        async def timed_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers_at.append(time.perf_counter() - started)
            elif message["type"] == "http.response.body" and headers_at:
                busy = b"purpose=message" in message.get("body", b"")
                (self.timings.busy_s if busy else self.timings.admitted_s).append(headers_at[0])
            await send(message)

        await self.app(scope, receive, timed_send)

    async def _watch_loop(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lag = time.perf_counter() - before - 0.01
            self.timings.loop_lag_s = max(self.timings.loop_lag_s, lag)


def silences(arrivals: list[float], spoke_until: float) -> tuple[float | None, float]:
    """(first frame delay, longest gap) when frames play back to back from their arrival."""
    cursor, longest, first = spoke_until, 0.0, None
    for at in arrivals:
        start = max(at, cursor)
        longest = max(longest, start - cursor)
        first = start - spoke_until if first is None else first
        cursor = start + FRAME_S
    return first, longest


async def answer_webhook(http: httpx.AsyncClient) -> tuple[str, str, float]:
    """Twilio's `POST /twilio/voice` for a new call: (CallSid, TwiML, seconds to answer)."""
    call_sid = f"CA{next(_call_numbers):032x}"
    form = webhook_form(call_sid)
    started = time.perf_counter()
    answer = await http.post(
        "/twilio/voice", data=form, headers=signed_headers("/twilio/voice", form)
    )
    return call_sid, answer.text, time.perf_counter() - started


async def one_call(
    http: httpx.AsyncClient, phone_url: str, store: SqlCallStore, voiced: bytes, tail: bytes
) -> CallResult:
    call_sid, twiml, webhook_s = await answer_webhook(http)
    if "<Connect>" not in twiml:
        return CallResult(False, webhook_s)
    ws = phone_url.replace("http://", "ws://") + "/twilio/media"
    parameters = stream_parameters(twiml)
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


def summarise(load: int, calls: list[CallResult], phone: PhoneTimings) -> dict:
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
        "busy_server_p95_s": _percentile(phone.busy_s, 95),
        "loop_lag_s": phone.loop_lag_s,
        "answered_all": all(c.heard != "nothing" for c in admitted),
    }


async def run_load(
    phone_url: str, store: SqlCallStore, load: int, mulaw: bytes, timed: TimedPhone
) -> dict:
    voiced, tail = split_trailing_silence(mulaw)
    timed.timings.reset()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=phone_url, timeout=30, limits=limits) as http:
        calls = await asyncio.gather(
            *(one_call(http, phone_url, store, voiced, tail) for _ in range(load))
        )
    return summarise(load, list(calls), timed.timings)


async def busy_burst(phone_url: str, timed: TimedPhone, load: int) -> dict:
    """`load` webhooks at once, every one beyond capacity (the gate is full: MAX=1, one call
    admitted first): from one shared client, then from a new client per call."""
    results: dict[str, float] = {}
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=phone_url, timeout=30, limits=limits) as http:
        await answer_webhook(http)  # takes the one line (its stream never comes: held 30 s)
        for name, burst in (
            ("shared client", lambda: _burst_shared(http, load)),
            ("client per call", lambda: _burst_per_call(phone_url, load)),
        ):
            timed.timings.reset()
            client_s = await burst()
            results[f"{name}: client p95"] = _percentile(client_s, 95)
            results[f"{name}: app p95"] = _percentile(timed.timings.busy_s, 95)
            results[f"{name}: loop lag"] = timed.timings.loop_lag_s
            await asyncio.sleep(1.0)  # the refused calls' records are written meanwhile
    return results


async def _burst_shared(http: httpx.AsyncClient, load: int) -> list[float]:
    answers = await asyncio.gather(*(answer_webhook(http) for _ in range(load)))
    assert all("purpose=message" in twiml for _, twiml, _ in answers)
    return [seconds for _, _, seconds in answers]


async def _burst_per_call(phone_url: str, load: int) -> list[float]:
    async def one() -> float:
        started = time.perf_counter()  # as the old bench: the client is made inside the timing
        async with httpx.AsyncClient(base_url=phone_url, timeout=30) as http:
            _, twiml, _ = await answer_webhook(http)
        assert "purpose=message" in twiml
        return time.perf_counter() - started

    return list(await asyncio.gather(*(one() for _ in range(load))))


def serve_and_measure(
    root: Path,
    loads: tuple[int, ...],
    phone_overrides: dict,
    measure: Callable[[str, SqlCallStore, int, bytes, TimedPhone], Awaitable[dict]] = run_load,
) -> list[dict]:
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
                timed = TimedPhone(create_phone(phone_cfg, call_store=store))
                with live_server(timed) as phone_url:
                    return [asyncio.run(measure(phone_url, store, n, mulaw, timed)) for n in loads]
    finally:
        voice.close()


def print_table(rows: list[dict], limit: int) -> None:
    print(f"MAX_CONCURRENT_CALLS={limit}")
    header = (
        "calls adm busy busy_p95 app_p95  reply filler apol none  first_p50 first_p95 "
        "longest_silence loop_lag"
    )
    print(header)
    for r in rows:
        print(
            f"{r['calls']:>5} {r['admitted']:>3} {r['busy']:>4} {r['busy_webhook_p95_s']:>8.3f} "
            f"{r['busy_server_p95_s']:>7.3f}  "
            f"{r['replies']:>5} {r['fillers']:>6} {r['apologies']:>4} {r['unanswered']:>4}  "
            f"{r['first_frame_p50_s']:>9.3f} {r['first_frame_p95_s']:>9.3f} "
            f"{r['longest_silence_s']:>15.3f} {r['loop_lag_s']:>8.3f}"
        )


def measured_capacity(rows: list[dict]) -> int:
    """The most calls at once whose every caller was answered with p95 ≤ 3 s (0: not even 1).
    Loads are tried in increasing order; the first that misses ends the search."""
    capacity = 0
    for r in sorted(rows, key=lambda r: r["calls"]):
        if not r["answered_all"] or not r["first_frame_p95_s"] <= CAPACITY_GOAL_S:
            break
        capacity = r["calls"]
    return capacity


def find_capacity(loads: tuple[int, ...] = CAPACITY_LOADS) -> list[tuple[str, float, str]]:
    """The capacity search: the gate off, 1/2/3/4/6/8 calls; prints "measured capacity"."""
    root = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    overrides = {"phone_turn_timeout_s": 15.0, "max_concurrent_calls": NO_GATE}
    rows = serve_and_measure(root, loads, overrides)
    print_table(rows, NO_GATE)
    capacity = measured_capacity(rows)
    print(
        f"measured capacity: {capacity} calls at once (p95 end of speech → first frame "
        f"≤ {CAPACITY_GOAL_S:.0f} s, every call answered): set MAX_CONCURRENT_CALLS={capacity}"
    )
    return [("load: measured capacity (calls)", float(capacity), "MAX_CONCURRENT_CALLS")]


def run_busy_burst(load: int) -> list[tuple[str, float, str]]:
    root = Path(tempfile.mkdtemp(prefix="bench-busy-"))

    async def measure(
        url: str, _store: SqlCallStore, n: int, _mulaw: bytes, timed: TimedPhone
    ) -> dict:
        return await busy_burst(url, timed, n)

    (results,) = serve_and_measure(root, (load,), {"max_concurrent_calls": 1}, measure)
    print(f"{load} busy webhooks at once, nothing else running:")
    for name, value in results.items():
        print(f"   {name:<30} {value:7.3f} s")
    return [(f"busy burst {load}: {k} (s)", v, "≤ 0.5") for k, v in results.items() if "p95" in k]


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
    args = sys.argv[1:]
    if args[:1] == ["--find-capacity"]:
        rows = find_capacity(tuple(int(a) for a in args[1:]) or CAPACITY_LOADS)
    elif args[:1] == ["--busy-burst"]:
        rows = run_busy_burst(int(args[1]) if len(args) > 1 else 50)
    else:
        rows = run(tuple(int(a) for a in args) or LOADS)
    for metric, value, goal in rows:
        print(f"{metric:<55} {value:8.3f}   goal {goal}")


if __name__ == "__main__":
    main()
