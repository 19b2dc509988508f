"""Google Gemini through `google-genai`'s async client (the SDK's own retries are off).

Tools are Gemini function declarations (`parameters_json_schema`); a streamed function call
arrives whole in one chunk and is yielded as a `ToolCall` after the text before it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from lidia.llm.base import ChatMessage, ChatReply, ToolCall, ToolSpec
from lidia.llm.errors import (
    LLMBlockedError,
    LLMError,
    LLMInternalError,
    LLMMalformedError,
    LLMTimeoutError,
    LLMUpstreamError,
    error_for_status,
)

# Finish reasons after which Gemini withholds (part of) the answer for policy reasons.
_GEMINI_BLOCK_FINISH_REASONS = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)


class GeminiChat:
    """Gemini through `google-genai`'s async client. One instance per event loop is safest."""

    name = "gemini"
    supports_tools = True

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        temperature: float = 0.6,
        max_output_tokens: int = 400,
        timeout_s: float = 20.0,
    ) -> None:
        self.model = model
        self._client = genai.Client(
            api_key=api_key,
            # retry_options=None means "never retry" in the SDK: RetryingChat owns retries.
            http_options=genai_types.HttpOptions(
                base_url=base_url, timeout=max(1, int(timeout_s * 1000))
            ),
        )
        self._config = genai_types.GenerateContentConfig(
            temperature=temperature,
            max_output_tokens=max_output_tokens,
            thinking_config=_thinking_config_for(model),
        )

    def _request(
        self, system: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> dict[str, Any]:
        update: dict[str, Any] = {"system_instruction": system}
        if tools:
            update["tools"] = [_gemini_tool(tools)]
        config = self._config.model_copy(update=update)
        return {"model": self.model, "contents": _to_gemini_contents(messages), "config": config}

    async def complete(self, system: str, messages: Sequence[ChatMessage]) -> str:
        reply = await self.complete_turn(system, messages)
        if not reply.text:
            raise LLMMalformedError("gemini: empty reply (only tool calls)")
        return reply.text

    async def complete_turn(
        self, system: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> ChatReply:
        try:
            response = await self._client.aio.models.generate_content(
                **self._request(system, messages, tools)
            )
        except Exception as exc:
            raise _map_gemini_exception(exc) from exc
        text, finish = _gemini_text(response)
        calls = _gemini_calls(response)
        if not text and not calls:
            raise _gemini_empty_error(finish)
        return ChatReply(text, calls)

    async def stream(
        self, system: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> AsyncIterator[str | ToolCall]:
        sent_any = False
        finish: str | None = None
        try:
            chunks = await self._client.aio.models.generate_content_stream(
                **self._request(system, messages, tools)
            )
            async for chunk in chunks:
                text, chunk_finish = _gemini_text(chunk)
                finish = chunk_finish or finish
                if text:
                    sent_any = True
                    yield text
                for call in _gemini_calls(chunk):
                    sent_any = True
                    yield call
        except LLMError:
            raise
        except Exception as exc:
            raise _map_gemini_exception(exc) from exc
        if not sent_any:
            raise _gemini_empty_error(finish)
        if finish in _GEMINI_BLOCK_FINISH_REASONS:
            raise LLMBlockedError(f"gemini: reply cut off by a safety filter ({finish})")

    async def aclose(self) -> None:
        await self._client.aio.aclose()


def _thinking_config_for(model: str) -> genai_types.ThinkingConfig | None:
    # Thinking adds seconds before the first token: turn it off where the model allows it.
    # 2.5 Flash (and Flash-Lite) accept budget 0; 2.5 Pro rejects it; newer models use levels.
    if "2.5-flash" in model:
        return genai_types.ThinkingConfig(thinking_budget=0)
    return None


def _gemini_tool(tools: Sequence[ToolSpec]) -> genai_types.Tool:
    return genai_types.Tool(
        function_declarations=[
            genai_types.FunctionDeclaration(
                name=tool.name,
                description=tool.description,
                parameters_json_schema=tool.parameters,
            )
            for tool in tools
        ]
    )


def _to_gemini_contents(messages: Sequence[ChatMessage]) -> list[genai_types.Content]:
    return [
        genai_types.Content(
            role="model" if message.role == "assistant" else "user",
            parts=_gemini_message_parts(message),
        )
        for message in messages
    ]


def _gemini_message_parts(message: ChatMessage) -> list[genai_types.Part]:
    if message.role == "tool" and message.tool_call is not None:
        try:
            result = json.loads(message.content)
        except ValueError:
            result = message.content
        response = result if isinstance(result, dict) else {"result": result}
        call = message.tool_call
        reply = genai_types.FunctionResponse(name=call.name, id=call.id or None, response=response)
        return [genai_types.Part(function_response=reply)]
    parts = [genai_types.Part(text=message.content)] if message.content else []
    for call in message.tool_calls:
        function_call = genai_types.FunctionCall(
            name=call.name, args=call.arguments, id=call.id or None
        )
        parts.append(
            genai_types.Part(function_call=function_call, thought_signature=call.signature)
        )
    return parts or [genai_types.Part(text=message.content)]


def _gemini_calls(response: genai_types.GenerateContentResponse) -> tuple[ToolCall, ...]:
    """The function calls of one (chunk) response, in order."""
    if not response.candidates or not response.candidates[0].content:
        return ()
    parts = response.candidates[0].content.parts or []
    return tuple(
        ToolCall(
            name=str(part.function_call.name or ""),
            arguments=dict(part.function_call.args or {}),
            id=part.function_call.id or "",
            signature=part.thought_signature,
        )
        for part in parts
        if part.function_call is not None and part.function_call.name
    )


def _gemini_text(response: genai_types.GenerateContentResponse) -> tuple[str, str | None]:
    """The reply text (thought parts excluded) and the finish reason of one (chunk) response.

    Raises `LLMBlockedError` when the prompt itself was blocked.
    """
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        reason = _enum_name(feedback.block_reason)
        raise LLMBlockedError(f"gemini: the request was blocked ({reason})")
    if not response.candidates:
        return "", None
    candidate = response.candidates[0]
    finish = _enum_name(candidate.finish_reason) if candidate.finish_reason else None
    parts = candidate.content.parts if candidate.content and candidate.content.parts else []
    text = "".join(part.text for part in parts if part.text and not part.thought)
    return text, finish


def _gemini_empty_error(finish: str | None) -> LLMError:
    if finish is None:
        return LLMBlockedError("gemini: no candidates in the reply")
    if finish in _GEMINI_BLOCK_FINISH_REASONS:
        return LLMBlockedError(f"gemini: reply blocked by a safety filter ({finish})")
    return LLMMalformedError(f"gemini: empty reply (finish_reason={finish})")


def _enum_name(value: object) -> str:
    return str(getattr(value, "value", value))


def _map_gemini_exception(exc: Exception) -> LLMError:
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, genai_errors.APIError):
        message = str(exc.message or exc.status or exc)
        code = int(exc.code or 0)
        # Gemini answers a wrong key with 400 INVALID_ARGUMENT ("API key not valid").
        if code == 400 and "api key" in message.lower():
            code = 401
        return error_for_status("gemini", code, message, "check GEMINI_API_KEY")
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return LLMTimeoutError(f"gemini: timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.TransportError):
        return LLMUpstreamError(f"gemini: connection failed: {exc!r}")
    if isinstance(exc, genai_errors.UnknownApiResponseError | ValueError | TypeError):
        # ValueError covers JSON decoding and pydantic validation of an unexpected shape.
        return LLMMalformedError(f"gemini: malformed response: {str(exc)[:300]}")
    return LLMInternalError(f"gemini: unexpected {type(exc).__name__}: {exc}")
