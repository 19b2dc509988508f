"""Any OpenAI-compatible chat server: `POST {base}/chat/completions` (JSON or SSE) with httpx.

Serves OpenWebUI (`base = OPENWEBUI_URL + "/api"`), Ollama, vLLM and LM Studio.
Tools go out as OpenAI `tools` (type "function"); calls come back in `message.tool_calls`,
or streamed as `delta.tool_calls` fragments (joined by `index`) yielded once the stream ends.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from lidia.llm.base import ChatMessage, ChatReply, ToolCall, ToolSpec
from lidia.llm.errors import (
    LLMBlockedError,
    LLMError,
    LLMMalformedError,
    LLMNotConfiguredError,
    LLMTimeoutError,
    LLMUpstreamError,
    error_for_status,
)


class OpenAICompatChat:
    """`POST {base_url}/chat/completions` with httpx, plain JSON or SSE streaming.

    `require_key=True` (OpenWebUI) fails fast with `not_configured` when no key is set, without
    contacting the server. `auth_hint` is what a 401/403 error tells the operator to do.
    """

    supports_tools = True

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        model: str,
        api_key: str | None = None,
        temperature: float = 0.6,
        max_output_tokens: int = 400,
        timeout_s: float = 20.0,
        require_key: bool = False,
        auth_hint: str = "check the API key",
    ) -> None:
        self.name = name
        self.model = model
        self._url = f"{base_url.rstrip('/')}/chat/completions"
        self._api_key = api_key
        self._require_key = require_key
        self._auth_hint = auth_hint
        self._temperature = temperature
        self._max_output_tokens = max_output_tokens
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s))

    def _check_configured(self) -> None:
        if self._require_key and not self._api_key:
            raise LLMNotConfiguredError(f"{self.name}: no API key: {self._auth_hint}")

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _body(
        self,
        system: str,
        messages: Sequence[ChatMessage],
        stream: bool,
        tools: Sequence[ToolSpec] = (),
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                *(_openai_message(m) for m in messages),
            ],
            "temperature": self._temperature,
            "max_tokens": self._max_output_tokens,
            "stream": stream,
        }
        if tools:
            body["tools"] = [_openai_tool(tool) for tool in tools]
            body["tool_choice"] = "auto"
        return body

    async def complete(self, system: str, messages: Sequence[ChatMessage]) -> str:
        reply = await self.complete_turn(system, messages)
        if not reply.text:
            raise LLMMalformedError(f"{self.name}: empty reply")
        return reply.text

    async def complete_turn(
        self, system: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> ChatReply:
        self._check_configured()
        try:
            response = await self._client.post(
                self._url, json=self._body(system, messages, False, tools), headers=self._headers()
            )
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        if response.status_code != 200:
            raise error_for_status(self.name, response.status_code, response.text, self._auth_hint)
        reply = self._completion(_parse_json(self.name, response.text))
        if not reply.text and not reply.tool_calls:
            raise LLMMalformedError(f"{self.name}: empty reply")
        return reply

    async def stream(
        self, system: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> AsyncIterator[str | ToolCall]:
        self._check_configured()
        body = self._body(system, messages, True, tools)
        sent_any = False
        try:
            async with self._client.stream(
                "POST", self._url, json=body, headers=self._headers()
            ) as response:
                if response.status_code != 200:
                    detail = (await response.aread()).decode("utf-8", "replace")
                    raise error_for_status(self.name, response.status_code, detail, self._auth_hint)
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    # Some servers ignore `stream: true` and answer with one JSON completion.
                    reply = self._completion(
                        _parse_json(self.name, (await response.aread()).decode("utf-8", "replace"))
                    )
                    for item in (reply.text, *reply.tool_calls):
                        if item:
                            sent_any = True
                            yield item
                else:
                    async for piece in self._sse_pieces(response):
                        sent_any = True
                        yield piece
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        if not sent_any:
            raise LLMMalformedError(f"{self.name}: empty reply")

    async def _sse_pieces(self, response: httpx.Response) -> AsyncIterator[str | ToolCall]:
        calls = _ToolCallFragments(self.name)
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue  # blank separators, comments (": ping"), `event:` lines
            data = line[len("data:") :].strip()
            if data == "[DONE]":
                break
            delta = self._delta(_parse_json(self.name, data))
            content = delta.get("content")
            if isinstance(content, str) and content:
                yield content
            calls.add(delta.get("tool_calls"))
        for call in calls.finished():
            yield call

    def _completion(self, payload: Any) -> ChatReply:
        choice = self._first_choice(payload)
        message = choice.get("message")
        message = message if isinstance(message, dict) else {}
        content = message.get("content")
        if not isinstance(content, str | None):
            raise LLMMalformedError(f"{self.name}: unexpected reply shape: {str(payload)[:300]}")
        fragments = _ToolCallFragments(self.name)
        fragments.add(message.get("tool_calls"))
        return ChatReply(content or "", tuple(fragments.finished()))

    def _delta(self, payload: Any) -> dict[str, Any]:
        choice = self._first_choice(payload, allow_empty=True)
        delta = choice.get("delta")
        return delta if isinstance(delta, dict) else {}

    def _first_choice(self, payload: Any, *, allow_empty: bool = False) -> dict[str, Any]:
        if isinstance(payload, dict) and "error" in payload:
            raise LLMUpstreamError(f"{self.name}: error in reply: {str(payload['error'])[:300]}")
        choices = payload.get("choices") if isinstance(payload, dict) else None
        if not isinstance(choices, list) or (not choices and not allow_empty):
            raise LLMMalformedError(f"{self.name}: unexpected reply shape: {str(payload)[:300]}")
        if not choices:
            return {}  # e.g. a trailing usage-only chunk
        choice = choices[0]
        if not isinstance(choice, dict):
            raise LLMMalformedError(f"{self.name}: unexpected choice: {str(choice)[:300]}")
        if choice.get("finish_reason") == "content_filter":
            raise LLMBlockedError(f"{self.name}: reply blocked by a content filter")
        return choice

    def _transport_error(self, exc: httpx.HTTPError) -> LLMError:
        if isinstance(exc, httpx.TimeoutException):
            return LLMTimeoutError(f"{self.name}: timed out ({type(exc).__name__})")
        return LLMUpstreamError(f"{self.name}: connection to {self._url} failed: {exc!r}")

    async def aclose(self) -> None:
        await self._client.aclose()


class _ToolCallFragments:
    """Tool calls put together from OpenAI's pieces: streamed deltas carry an `index`, the
    `id` and name once, and the JSON `arguments` in fragments to be concatenated."""

    def __init__(self, backend: str) -> None:
        self._backend = backend
        self._parts: dict[int, dict[str, str]] = {}

    def add(self, tool_calls: Any) -> None:
        if not isinstance(tool_calls, list):
            return
        for position, item in enumerate(tool_calls):
            if not isinstance(item, dict):
                continue
            index = item.get("index", position)
            part = self._parts.setdefault(int(index), {"id": "", "name": "", "arguments": ""})
            function = item.get("function") if isinstance(item.get("function"), dict) else {}
            part["id"] = str(item.get("id") or part["id"])
            part["name"] = str(function.get("name") or part["name"])
            arguments = function.get("arguments")
            if isinstance(arguments, dict):  # Ollama's native shape: already an object
                arguments = json.dumps(arguments, ensure_ascii=False)
            part["arguments"] += arguments if isinstance(arguments, str) else ""

    def finished(self) -> list[ToolCall]:
        calls = []
        for index in sorted(self._parts):
            part = self._parts[index]
            if not part["name"]:
                continue
            try:
                arguments = json.loads(part["arguments"] or "{}")
            except ValueError as exc:
                raise LLMMalformedError(
                    f"{self._backend}: tool call {part['name']} has arguments that are not "
                    f"JSON: {part['arguments'][:200]!r}"
                ) from exc
            if not isinstance(arguments, dict):
                arguments = {}
            calls.append(ToolCall(part["name"], arguments, part["id"]))
        return calls


def _openai_tool(tool: ToolSpec) -> dict[str, Any]:
    function = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    return {"type": "function", "function": function}


def _openai_message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        call_id = message.tool_call.id if message.tool_call else ""
        return {"role": "tool", "tool_call_id": call_id, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        "name": call.name,
                        "arguments": json.dumps(call.arguments, ensure_ascii=False),
                    },
                }
                for call in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.content}


def _parse_json(backend: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise LLMMalformedError(f"{backend}: response is not JSON: {text[:200]!r}") from exc
