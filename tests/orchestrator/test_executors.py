"""Each engine on its own bounded executor: STT never waits behind asyncio's shared pool."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient

from lidia.orchestrator.executors import EngineExecutor
from lidia.orchestrator.queued_stt import QueuedSpeechToText
from lidia.orchestrator.services import build_services
from lidia.orchestrator.speech_ops import transcribe_bytes
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.service import VoiceService
from tests.conftest import make_settings
from tests.support.prometheus import scrape, value
from tests.support.speech_fixtures import ENGLISH_EXPECTED_WORDS, ENGLISH_SENTENCE, espeak_wav

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def test_work_beyond_the_workers_waits_in_the_engine_queue() -> None:
    executor = EngineExecutor("stt", 1)
    gate = threading.Event()
    jobs = [asyncio.ensure_future(executor.run(gate.wait, 10)) for _ in range(3)]
    await _until(lambda: executor.running == 1)
    assert executor.snapshot() == {"workers": 1, "running": 1, "queued": 2}
    assert executor.depth == 3
    gate.set()
    assert await asyncio.gather(*jobs) == [True, True, True]
    assert executor.snapshot() == {"workers": 1, "running": 0, "queued": 0}
    executor.shutdown()


async def test_a_turn_that_gives_up_leaves_the_counts_right() -> None:
    executor = EngineExecutor("stt", 1)
    gate = threading.Event()
    running = asyncio.ensure_future(executor.run(gate.wait, 10))
    waiting = asyncio.ensure_future(executor.run(gate.wait, 10))
    await _until(lambda: executor.queued == 1)
    waiting.cancel()  # the caller hung up while its transcription was queued
    gate.set()
    assert await running is True
    await _until(lambda: executor.depth == 0)
    assert executor.running == 0
    executor.shutdown()


async def test_context_variables_reach_the_worker_thread() -> None:
    executor = EngineExecutor("stt", 1)
    _request_id.set("CA-1")
    seen = await executor.run(lambda: (_request_id.get(), threading.current_thread().name))
    assert seen[0] == "CA-1"
    assert seen[1].startswith("stt-engine")
    executor.shutdown()


async def test_transcription_goes_on_while_the_default_pool_is_saturated(
    tmp_path: Path, tiny_stt: FasterWhisperEngine, fallback_voice: VoiceService
) -> None:
    """The load test's failure: first audio waited 10.8 s behind other work on the shared
    pool. With every default-pool thread blocked, a transcription must still finish."""
    services = await build_services(make_settings(tmp_path), stt=tiny_stt, tts=fallback_voice)
    loop = asyncio.get_running_loop()
    default_pool = ThreadPoolExecutor(max_workers=1)
    loop.set_default_executor(default_pool)
    gate = threading.Event()
    blocker = loop.run_in_executor(None, gate.wait, 60)
    try:
        assert isinstance(services.stt, QueuedSpeechToText)
        transcript = await asyncio.wait_for(
            transcribe_bytes(services.stt, espeak_wav(ENGLISH_SENTENCE), "en"), 60
        )
        assert all(word in transcript.text.lower() for word in ENGLISH_EXPECTED_WORDS)
        assert not blocker.done()  # the shared pool was busy the whole time
    finally:
        gate.set()
        await blocker
        await services.aclose()


def test_health_and_metrics_show_the_stt_workers_and_queue(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(stt_workers=2)
    wav = espeak_wav(ENGLISH_SENTENCE)
    stt = client.post("/v1/audio/transcriptions", files={"file": ("a.wav", wav, "audio/wav")})
    assert stt.status_code == 200
    load = client.get("/health").json()["load"]
    assert load["stt"] == {"workers": 2, "running": 0, "queued": 0}
    assert load["tts_queue_depth"]["rhvoice"] == 0
    samples = scrape(client)
    assert value(samples, "lidia_stt_workers") == 2
    assert value(samples, "lidia_stt_queue_depth") == 0
