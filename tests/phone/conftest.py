"""Fixtures of the Russian end-to-end phone tests (the rig: `tests.support.russian_phone`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.service import VoiceService
from tests.support.fake_llm_servers import FakeOpenAI
from tests.support.live_server import live_server
from tests.support.russian_phone import russian_orchestrator


@pytest.fixture(scope="module")
def russian_orchestrator_settings() -> dict[str, object]:
    """Settings the module's Russian orchestrator adds; a module overrides this fixture."""
    return {}


@pytest.fixture(scope="module")
def russian_orchestrator_url(
    tmp_path_factory: pytest.TempPathFactory,
    russian_stt: FasterWhisperEngine,
    fallback_voice: VoiceService,
    fake_openai: FakeOpenAI,
    russian_orchestrator_settings: dict[str, object],
) -> Iterator[str]:
    """One Russian orchestrator per module, under uvicorn on 127.0.0.1."""
    app = russian_orchestrator(
        tmp_path_factory.mktemp("orchestrator-ru"),
        russian_stt,
        fallback_voice,
        fake_openai,
        **russian_orchestrator_settings,
    )
    with live_server(app) as url:
        yield url
