"""A Russian caller's turn through `/process_call`: heard in Russian, passed on to the LLM.

Real STT (multilingual Whisper base) and voice (RHVoice); the LLM is the fake
OpenAI-compatible server on 127.0.0.1, which records what it was asked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lidia.audio.codecs import wav_bytes
from lidia.orchestrator.app import create_app
from lidia.stt.faster_whisper import STT_SAMPLE_RATE, FasterWhisperEngine
from lidia.tts.engines.rhvoice import RHVoiceEngine
from lidia.tts.service import VoiceService
from tests.conftest import make_settings
from tests.support.fake_llm_servers import FakeOpenAI, Script
from tests.support.russian_speech import BOOKING, BOOKING_WORDS, phone_wav, rhvoice_16k, words_of

pytestmark = pytest.mark.slow

REPLY = "Конечно. На какое время вас записать?"


@pytest.fixture(scope="module")
def booking(rhvoice: RHVoiceEngine) -> np.ndarray:
    return rhvoice_16k(rhvoice, BOOKING)


@pytest.fixture
def client(
    tmp_path: Path,
    russian_stt: FasterWhisperEngine,
    fallback_voice: VoiceService,
    openai: FakeOpenAI,
) -> Iterator[TestClient]:
    openai.reset(Script(text=REPLY))
    settings = make_settings(
        tmp_path, stt_language="ru", openai_base_url=openai.base_url, openai_model="fake"
    )
    with TestClient(create_app(settings, stt=russian_stt, tts=fallback_voice)) as client:
        yield client


def test_a_turn_at_16k_passes_the_russian_transcript_to_the_llm(
    client: TestClient, openai: FakeOpenAI, booking: np.ndarray
) -> None:
    response = client.post(
        "/process_call?response=json",
        files={"audio": ("turn.wav", wav_bytes(booking, STT_SAMPLE_RATE))},
        data={"session_id": "ru-16k"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert words_of(body["transcript"]) >= BOOKING_WORDS, body["transcript"]
    assert body["language"] == "ru"
    assert openai.requests[-1].body["messages"][-1]["content"] == body["transcript"]
    assert body["reply"] == REPLY and not body["fallback"]
    assert body["audio_base64"]


def test_a_streamed_phone_turn_passes_the_russian_transcript_to_the_llm(
    client: TestClient, openai: FakeOpenAI, booking: np.ndarray
) -> None:
    # The phone service's own request: 8 kHz WAV of μ-law speech, NDJSON events back.
    response = client.post(
        "/process_call?stream=true&response=events",
        files={"audio": ("turn.wav", phone_wav(booking))},
        data={"session_id": "ru-phone"},
    )

    assert response.status_code == 200, response.text
    events = [json.loads(line) for line in response.text.splitlines() if line]
    transcript = events[0]
    assert transcript["type"] == "transcript"
    assert words_of(transcript["text"]) >= BOOKING_WORDS, transcript["text"]
    assert openai.requests[-1].body["messages"][-1]["content"] == transcript["text"]
    assert any(e["type"] == "audio" for e in events)
    assert events[-1]["type"] == "done" and events[-1]["reply"] == REPLY


def test_words_recognised_in_the_pause_skip_speech_to_text(
    client: TestClient, openai: FakeOpenAI
) -> None:
    # The phone recognised the caller during the pause: it sends the words, not the audio.
    words = "Запишите меня к врачу на завтра."
    response = client.post(
        "/process_call?stream=true&response=events",
        data={"session_id": "ru-words", "transcript": words},
    )

    assert response.status_code == 200, response.text
    events = [json.loads(line) for line in response.text.splitlines() if line]
    assert events[0] == {"type": "transcript", "text": words, "language": "ru"}
    assert openai.requests[-1].body["messages"][-1]["content"] == words
    assert any(e["type"] == "audio" for e in events)
    done = events[-1]
    assert done["type"] == "done" and done["reply"] == REPLY


def test_blank_words_are_refused_naming_the_field(client: TestClient) -> None:
    response = client.post("/process_call", data={"session_id": "ru-blank", "transcript": "  "})

    assert response.status_code == 422, response.text
    assert "transcript" in response.text
    missing = client.post("/process_call", data={"session_id": "ru-none"})
    assert missing.status_code in (400, 422) and "audio" in missing.text


def test_a_speculative_reply_the_caller_never_heard_is_forgotten(
    client: TestClient, openai: FakeOpenAI
) -> None:
    # The phone started a reply while the caller paused; the caller went on speaking.
    form = {"session_id": "ru-spec", "transcript": "Я хочу записаться", "turn_id": "spec-1"}
    first = client.post("/process_call?stream=true&response=events", data=form)
    assert first.status_code == 200, first.text

    forgot = client.post("/reset_conversation", json={"session_id": "ru-spec", "turn_id": "spec-1"})
    assert forgot.status_code == 200, forgot.text
    assert forgot.json() == {
        "status": "ok",
        "session_id": "ru-spec",
        "turn_id": "spec-1",
        "cleared": 1,
    }

    whole = {"session_id": "ru-spec", "transcript": "Я хочу записаться на приём в четверг."}
    second = client.post("/process_call?stream=true&response=events", data=whole)
    assert second.status_code == 200, second.text
    users = [m["content"] for m in openai.requests[-1].body["messages"] if m["role"] == "user"]
    assert users == ["Я хочу записаться на приём в четверг."]  # the fragment left no trace
