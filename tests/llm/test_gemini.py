"""GeminiChat against a fake Gemini on loopback, through the real google-genai SDK."""

from __future__ import annotations

import pytest

from lidia.llm.errors import LLMErrorKind
from lidia.llm.gemini import GeminiChat
from lidia.llm.registry import build_chat_model
from tests.support.fake_llm_servers import FakeGemini, Script, llm_settings
from tests.support.llm_cases import HISTORY, SYSTEM, collect, error_of_turn, gemini_settings


async def test_gemini_sends_system_instruction_history_and_settings(gemini: FakeGemini) -> None:
    model, _ = build_chat_model(gemini_settings(gemini, llm_temperature=0.3))
    assert model is not None
    try:
        assert await model.complete(SYSTEM, HISTORY) == "Здравствуйте! Чем могу помочь?"
    finally:
        await model.aclose()
    (request,) = gemini.requests
    assert request.path == "/v1/models/gemini-2.5-flash:generateContent"
    assert request.headers["x-goog-api-key"] == "gemini-test-key"
    assert request.body["systemInstruction"]["parts"] == [{"text": SYSTEM}]
    assert [(c["role"], c["parts"][0]["text"]) for c in request.body["contents"]] == [
        ("user", "Здравствуйте"),
        ("model", "Добрый день! Чем могу помочь?"),
        ("user", "Когда вы работаете?"),
    ]
    config = request.body["generationConfig"]
    assert config["temperature"] == 0.3
    assert config["maxOutputTokens"] == 400
    assert "thinkingConfig" in config  # Flash: thinking off for latency


async def test_gemini_pro_gets_no_thinking_budget(gemini: FakeGemini) -> None:
    model = GeminiChat(api_key="gemini-test-key", model="gemini-2.5-pro", base_url=gemini.base_url)
    try:
        await model.complete(SYSTEM, HISTORY)
    finally:
        await model.aclose()
    assert "thinkingConfig" not in gemini.requests[0].body["generationConfig"]


async def test_gemini_stream_yields_pieces_in_order(gemini: FakeGemini) -> None:
    gemini.script = Script(pieces=["Мы работаем ", "с девяти ", "до восемнадцати."])
    model, _ = build_chat_model(gemini_settings(gemini))
    assert model is not None
    try:
        assert await collect(model) == ["Мы работаем ", "с девяти ", "до восемнадцати."]
    finally:
        await model.aclose()
    (request,) = gemini.requests
    assert request.path.endswith(":streamGenerateContent")
    assert request.query == {"alt": "sse"}
    assert [e.data["index"] for e in gemini.token_events()] == [0, 1, 2]


@pytest.mark.parametrize(
    "script",
    [Script(empty_candidates=True), Script(block_reason="SAFETY"), Script(finish_reason="SAFETY")],
    ids=["empty-candidates", "prompt-blocked", "finish-safety"],
)
@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_gemini_blocks_are_not_retried(
    gemini: FakeGemini, script: Script, streaming: bool
) -> None:
    settings = gemini_settings(gemini)
    gemini.script = script
    error = await error_of_turn(settings, streaming=streaming)
    assert error.kind == LLMErrorKind.BLOCKED
    assert len(gemini.requests) == 1


async def test_gemini_rejected_key_is_an_auth_error(gemini: FakeGemini) -> None:
    settings = llm_settings(gemini_api_key="wrong", gemini_base_url=gemini.base_url)
    error = await error_of_turn(settings)
    assert error.kind == LLMErrorKind.AUTH
    assert "GEMINI_API_KEY" in str(error)
    assert len(gemini.requests) == 1
