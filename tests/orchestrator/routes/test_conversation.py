"""/chat, /reset_conversation and /process_call through the app factory.

The LLM is the fake OpenAI-compatible server (real HTTP on 127.0.0.1) reached through the
real backend code; STT is tiny.en, TTS is RHVoice.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from lidia.audio.codecs import decode_audio, rms, wav_bytes
from lidia.orchestrator.app import create_app
from lidia.secretary.brain import FALLBACK_REPLY, NO_SPEECH_REPLY
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.service import VoiceService
from tests.conftest import make_settings
from tests.support.fake_llm_servers import EventLog, FakeOpenAI, Script
from tests.support.live_server import live_server
from tests.support.service_guard import require_tcp_service
from tests.support.speech_fixtures import ENGLISH_EXPECTED_WORDS, ENGLISH_SENTENCE, espeak_wav

THREE_SENTENCES = (
    "Здравствуйте, это компания Ромашка. Мы работаем с девяти до шести. "
    "Оставьте, пожалуйста, ваш номер телефона, и мы вам перезвоним."
)


@pytest.fixture(scope="module")
def english_wav() -> bytes:
    return espeak_wav(ENGLISH_SENTENCE)


@pytest.fixture
def llm(fake_openai: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_openai.reset(Script(text="Здравствуйте! Чем могу помочь?"))
    yield fake_openai
    fake_openai.reset(Script())


@pytest.fixture
def chat_client(make_client: Callable[..., TestClient], llm: FakeOpenAI) -> TestClient:
    return make_client(openai_base_url=llm.base_url, openai_model="fake-model")


def sent_messages(llm: FakeOpenAI, index: int = -1) -> list[dict]:
    return llm.requests[index].body["messages"]


# ------------------------------------------------------------------------------------ /chat


def test_chat_original_curl_example(chat_client: TestClient, llm: FakeOpenAI) -> None:
    # curl -X POST /chat -H "Content-Type: application/json" -d '{"text": "Здравствуйте"}'
    response = chat_client.post("/chat", json={"text": "Здравствуйте"})
    assert response.status_code == 200
    assert response.json() == {
        "reply": "Здравствуйте! Чем могу помочь?",
        "session_id": "default",
        "fallback": False,
        "actions": [],
    }
    messages = sent_messages(llm)
    assert messages[0]["role"] == "system" and "Лидия" in messages[0]["content"]
    assert messages[-1] == {"role": "user", "content": "Здравствуйте"}
    assert llm.requests[-1].body["model"] == "fake-model"


def test_chat_keeps_history_per_session_and_reset_clears_it(
    chat_client: TestClient, llm: FakeOpenAI
) -> None:
    chat_client.post("/chat", json={"text": "Меня зовут Анна", "session_id": "caller-a"})
    chat_client.post("/chat", json={"text": "Я Борис", "session_id": "caller-b"})
    chat_client.post("/chat", json={"text": "Как меня зовут?", "session_id": "caller-a"})
    history = [m["content"] for m in sent_messages(llm)]
    assert "Меня зовут Анна" in history and "Я Борис" not in history

    reset = chat_client.post("/reset_conversation", json={"session_id": "caller-a"})
    assert reset.json()["cleared"] == 1
    chat_client.post("/chat", json={"text": "Снова я", "session_id": "caller-a"})
    assert [m["role"] for m in sent_messages(llm)] == ["system", "user"]

    everything = chat_client.post("/reset_conversation", json={"all": True}).json()
    assert everything["all"] is True and everything["cleared"] >= 2


def test_reset_without_a_body_clears_the_default_session(
    chat_client: TestClient, llm: FakeOpenAI
) -> None:
    chat_client.post("/chat", json={"text": "Привет"})
    assert chat_client.post("/reset_conversation").json()["cleared"] == 1


def test_chat_stream_sends_pieces_then_a_final_event(chat_client: TestClient) -> None:
    response = chat_client.post("/chat", json={"text": "Привет", "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
    ]
    deltas = [e["text"] for e in events if e["type"] == "delta"]
    assert len(deltas) > 1 and "".join(deltas) == "Здравствуйте! Чем могу помочь?"
    assert events[-1] == {
        "type": "done",
        "reply": "Здравствуйте! Чем могу помочь?",
        "session_id": "default",
        "fallback": False,
        "actions": [],
    }


@pytest.mark.parametrize("body", [{"text": "  "}, {}, {"text": "x", "session_id": "a b/c"}])
def test_chat_bad_input_is_a_4xx(chat_client: TestClient, body: dict) -> None:
    response = chat_client.post("/chat", json=body)
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["message"]


def test_llm_failure_is_a_spoken_fallback_not_a_5xx(
    chat_client: TestClient, llm: FakeOpenAI
) -> None:
    llm.reset(Script(fail_first=100, fail_status=500))
    response = chat_client.post("/chat", json={"text": "Алло", "session_id": "s1"})
    assert response.status_code == 200
    assert response.json()["reply"] == FALLBACK_REPLY
    assert response.json()["fallback"] is True
    assert len(llm.requests) == 3  # one try and LLM_MAX_RETRIES=2 retries
    health = chat_client.get("/health").json()
    assert health["llm"]["status"] == "degraded"
    assert "500" in health["llm"]["last_error"]["message"]


def test_llm_not_configured_still_answers(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    response = client.post("/chat", json={"text": "Алло"})
    assert response.status_code == 200 and response.json()["fallback"] is True
    assert "GEMINI_API_KEY" in client.get("/health").json()["llm"]["description"]


# ----------------------------------------------------------------------------- /process_call


def test_process_call_returns_wav_with_transcript_and_reply_headers(
    chat_client: TestClient, llm: FakeOpenAI, english_wav: bytes
) -> None:
    response = chat_client.post(
        "/process_call",
        files={"audio": ("caller.wav", english_wav, "audio/wav")},
        data={"session_id": "CA123"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    transcript = unquote(response.headers["x-transcript"]).lower()
    assert all(word in transcript for word in ENGLISH_EXPECTED_WORDS)
    assert unquote(response.headers["x-reply"]) == "Здравствуйте! Чем могу помочь?"
    assert response.headers["x-session-id"] == "CA123"
    assert rms(decode_audio(response.content)) > 0.01
    assert sent_messages(llm)[-1]["content"].lower().startswith("hello")


def test_process_call_json_has_every_stage_timing(
    chat_client: TestClient, english_wav: bytes
) -> None:
    response = chat_client.post(
        "/process_call?response=json", files={"audio": ("a.wav", english_wav, "audio/wav")}
    )
    body = response.json()
    assert body["reply"] == "Здравствуйте! Чем могу помочь?"
    assert "hello" in body["transcript"].lower()
    audio = decode_audio(base64.b64decode(body["audio_base64"]))
    assert rms(audio) > 0.01
    timings = body["timings"]
    for stage in ("stt_s", "llm_first_token_s", "llm_total_s", "tts_first_audio_s", "total_s"):
        assert timings[stage] is not None and timings[stage] >= 0
    assert timings["total_s"] >= timings["stt_s"] + timings["llm_total_s"]


def test_silence_gets_a_short_reply_without_calling_the_llm(
    chat_client: TestClient, llm: FakeOpenAI
) -> None:
    silence = wav_bytes(np.zeros(16000 * 2, dtype=np.float32), 16000)
    response = chat_client.post(
        "/process_call?response=json", files={"audio": ("s.wav", silence, "audio/wav")}
    )
    assert response.json()["reply"] == NO_SPEECH_REPLY
    assert response.json()["transcript"] == ""
    assert llm.requests == []


def test_process_call_bad_audio_is_a_4xx(chat_client: TestClient) -> None:
    response = chat_client.post(
        "/process_call", files={"audio": ("a.wav", b"not audio" * 50, "audio/wav")}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_audio"
    missing = chat_client.post("/process_call", data={"session_id": "x"})
    assert missing.status_code == 400


def test_process_call_stream_wav_is_playable(
    chat_client: TestClient, llm: FakeOpenAI, english_wav: bytes
) -> None:
    llm.reset(Script(text=THREE_SENTENCES))
    response = chat_client.post(
        "/process_call?stream=true", files={"audio": ("a.wav", english_wav, "audio/wav")}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    audio = decode_audio(response.content, sample_rate=24000)
    assert len(audio) / 24000 > 3 and rms(audio) > 0.01


def test_streamed_turn_speaks_before_the_llm_has_finished(
    tmp_path: Path,
    tiny_stt: FasterWhisperEngine,
    fallback_voice: VoiceService,
    english_wav: bytes,
) -> None:
    """The ordering proof: the first audio reaches the client before the LLM's last token."""
    log = EventLog()
    script = Script(text=THREE_SENTENCES, first_token_delay_s=0.05, token_delay_s=0.12)
    with FakeOpenAI(log=log) as llm:
        llm.reset(script)
        settings = make_settings(tmp_path, openai_base_url=llm.base_url, llm_timeout_s=5)
        app = create_app(settings, stt=tiny_stt, tts=fallback_voice)
        with (
            live_server(app) as base_url,
            httpx.stream(
                "POST",
                f"{base_url}/process_call?stream=true&response=events",
                files={"audio": ("a.wav", english_wav, "audio/wav")},
                timeout=60,
            ) as response,
        ):
            events = []
            for line in response.iter_lines():
                event = json.loads(line)
                if event["type"] == "audio" and not any(e["type"] == "audio" for e in events):
                    log.add("client", "first_audio")
                events.append(event)

    tokens = log.events(kind="token")
    first_audio = log.events(kind="first_audio")[0]
    assert len(tokens) == len(script.stream_pieces())
    assert first_audio.seq < tokens[-1].seq, "audio must start while the LLM is still writing"
    kinds = [e["type"] for e in events]
    assert kinds[0] == "transcript" and kinds[-1] == "done"
    sentences = [e["text"] for e in events if e["type"] == "sentence"]
    assert sentences[0] == "Здравствуйте,"  # the first clause goes out before its sentence ends
    assert len(sentences) == 4 and " ".join(sentences) == THREE_SENTENCES
    done = events[-1]
    assert done["reply"] == THREE_SENTENCES
    assert done["timings"]["first_audio_s"] < done["timings"]["total_s"]
    pcm = b"".join(base64.b64decode(e["data"]) for e in events if e["type"] == "audio")
    assert rms(np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768) > 0.01


