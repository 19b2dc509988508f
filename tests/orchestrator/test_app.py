"""The orchestrator's original endpoints through the app factory: /, /health, /tts, /stt.

Real engines: faster-whisper tiny.en for STT, RHVoice (espeak-ng beside it) for TTS.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lidia.audio.codecs import decode_audio, rms, wav_bytes
from lidia.orchestrator.app import create_app
from lidia.tts.service import VoiceService
from tests.conftest import make_settings
from tests.support.speech_fixtures import ENGLISH_EXPECTED_WORDS, ENGLISH_SENTENCE, espeak_wav


@pytest.fixture(scope="module")
def english_wav() -> bytes:
    return espeak_wav(ENGLISH_SENTENCE)


def read_wav(data: bytes) -> tuple[np.ndarray, int, int, int]:
    with wave.open(io.BytesIO(data)) as wav:
        frames = wav.readframes(wav.getnframes())
        samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768
        return samples, wav.getframerate(), wav.getnchannels(), wav.getsampwidth()


def assert_error(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    for word in words:
        assert word.lower() in error["message"].lower(), error
    return error


# ------------------------------------------------------------------------------ / and /health


def test_root_names_the_service_engines_and_endpoints(client: TestClient) -> None:
    body = client.get("/").json()
    assert "Лидия" in body["service"]
    assert body["engines"]["tts"] == "rhvoice"
    assert body["engines"]["stt"]["engine"] == "faster-whisper"
    assert body["tts_engines"] == ["xtts", "rhvoice", "espeak"]  # what /tts accepts by name
    for endpoint in (
        "GET /health",
        "POST /tts",
        "POST /stt",
        "POST /chat",
        "POST /process_call",
        "POST /reset_conversation",
    ):
        assert endpoint in body["endpoints"]


def test_health_is_degraded_not_down_without_the_cloned_voice_and_llm(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["stt"]["loaded"] is True and body["stt"]["device"] == "cpu"
    assert body["tts"]["loaded"] is True
    assert body["tts"]["primary"] == "rhvoice"
    assert "xtts" in body["tts"]["fallback_reason"].lower()
    assert body["tts"]["queue_depth"]["rhvoice"] == 0
    assert body["llm"]["status"] == "not_configured"
    assert any(problem.startswith("llm") for problem in body["problems"])


def test_missing_whisper_model_leaves_the_service_up_with_a_clear_503(
    tmp_path: Path, fallback_voice: VoiceService, english_wav: bytes
) -> None:
    settings = make_settings(tmp_path, whisper_model="large-v3-turbo")
    with TestClient(create_app(settings, tts=fallback_voice)) as client:
        health = client.get("/health").json()
        assert health["status"] == "degraded"
        assert health["stt"]["loaded"] is False
        assert "make models" in health["stt"]["error"]
        response = client.post("/stt", files={"audio": ("a.wav", english_wav, "audio/wav")})
        assert_error(response, 503, "speech recognition is unavailable", "make models")
        assert client.post("/tts", json={"text": "Привет"}).status_code == 200


# ------------------------------------------------------------------------------------ /tts


def test_tts_original_curl_example_returns_russian_wav(client: TestClient) -> None:
    # curl -X POST /tts -H "Content-Type: application/json"
    #      -d '{"text": "Привет, это тест", "language": "ru"}' --output test.wav
    response = client.post("/tts", json={"text": "Привет, это тест", "language": "ru"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["x-tts-engine"] == "rhvoice"
    samples, rate, channels, width = read_wav(response.content)
    assert (rate, channels, width) == (24000, 1, 2)
    assert 0.5 < len(samples) / rate < 5
    assert rms(samples) > 0.01


def test_tts_normalises_numbers_so_they_are_spoken(client: TestClient) -> None:
    # "в 15:30" must be read as words: the spoken version is much longer than the digits.
    short = read_wav(client.post("/tts", json={"text": "Встреча."}).content)[0]
    longer = read_wav(client.post("/tts", json={"text": "Встреча в 15:30."}).content)[0]
    assert len(longer) > len(short) + 0.5 * 24000


def test_tts_other_formats_and_explicit_engine(client: TestClient) -> None:
    mp3 = client.post("/tts", json={"text": "Добрый день", "format": "mp3"})
    assert mp3.headers["content-type"] == "audio/mpeg"
    assert rms(decode_audio(mp3.content)) > 0.01
    espeak = client.post("/tts", json={"text": "Добрый день", "engine": "espeak"})
    assert espeak.headers["x-tts-engine"] == "espeak"
    assert read_wav(espeak.content)[1] == 22050


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"text": ""}, 400, ["empty"]),
        ({"text": "   \n\t "}, 400, ["empty"]),
        ({"text": "а" * 61}, 413, ["61", "60"]),
        ({"text": "Привет", "language": "xx"}, 422, ["xx", "ru"]),
        ({"text": "Привет", "voice": "nobody"}, 422, ["nobody", "rhvoice-anna"]),
        ({"text": "Привет", "format": "ogg-wrong"}, 422, ["format"]),
        ({"text": "Привет", "speed": 9}, 422, ["speed"]),
        ({"language": "ru"}, 422, ["text"]),
    ],
)
def test_tts_bad_input_is_a_4xx_naming_the_problem(
    limited_client: TestClient, body: dict, status: int, words: list[str]
) -> None:
    assert_error(limited_client.post("/tts", json=body), status, *words)


@pytest.fixture(scope="module")
def limited_client(tmp_path_factory: pytest.TempPathFactory, tiny_stt) -> Iterator[TestClient]:
    """An orchestrator that loads its own voice service with TTS_MAX_CHARS=60."""
    settings = make_settings(tmp_path_factory.mktemp("limited"), tts_max_chars=60)
    with TestClient(create_app(settings, stt=tiny_stt)) as client:
        yield client


def test_tts_invalid_json_is_a_4xx(client: TestClient) -> None:
    response = client.post(
        "/tts", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(response, 422, "json")


# ------------------------------------------------------------------------------------ /stt


def test_stt_transcribes_english_speech(
    make_client: Callable[..., TestClient], english_wav: bytes
) -> None:
    client = make_client()
    response = client.post(
        "/stt", files={"audio": ("hello.wav", english_wav, "audio/wav")}, data={"language": "en"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    words = body["text"].lower()
    for word in ENGLISH_EXPECTED_WORDS:
        assert word in words
    assert body["language"] == "en"
    assert 2 < body["duration"] < 6
    assert body["segments"] and body["segments"][0]["start"] >= 0
    assert body["segments"][-1]["end"] <= body["duration"] + 0.5


def test_stt_uses_the_configured_language_when_none_is_sent(
    make_client: Callable[..., TestClient], english_wav: bytes
) -> None:
    client = make_client(stt_language="ru")  # tiny.en cannot do Russian: the default applies
    response = client.post("/stt", files={"audio": ("a.wav", english_wav, "audio/wav")})
    assert_error(response, 422, "'ru'", "en")


def _truncated(wav: bytes) -> bytes:
    # espeak-ng's streamed header has no real length; a file with an exact one, cut in half.
    exact = wav_bytes(decode_audio(wav), 16000)
    return exact[: len(exact) // 2]


@pytest.mark.parametrize(
    ("files", "data", "status", "words"),
    [
        (None, None, 400, ["missing", "audio"]),
        ({"audio": ("a.wav", b"", "audio/wav")}, None, 400, ["empty"]),
        ({"audio": ("a.wav", b"this is not audio at all" * 20, "audio/wav")}, None, 400, ["audio"]),
        ("truncated", None, 400, ["truncated"]),
        ("english", {"language": "ru"}, 422, ["ru", "en"]),
        ("big", None, 413, ["too large", "STT_MAX_BYTES"]),
    ],
)
def test_stt_bad_input_is_a_4xx_naming_the_problem(
    make_client: Callable[..., TestClient],
    english_wav: bytes,
    files: object,
    data: dict | None,
    status: int,
    words: list[str],
) -> None:
    client = make_client(stt_max_bytes=len(english_wav) + 1000)
    if files == "truncated":
        files = {"audio": ("a.wav", _truncated(english_wav), "audio/wav")}
    elif files == "english":
        files = {"audio": ("a.wav", english_wav, "audio/wav")}
    elif files == "big":
        files = {"audio": ("a.wav", english_wav + b"\0" * 5000, "audio/wav")}
    assert_error(client.post("/stt", files=files, data=data), status, *words)


def test_no_temp_files_are_left_behind(
    make_client: Callable[..., TestClient], english_wav: bytes, tmp_path: Path
) -> None:
    client = make_client()
    client.post("/stt", files={"audio": ("a.wav", english_wav, "audio/wav")})
    client.post("/stt", files={"audio": ("a.wav", b"garbage" * 10, "audio/wav")})
    client.post("/tts", json={"text": "Привет"})
    assert list((tmp_path / "temp").iterdir()) == []
