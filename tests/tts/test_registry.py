"""The engine registry: the one place that names engines, and TTS_ENGINE's validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lidia.core.settings import Settings
from lidia.orchestrator.app import create_app
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts import registry
from lidia.tts.service import VoiceService
from tests.conftest import make_settings


def settings_for(root: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"models_dir": root / "models", "voice_samples_dir": root / "v"}
    values.update(overrides)
    return Settings(_env_file=None, **values)


def test_the_registry_knows_every_engine_once() -> None:
    assert registry.names() == ("xtts", "rhvoice", "espeak")  # best voice first
    assert set(registry.fastest_first()) == set(registry.names())
    assert registry.fastest_first()[-1] == registry.CLONED_ENGINE  # the heavy clone last
    assert registry.CLONED_ENGINE in registry.names()
    assert registry.CLONED_ENGINE not in registry.offline_names()
    assert registry.setting_choices() == ("auto", *registry.names())


@pytest.mark.parametrize("name", ["rhvoice", "espeak"])
def test_each_loader_gives_the_engine_its_registry_name(tmp_path: Path, name: str) -> None:
    spec = next(spec for spec in registry.ENGINES if spec.name == name)
    engine = spec.load(settings_for(tmp_path))
    try:
        assert engine.name == name
        assert all(voice.engine == name for voice in engine.voices())
        assert "ru" in engine.languages
    finally:
        getattr(engine, "close", lambda: None)()


def test_settings_accept_every_registry_name(tmp_path: Path) -> None:
    for value in registry.setting_choices():
        assert registry.check_engine_setting(settings_for(tmp_path, tts_engine=value).tts_engine)


def test_a_misspelt_tts_engine_is_refused_with_the_valid_names(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, tts_engine="rhvoise")
    with pytest.raises(ValueError, match="TTS_ENGINE='rhvoise'") as caught:
        VoiceService.from_settings(settings)
    assert "valid: auto, xtts, rhvoice, espeak" in str(caught.value)


def test_the_orchestrator_refuses_to_start_with_a_misspelt_tts_engine(
    tmp_path: Path, tiny_stt: FasterWhisperEngine
) -> None:
    app = create_app(make_settings(tmp_path, tts_engine="xtts2"), stt=tiny_stt)
    with pytest.raises(ValueError, match=r"TTS_ENGINE='xtts2'.*valid: auto, xtts"):
        TestClient(app).__enter__()  # the lifespan runs here
