"""Settings from `.env` and the environment: an empty value means "not set"."""

from __future__ import annotations

from pathlib import Path

import pytest

from lidia.core.settings import Settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No variable of the machine running the tests leaks into the settings under test."""
    for name in (
        "OPENWEBUI_API_KEY",
        "OPENWEBUI_URL",
        "GEMINI_MODEL",
        "COMPANY_NAME",
        "LLM_BACKEND",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def env_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env"
    path.write_text(text, encoding="utf-8")
    return path


def test_empty_key_in_the_env_file_is_unset(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    path = env_file(tmp_path, "OPENWEBUI_API_KEY=\nOPENWEBUI_URL=http://127.0.0.1:3000\n")
    settings = Settings(_env_file=path)
    assert settings.openwebui_api_key is None
    assert settings.openwebui_url == "http://127.0.0.1:3000"


def test_empty_key_in_the_environment_is_unset(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("OPENWEBUI_API_KEY", "")
    assert Settings(_env_file=None).openwebui_api_key is None


def test_empty_environment_value_does_not_hide_the_env_file(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("OPENWEBUI_API_KEY", "")
    settings = Settings(_env_file=env_file(tmp_path, "OPENWEBUI_API_KEY=sk-из-файла\n"))
    assert settings.openwebui_api_key is not None
    assert settings.openwebui_api_key.get_secret_value() == "sk-из-файла"


def test_empty_value_for_a_field_with_a_default_gives_the_default(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    defaults = Settings(_env_file=None)
    clean_env.setenv("GEMINI_MODEL", "")
    path = env_file(tmp_path, "COMPANY_NAME=\nLLM_BACKEND=\n")
    settings = Settings(_env_file=path)
    assert settings.gemini_model == defaults.gemini_model == "gemini-2.5-flash"
    assert settings.company_name == defaults.company_name == "наша компания"
    assert settings.llm_backend == "auto"


def test_set_values_are_read_from_both_sources(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("GEMINI_MODEL", "gemini-2.5-pro")
    settings = Settings(_env_file=env_file(tmp_path, "COMPANY_NAME=ООО «Ромашка»\n"))
    assert settings.gemini_model == "gemini-2.5-pro"
    assert settings.company_name == "ООО «Ромашка»"
