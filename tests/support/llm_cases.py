"""The conversation and settings the LLM backend tests share (Russian, as callers speak)."""

from __future__ import annotations

import pytest

from lidia.core.settings import Settings
from lidia.llm.base import ChatMessage, ChatModel
from lidia.llm.errors import LLMError
from lidia.llm.registry import build_chat_model
from lidia.llm.retries import with_retries
from tests.support.fake_llm_servers import FakeGemini, FakeOpenAI, llm_settings

SYSTEM = "Ты — Лидия, секретарь."
HISTORY = [
    ChatMessage("user", "Здравствуйте"),
    ChatMessage("assistant", "Добрый день! Чем могу помочь?"),
    ChatMessage("user", "Когда вы работаете?"),
]
GEMINI_KEY = "gemini-test-key"
OPENWEBUI_KEY = "sk-openwebui-test"


def gemini_settings(fake: FakeGemini, **overrides: object) -> Settings:
    return llm_settings(gemini_api_key=GEMINI_KEY, gemini_base_url=fake.base_url, **overrides)


def openwebui_settings(fake: FakeOpenAI, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "openwebui_url": fake.base_url,
        "openwebui_api_key": OPENWEBUI_KEY,
        "openwebui_model": "lidia-model",
    }
    values.update(overrides)
    return llm_settings(**values)


async def collect(model: ChatModel) -> list[str]:
    return [piece async for piece in model.stream(SYSTEM, HISTORY)]


async def error_of_turn(settings: Settings, *, streaming: bool = False) -> LLMError:
    """The `LLMError` one turn raises through the configured backend with its retry policy."""
    model, description = build_chat_model(settings)
    assert model is not None, description
    chat = with_retries(model, settings)
    try:
        with pytest.raises(LLMError) as caught:
            if streaming:
                await collect(chat)
            else:
                await chat.complete(SYSTEM, HISTORY)
    finally:
        await chat.aclose()
    return caught.value
