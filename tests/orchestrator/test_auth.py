"""ORCHESTRATOR_API_KEY: the on/off matrix over every route, and OpenWebUI's exact requests."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator

import av
import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from lidia.orchestrator.app import create_app
from lidia.orchestrator.auth import OPEN_PATHS, bearer_token, is_open_path, key_matches
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.service import VoiceService
from tests.conftest import make_settings
from tests.support.live_server import live_server
from tests.support.speech_fixtures import ENGLISH_SENTENCE, espeak_wav

KEY = "test-key-123"
OPEN_ROUTES = sorted(OPEN_PATHS)


@pytest.fixture(scope="module")
def english_wav() -> bytes:
    return espeak_wav(ENGLISH_SENTENCE)


def protected_requests(wav: bytes) -> dict[str, Callable[[TestClient, dict], httpx.Response]]:
    """One valid request per protected route (valid, so the right key gives a 200)."""
    speech = {"model": "tts-1", "input": "Проверка.", "voice": "alloy"}
    chat = {"model": "lidia", "messages": [{"role": "user", "content": "Привет"}]}

    def upload(field: str) -> dict:
        return {field: ("a.wav", wav, "audio/wav")}

    return {
        "POST /v1/audio/speech": lambda c, h: c.post("/v1/audio/speech", json=speech, headers=h),
        "POST /v1/audio/transcriptions": lambda c, h: c.post(
            "/v1/audio/transcriptions", files=upload("file"), data={"model": "whisper-1"}, headers=h
        ),
        "POST /v1/chat/completions": lambda c, h: c.post(
            "/v1/chat/completions", json=chat, headers=h
        ),
        "GET /v1/models/lidia": lambda c, h: c.get("/v1/models/lidia", headers=h),
        "POST /tts": lambda c, h: c.post("/tts", json={"text": "Проверка."}, headers=h),
        "POST /stt": lambda c, h: c.post("/stt", files=upload("audio"), headers=h),
        "POST /chat": lambda c, h: c.post("/chat", json={"text": "Привет"}, headers=h),
        "POST /reset_conversation": lambda c, h: c.post("/reset_conversation", json={}, headers=h),
        "GET /openapi.json": lambda c, h: c.get("/openapi.json", headers=h),
    }


ROUTE_NAMES = list(protected_requests(b"").keys())


@pytest.fixture
def auth_client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(orchestrator_api_key=KEY)


@pytest.mark.parametrize("route", ROUTE_NAMES)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": KEY},
        {"Authorization": f"Basic {KEY}"},
        {"X-API-Key": KEY},
    ],
    ids=["none", "wrong", "no-scheme", "basic", "other-header"],
)
def test_protected_routes_reject_missing_or_wrong_keys(
    auth_client: TestClient, english_wav: bytes, route: str, headers: dict
) -> None:
    response = protected_requests(english_wav)[route](auth_client, headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key"
    assert "ORCHESTRATOR_API_KEY" in error["message"]


@pytest.mark.parametrize("route", ROUTE_NAMES)
def test_protected_routes_accept_the_right_key(
    auth_client: TestClient, english_wav: bytes, route: str
) -> None:
    response = protected_requests(english_wav)[route](
        auth_client, {"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", OPEN_ROUTES)
def test_open_routes_need_no_key(auth_client: TestClient, path: str) -> None:
    assert auth_client.get(path).status_code == 200


@pytest.mark.parametrize("route", ROUTE_NAMES)
def test_without_a_key_everything_is_open(
    make_client: Callable[..., TestClient], english_wav: bytes, route: str
) -> None:
    client = make_client()
    assert protected_requests(english_wav)[route](client, {}).status_code == 200


def test_unset_key_logs_a_warning_at_start_up(
    tmp_path,
    caplog: pytest.LogCaptureFixture,
    tiny_stt: FasterWhisperEngine,
    fallback_voice: VoiceService,
) -> None:
    with caplog.at_level(logging.WARNING, logger="auth"):
        create_app(make_settings(tmp_path), stt=tiny_stt, tts=fallback_voice)
    assert any("ORCHESTRATOR_API_KEY is not set" in r.message for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="auth"):
        create_app(
            make_settings(tmp_path, orchestrator_api_key=KEY), stt=tiny_stt, tts=fallback_voice
        )
    assert not caplog.records


def test_header_parsing_and_comparison() -> None:
    assert bearer_token(f"Bearer {KEY}") == KEY
    assert bearer_token(f"bearer   {KEY} ") == KEY
    assert bearer_token("Bearer ") is None
    assert bearer_token(f"Token {KEY}") is None
    assert bearer_token(None) is None
    assert key_matches(KEY, KEY)
    assert not key_matches(KEY + "x", KEY)
    assert not key_matches(None, KEY)
    assert not key_matches("ключ", KEY)  # non-ASCII input must not crash the comparison
    assert is_open_path("/health/") and not is_open_path("/v1/audio/speech")


# --------------------------------------------------------------------------- live server


@pytest.fixture(scope="module")
def keyed_url(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_stt: FasterWhisperEngine,
    fallback_voice: VoiceService,
) -> Iterator[str]:
    settings = make_settings(tmp_path_factory.mktemp("keyed"), orchestrator_api_key=KEY)
    with live_server(create_app(settings, stt=tiny_stt, tts=fallback_voice)) as url:
        yield url


def test_openwebui_requests_exactly_as_it_sends_them(keyed_url: str) -> None:
    base = f"{keyed_url}/v1"
    # Discovery: no Authorization header at all.
    assert httpx.get(f"{base}/audio/models").json()["models"]
    assert httpx.get(f"{base}/models").json()["data"]
    assert httpx.get(f"{base}/audio/voices").json()["voices"]
    # Speech: JSON {model, input, voice} with the Bearer key; no response_format, no speed.
    response = httpx.post(
        f"{base}/audio/speech",
        json={"model": "tts-1-hd", "input": "Здравствуйте, это Лидия.", "voice": "alloy"},
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    with av.open(io.BytesIO(response.content)) as container:
        assert container.format.name == "mp3"
        assert sum(f.samples for f in container.decode(audio=0)) > 24_000 * 0.5
    # STT: multipart with model and file; language sent, then retried without it.
    wav = espeak_wav(ENGLISH_SENTENCE)
    for data in ({"model": "whisper-1", "language": "en"}, {"model": "whisper-1"}):
        stt = httpx.post(
            f"{base}/audio/transcriptions",
            data=data,
            files={"file": ("speech.wav", wav, "audio/wav")},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=60,
        )
        assert stt.status_code == 200
        assert "hello" in stt.json()["text"].lower()


def test_openai_sdk_with_right_and_wrong_keys(keyed_url: str) -> None:
    good = openai.OpenAI(base_url=f"{keyed_url}/v1", api_key=KEY, max_retries=0)
    speech = good.audio.speech.create(model="tts-1", voice="alloy", input="Да.")
    assert speech.response.headers["content-type"] == "audio/mpeg"
    bad = openai.OpenAI(base_url=f"{keyed_url}/v1", api_key="nope", max_retries=0)
    assert [m.id for m in bad.models.list()]  # discovery stays open
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.audio.speech.create(model="tts-1", voice="alloy", input="Да.")
    assert caught.value.status_code == 401
