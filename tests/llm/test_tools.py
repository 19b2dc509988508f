"""Function calling on every backend, against fakes that speak each API's tool protocol.

Gemini: function declarations out, `functionCall` parts back (whole and streamed). OpenAI-
compatible (OpenWebUI, Ollama, vLLM): `tools` out, `message.tool_calls` back, or streamed
`delta.tool_calls` whose JSON arguments arrive in fragments.
"""

from __future__ import annotations

from typing import Any

from lidia.llm.base import ChatMessage, ToolCall, supports_tools
from lidia.llm.registry import build_chat_model
from lidia.llm.retries import with_retries
from lidia.secretary.tools import TOOL_SPECS
from tests.support.fake_llm_servers import FakeGemini, FakeOpenAI, Script
from tests.support.llm_cases import HISTORY, SYSTEM, gemini_settings, openwebui_settings

MESSAGE_ARGS = {"name": "Анна", "callback_number": "+79161234567", "reason": "запись на приём"}
TOOLS = [TOOL_SPECS["take_message"], TOOL_SPECS["end_call"]]
SAID = "Записала, спасибо!"


def _tool_script() -> Script:
    return Script(text=SAID, tool_calls=[{"name": "take_message", "arguments": MESSAGE_ARGS}])


async def _streamed(settings: Any) -> list[str | ToolCall]:
    model, description = build_chat_model(settings)
    assert model is not None, description
    chat = with_retries(model, settings)
    try:
        assert supports_tools(chat)
        return [item async for item in chat.stream(SYSTEM, HISTORY, tools=TOOLS)]
    finally:
        await chat.aclose()


async def _whole(settings: Any) -> Any:
    model, _ = build_chat_model(settings)
    assert model is not None
    chat = with_retries(model, settings)
    try:
        return await chat.complete_turn(SYSTEM, HISTORY, TOOLS)
    finally:
        await chat.aclose()


def _text_and_calls(items: list[str | ToolCall]) -> tuple[str, list[ToolCall]]:
    text = "".join(item for item in items if isinstance(item, str))
    return text, [item for item in items if isinstance(item, ToolCall)]


async def test_gemini_streams_text_then_the_function_call(gemini: FakeGemini) -> None:
    gemini.script = _tool_script()
    text, calls = _text_and_calls(await _streamed(gemini_settings(gemini)))
    assert text == SAID
    assert [(c.name, c.arguments) for c in calls] == [("take_message", MESSAGE_ARGS)]
    declarations = gemini.requests[0].body["tools"][0]["functionDeclarations"]
    assert [d["name"] for d in declarations] == ["take_message", "end_call"]
    # The SDK sends the proto field's own name; the API accepts it and its camelCase form.
    schema = (
        declarations[0].get("parametersJsonSchema") or declarations[0]["parameters_json_schema"]
    )
    assert schema["required"] == ["reason"]


async def test_gemini_whole_answer_carries_the_function_call(gemini: FakeGemini) -> None:
    gemini.script = Script(text="", tool_calls=[{"name": "end_call", "arguments": {}}])
    reply = await _whole(gemini_settings(gemini))
    assert (reply.text, [c.name for c in reply.tool_calls]) == ("", ["end_call"])


async def test_openai_streamed_tool_call_fragments_are_joined(openai: FakeOpenAI) -> None:
    openai.script = _tool_script()
    text, calls = _text_and_calls(await _streamed(openwebui_settings(openai)))
    assert text == SAID
    assert [(c.name, c.arguments, c.id) for c in calls] == [
        ("take_message", MESSAGE_ARGS, "call_0")
    ]
    body = openai.requests[0].body
    assert body["tool_choice"] == "auto"
    assert [t["function"]["name"] for t in body["tools"]] == ["take_message", "end_call"]


async def test_openai_whole_answer_and_tool_results_going_back(openai: FakeOpenAI) -> None:
    openai.script = _tool_script()
    reply = await _whole(openwebui_settings(openai))
    (call,) = reply.tool_calls
    assert (reply.text, call.arguments) == (SAID, MESSAGE_ARGS)
    # The result goes back as OpenAI expects: the assistant's call, then a `tool` message.
    model, _ = build_chat_model(openwebui_settings(openai))
    assert model is not None
    openai.reset(Script(text="Спасибо, передам."))
    history = [
        *HISTORY,
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", '{"status": "saved"}', tool_call=call),
    ]
    try:
        assert await model.complete(SYSTEM, history) == "Спасибо, передам."
    finally:
        await model.aclose()
    sent = openai.requests[0].body["messages"][-2:]
    assert sent[0]["tool_calls"][0]["function"]["name"] == "take_message"
    assert sent[1] == {"role": "tool", "tool_call_id": "call_0", "content": '{"status": "saved"}'}
