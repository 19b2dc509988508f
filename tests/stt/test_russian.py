"""Russian speech through the orchestrator's STT endpoints, with a multilingual Whisper.

Real engines only: RHVoice speaks the phrases at test time and Whisper base (multilingual,
CPU int8) hears them, at 16 kHz and after the phone network's 8 kHz μ-law. The language
comes from `STT_LANGUAGE` in the environment, as in production.
"""

from __future__ import annotations

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
from tests.support.fake_llm_servers import llm_settings
from tests.support.russian_speech import (
    CALL_BACK,
    CALL_BACK_WORDS,
    RESCHEDULE,
    RESCHEDULE_WORDS,
    phone_wav,
    rhvoice_16k,
    words_of,
)
from tests.support.whisper_ru import MODEL_NAME, russian_model_path

pytestmark = pytest.mark.slow

LINES = ("16k", "phone")  # studio-quality upload, and speech that crossed a phone line


def orchestrator(root: Path, stt: FasterWhisperEngine, voice: VoiceService) -> TestClient:
    """An orchestrator whose STT language comes from the environment (no override)."""
    settings = llm_settings(
        models_dir=root / "models",
        temp_dir=root / "temp",
        calls_log_dir=root / "calls_log",
        voice_samples_dir=root / "voice",
    )
    return TestClient(create_app(settings, stt=stt, tts=voice))


@pytest.fixture(scope="module")
def client_ru(
    tmp_path_factory: pytest.TempPathFactory,
    russian_stt: FasterWhisperEngine,
    fallback_voice: VoiceService,
) -> Iterator[TestClient]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("STT_LANGUAGE", "ru")
        client = orchestrator(tmp_path_factory.mktemp("stt-ru"), russian_stt, fallback_voice)
    with client:
        yield client


@pytest.fixture(scope="module")
def reschedule(rhvoice: RHVoiceEngine) -> np.ndarray:
    return rhvoice_16k(rhvoice, RESCHEDULE)


def upload(samples_16k: np.ndarray, line: str) -> bytes:
    if line == "phone":
        return phone_wav(samples_16k)
    return wav_bytes(samples_16k, STT_SAMPLE_RATE)


@pytest.mark.parametrize("line", LINES)
def test_stt_hears_russian_in_the_configured_language(
    client_ru: TestClient, reschedule: np.ndarray, line: str
) -> None:
    response = client_ru.post("/stt", files={"audio": ("turn.wav", upload(reschedule, line))})

    assert response.status_code == 200, response.text
    body = response.json()
    assert words_of(body["text"]) >= RESCHEDULE_WORDS, body["text"]
    # A language handed to Whisper comes back with probability 1; a detected one never does.
    assert (body["language"], body["language_probability"]) == ("ru", 1.0)


@pytest.mark.parametrize("line", LINES)
def test_openai_transcriptions_hear_russian(
    client_ru: TestClient, reschedule: np.ndarray, line: str
) -> None:
    response = client_ru.post(
        "/v1/audio/transcriptions",
        files={"file": ("turn.wav", upload(reschedule, line))},
        data={"model": "whisper-1", "response_format": "verbose_json"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert words_of(body["text"]) >= RESCHEDULE_WORDS, body["text"]
    assert body["language"] == "russian"  # OpenAI names the language in verbose_json


def test_a_fragment_over_the_phone_gives_its_first_words_and_confidence(
    client_ru: TestClient, rhvoice: RHVoiceEngine
) -> None:
    # What the phone asks when a caller speaks over Лидия: «Нет, подождите…», as far as heard.
    heard = rhvoice_16k(rhvoice, "Нет, подождите, я хотела спросить про субботу.")
    fragment = phone_wav(heard[: int(0.6 * STT_SAMPLE_RATE)])
    response = client_ru.post(
        "/stt", files={"audio": ("fragment.wav", fragment)}, data={"fragment": "true"}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"text", "language", "confidence"}
    assert body["text"].lower().split(",")[0].strip(" .") == "нет", body["text"]
    assert body["language"] == "ru" and 0.55 <= body["confidence"] <= 1.0


def test_first_words_of_a_fragment_drop_the_model_s_repeats(
    russian_stt: FasterWhisperEngine, rhvoice: RHVoiceEngine
) -> None:
    wait = rhvoice_16k(rhvoice, "Подождите.")
    fragment = russian_stt.transcribe_fragment(wait, "ru")
    assert fragment.text.lower().startswith("подожд"), fragment.text
    assert len(fragment.text.split()) == 1  # «Подождите, подождите, подожд…» is one word
    assert russian_stt.transcribe_fragment(np.zeros(8000, np.float32), "ru").confidence < 0.55


def test_auto_language_detects_russian(
    tmp_path: Path,
    russian_stt: FasterWhisperEngine,
    fallback_voice: VoiceService,
    rhvoice: RHVoiceEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STT_LANGUAGE", "auto")
    speech = phone_wav(rhvoice_16k(rhvoice, CALL_BACK))

    with orchestrator(tmp_path, russian_stt, fallback_voice) as client:
        response = client.post("/stt", files={"audio": ("turn.wav", speech)})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["language"] == "ru"
    assert 0.5 < body["language_probability"] < 1.0  # detected, not imposed
    assert words_of(body["text"]) >= CALL_BACK_WORDS, body["text"]


def test_the_model_is_assembled_whole_and_a_broken_cache_is_rebuilt(tmp_path: Path) -> None:
    built = russian_model_path(tmp_path)
    size = (built / "model.bin").stat().st_size
    with (built / "model.bin").open("r+b") as model:
        model.truncate(size // 2)  # an interrupted copy from an older run

    rebuilt = russian_model_path(tmp_path)

    assert rebuilt == built and (rebuilt / "model.bin").stat().st_size == size
    assert sorted(p.name for p in tmp_path.iterdir()) == [MODEL_NAME]  # no scratch left