# ------------------------------------------------------------------------- shared sessions


def test_two_orchestrators_share_a_conversation_through_redis(
    make_client: Callable[..., TestClient], llm: FakeOpenAI
) -> None:
    require_tcp_service("Redis", "127.0.0.1", 6379)
    prefix = f"lidia-test-{uuid.uuid4().hex[:8]}:"
    common = {
        "openai_base_url": llm.base_url,
        "redis_url": "redis://127.0.0.1:6379/0",
        "redis_key_prefix": prefix,
    }
    first, second = make_client(**common), make_client(**common)
    try:
        first.post("/chat", json={"text": "Меня зовут Анна", "session_id": "CA-shared"})
        second.post("/chat", json={"text": "Как меня зовут?", "session_id": "CA-shared"})
        history = [m["content"] for m in sent_messages(llm)]
        assert "Меня зовут Анна" in history
        assert first.get("/health").status_code == 200
    finally:
        second.post("/reset_conversation", json={"all": True})


def test_streamed_turn_skips_unspeakable_pieces_and_finishes(
    chat_client: TestClient, llm: FakeOpenAI, english_wav: bytes
) -> None:
    llm.reset(Script(text="Хорошо.\n\n***\n\nДо свидания."))
    response = chat_client.post(
        "/process_call?stream=true&response=events",
        files={"audio": ("a.wav", english_wav, "audio/wav")},
    )
    events = [json.loads(line) for line in response.text.splitlines()]
    assert [e["text"] for e in events if e["type"] == "sentence"] == ["Хорошо.", "До свидания."]
    assert events[-1]["type"] == "done"


def test_chat_text_has_a_size_limit(chat_client: TestClient, llm: FakeOpenAI) -> None:
    response = chat_client.post("/chat", json={"text": "а" * 8001})
    assert response.status_code == 422 and "text" in response.json()["error"]["message"]
    assert llm.requests == []
