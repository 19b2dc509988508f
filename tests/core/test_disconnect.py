"""A client that gives up frees its place in the engine's queue (`lidia.core.disconnect`).

Real sockets (uvicorn), the real Whisper base engine behind `/stt`, one STT worker: a long
Russian transcription holds the worker, a second request waits in the queue, and its client
gives up, as the phone service does with a speculative `/stt` when the caller goes on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from lidia.audio.codecs import wav_bytes
from lidia.orchestrator.app import create_app
from lidia.stt.base import STT_SAMPLE_RATE, Fragment, Transcript
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.engines.rhvoice import RHVoiceEngine
from lidia.tts.service import VoiceService
from tests.conftest import make_settings
from tests.support.live_server import live_server
from tests.support.russian_speech import BOOKING, rhvoice_16k

pytestmark = pytest.mark.slow


class CountingStt:
    """The real engine, every call passed on, counting the transcriptions that ran."""

    def __init__(self, engine: FasterWhisperEngine) -> None:
        self.engine, self.name, self.model, self.device = engine, engine.name, engine.model, "cpu"
        self.ran: list[float] = []

    @property
    def languages(self) -> frozenset[str]:
        return self.engine.languages

    def transcribe(self, audio: np.ndarray, language: str | None, **options: object) -> Transcript:
        self.ran.append(audio.size / STT_SAMPLE_RATE)
        return self.engine.transcribe(audio, language, **options)  # type: ignore[arg-type]

    def transcribe_fragment(self, audio: np.ndarray, language: str | None) -> Fragment:
        return self.engine.transcribe_fragment(audio, language)

    def info(self) -> dict:
        return self.engine.info()


@pytest.fixture
def counted(russian_stt: FasterWhisperEngine) -> CountingStt:
    return CountingStt(russian_stt)


@pytest.fixture
def orchestrator(
    tmp_path: Path, counted: CountingStt, fallback_voice: VoiceService
) -> Iterator[str]:
    settings = make_settings(tmp_path, stt_language="ru", stt_workers=1)
    with live_server(create_app(settings, stt=counted, tts=fallback_voice)) as url:
        yield url


def test_a_queued_transcription_whose_client_left_never_runs(
    orchestrator: str, counted: CountingStt
) -> None:
    booking = rhvoice_16k(RHVoiceEngine.load(), BOOKING)
    long_call = wav_bytes(np.tile(booking, 6), STT_SAMPLE_RATE)  # ~20 s: holds the worker
    short = wav_bytes(booking, STT_SAMPLE_RATE)
    done: dict[str, int] = {}

    def transcribe_long() -> None:
        response = httpx.post(
            f"{orchestrator}/stt", files={"audio": ("a.wav", long_call)}, timeout=120
        )
        done["long"] = response.status_code

    worker = threading.Thread(target=transcribe_long)
    worker.start()
    while not counted.ran:  # the long one holds the only worker now
        time.sleep(0.02)
    with pytest.raises(httpx.ReadTimeout):  # queued behind it; the client gives up
        httpx.post(f"{orchestrator}/stt", files={"audio": ("b.wav", short)}, timeout=0.5)
    worker.join(timeout=120)

    assert done == {"long": 200}
    time.sleep(0.5)  # a job not dropped would start now that the worker is free
    assert len(counted.ran) == 1  # the abandoned one never ran
    answered = httpx.post(f"{orchestrator}/stt", files={"audio": ("c.wav", short)}, timeout=60)
    assert answered.status_code == 200 and len(counted.ran) == 2
