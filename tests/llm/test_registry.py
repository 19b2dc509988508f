"""build_chat_model: which backend the settings choose, and what is missing when none."""

from __future__ import annotations

import pytest

from lidia.llm.registry import NOT_CONFIGURED_REASON, build_chat_model
from tests.support.fake_llm_servers import llm_settings


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ({"gemini", "openwebui", "openai"}, "gemini"),
        ({"openwebui", "openai"}, "openwebui"),
        ({"openai"}, "openai"),
        (set(), None),
    ],
)
async def test_auto_backend_picks_the_first_configured(
    configured: set[str], expected: str | None
) -> None:
    values: dict[str, object] = {}
    if "gemini" in configured:
        values["gemini_api_key"] = "key"
    if "openwebui" in configured:
        values.update(openwebui_url="http://127.0.0.1:9", openwebui_api_key="key")
    if "openai" in configured:
        values["openai_base_url"] = "http://127.0.0.1:9/v1"
    model, reason = build_chat_model(llm_settings(**values))
    if expected is None:
        assert model is None and reason == NOT_CONFIGURED_REASON
        return
    assert model is not None
    try:
        assert model.name == expected
        assert reason.startswith(f"{expected}: ")
    finally:
        await model.aclose()


async def test_explicit_backend_without_its_settings_says_what_is_missing() -> None:
    model, reason = build_chat_model(llm_settings(llm_backend="gemini", openai_base_url="http://x"))
    assert model is None and "GEMINI_API_KEY" in reason
    model, reason = build_chat_model(llm_settings(llm_backend="openai", gemini_api_key="k"))
    assert model is None and "OPENAI_BASE_URL" in reason
