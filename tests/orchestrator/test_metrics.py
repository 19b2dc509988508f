"""The orchestrator's `GET /metrics`: request, engine, queue and LLM metrics in Prometheus text."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.support.fake_llm_servers import FakeOpenAI, Script
from tests.support.prometheus import scrape, value
from tests.support.speech_fixtures import ENGLISH_SENTENCE, espeak_wav

SPEECH = {"model": "tts-1", "input": "Проверка связи.", "voice": "alloy", "response_format": "wav"}


def test_requests_are_counted_per_route_template_and_status(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    for _ in range(2):
        assert client.post("/v1/audio/speech", json=SPEECH).status_code == 200
    assert client.post("/v1/audio/speech", json={**SPEECH, "input": ""}).status_code == 400
    assert client.get("/v1/models/lidia").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    samples = scrape(client)
    speech = {"method": "POST", "route": "/v1/audio/speech"}
    assert value(samples, "lidia_http_requests_total", **speech, status="200") == 2
    assert value(samples, "lidia_http_requests_total", **speech, status="400") == 1
    assert value(samples, "lidia_http_request_duration_seconds_count", **speech, status="200") == 2
    assert value(samples, "lidia_http_request_duration_seconds_sum", **speech, status="200") > 0
    assert (
        value(
            samples,
            "lidia_http_requests_total",
            method="GET",
            route="/v1/models/{model_id}",
            status="200",
        )
        == 1
    )
    assert (
        value(samples, "lidia_http_requests_total", method="GET", route="<unmatched>", status="404")
        == 1
    )


def test_engine_times_queue_depth_and_fallback_use(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    assert client.post("/v1/audio/speech", json=SPEECH).status_code == 200
    # "lidia" on a box without XTTS: spoken by the RHVoice fallback, and counted as such.
    lidia = {**SPEECH, "voice": "lidia", "model": "tts-1-hd"}
    assert client.post("/v1/audio/speech", json=lidia).status_code == 200
    wav = espeak_wav(ENGLISH_SENTENCE)
    stt = client.post("/v1/audio/transcriptions", files={"file": ("a.wav", wav, "audio/wav")})
    assert stt.status_code == 200
    samples = scrape(client)
    assert value(samples, "lidia_tts_synthesis_seconds_count", engine="rhvoice") == 2
    assert value(samples, "lidia_tts_fallback_total", engine="rhvoice") == 1
    assert value(samples, "lidia_tts_fallback_active") == 1
    assert value(samples, "lidia_stt_transcription_seconds_count", engine="faster-whisper") == 1
    assert value(samples, "lidia_tts_queue_depth", engine="rhvoice") == 0
    assert value(samples, "lidia_tts_queue_depth", engine="espeak") == 0
    assert value(samples, "lidia_engine_loaded", kind="stt") == 1
    assert value(samples, "lidia_engine_loaded", kind="tts") == 1


def test_llm_errors_and_turns_come_from_llm_health(
    make_client: Callable[..., TestClient], fake_openai: FakeOpenAI
) -> None:
    fake_openai.reset(Script(fail_first=100, fail_status=500))
    client = make_client(openai_base_url=fake_openai.base_url, llm_max_retries=1)
    chat = {"model": "lidia", "messages": [{"role": "user", "content": "Привет"}]}
    response = client.post("/v1/chat/completions", json=chat)
    assert response.status_code == 200  # the secretary answers with its fallback reply
    samples = scrape(client)
    errors = {
        labels: v for (name, labels), v in samples.items() if name == "lidia_llm_errors_total"
    }
    assert sum(errors.values()) == 1
    assert value(samples, "lidia_llm_turns_total", outcome="failure") == 1
    assert value(samples, "lidia_llm_turns_total", outcome="success") == 0
    assert sum(v for (name, _), v in samples.items() if name == "lidia_llm_retries_total") == 1
    assert value(samples, "lidia_llm_up") == 0
    fake_openai.reset()
    assert client.post("/v1/chat/completions", json=chat).status_code == 200
    assert value(scrape(client), "lidia_llm_up") == 1


def test_rejected_requests_are_counted_and_metrics_stay_open(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(orchestrator_api_key="k")
    assert client.post("/v1/audio/speech", json=SPEECH).status_code == 401
    samples = scrape(client)  # no key: /metrics is open
    assert (
        value(
            samples,
            "lidia_http_requests_total",
            method="POST",
            route="/v1/audio/speech",
            status="401",
        )
        == 1
    )


def test_each_app_has_its_own_registry(make_client: Callable[..., TestClient]) -> None:
    first, second = make_client(), make_client()
    first.get("/health")
    first.get("/health")
    second.get("/health")
    health = {"method": "GET", "route": "/health", "status": "200"}
    assert value(scrape(first), "lidia_http_requests_total", **health) == 2
    assert value(scrape(second), "lidia_http_requests_total", **health) == 1
