"""OpenAICompatChat (OpenWebUI and generic OpenAI servers) against a fake server, over httpx."""

from __future__ import annotations

import pytest

from lidia.llm.errors import LLMErrorKind, LLMNotConfiguredError
from lidia.llm.openai_compat import OpenAICompatChat
from lidia.llm.registry import OPENWEBUI_KEY_HOWTO, build_chat_model
from tests.support.fake_llm_servers import FakeOpenAI, llm_settings
from tests.support.llm_cases import (
    HISTORY,
    OPENWEBUI_KEY,
    SYSTEM,
    collect,
    error_of_turn,
    openwebui_settings,
)


async def test_openwebui_posts_to_api_chat_completions_with_bearer(openai: FakeOpenAI) -> None:
    model, description = build_chat_model(openwebui_settings(openai))
    assert model is not None and model.name == "openwebui"
    assert description == f"openwebui: lidia-model at {openai.base_url}"
    try:
        reply = await model.complete(SYSTEM, HISTORY)
        pieces = await collect(model)
    finally:
        await model.aclose()
    assert reply == "Здравствуйте! Чем могу помочь?"
    assert "".join(pieces) == reply and len(pieces) == 4
    plain, streamed = openai.requests
    for request in (plain, streamed):
        assert request.path == "/api/chat/completions"
        assert request.headers["authorization"] == f"Bearer {OPENWEBUI_KEY}"
        assert request.body["model"] == "lidia-model"
        assert request.body["messages"] == [
            {"role": "system", "content": SYSTEM},
            *({"role": m.role, "content": m.content} for m in HISTORY),
        ]
        assert request.body["max_tokens"] == 400
    assert plain.body["stream"] is False and streamed.body["stream"] is True


async def test_generic_openai_backend_posts_to_base_url(openai: FakeOpenAI) -> None:
    settings = llm_settings(
        openai_base_url=f"{openai.base_url}/v1", openai_api_key=OPENWEBUI_KEY, openai_model="qwen"
    )
    model, _ = build_chat_model(settings)
    assert model is not None and model.name == "openai"
    try:
        await model.complete(SYSTEM, HISTORY)
    finally:
        await model.aclose()
    assert openai.requests[0].path == "/v1/chat/completions"
    assert openai.requests[0].body["model"] == "qwen"


async def test_openwebui_401_tells_how_to_create_a_key(openai: FakeOpenAI) -> None:
    settings = openwebui_settings(openai, openwebui_api_key="stale-key")
    error = await error_of_turn(settings)
    assert error.kind == LLMErrorKind.AUTH
    assert OPENWEBUI_KEY_HOWTO in str(error)
    assert len(openai.requests) == 1


async def test_openwebui_without_key_is_not_configured_and_never_called(
    openai: FakeOpenAI,
) -> None:
    model, reason = build_chat_model(openwebui_settings(openai, openwebui_api_key=None))
    assert model is None
    assert reason.startswith("LLM not configured") and OPENWEBUI_KEY_HOWTO in reason

    direct = OpenAICompatChat(
        name="openwebui",
        base_url=f"{openai.base_url}/api",
        model="m",
        require_key=True,
        auth_hint=OPENWEBUI_KEY_HOWTO,
    )
    try:
        with pytest.raises(LLMNotConfiguredError, match="Settings → Account → API Keys"):
            await direct.complete(SYSTEM, HISTORY)
        with pytest.raises(LLMNotConfiguredError):
            await collect(direct)
    finally:
        await direct.aclose()
    assert openai.requests == []


async def test_connection_refused_is_a_retryable_upstream_error() -> None:
    with FakeOpenAI() as fake:
        url = fake.base_url  # a port that was free a moment ago and is closed now
    settings = llm_settings(openai_base_url=url)
    error = await error_of_turn(settings)
    assert error.kind == LLMErrorKind.UPSTREAM and error.retryable
