"""Any OpenAI-compatible chat server: `POST {base}/chat/completions` (JSON or SSE) with httpx.

Serves OpenWebUI (`base = OPENWEBUI_URL + "/api"`), Ollama, vLLM and LM Studio.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from lidia.llm.base import ChatMessage
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

    def _body(self, system: str, messages: Sequence[ChatMessage], stream: bool) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                *({"role": m.role, "content": m.content} for m in messages),
            ],
            "temperature": self._temperature,
            "max_tokens": self._max_output_tokens,
            "stream": stream,
        }

    async def complete(self, system: str, messages: Sequence[ChatMessage]) -> str:
        self._check_configured()
        try:
            response = await self._client.post(
                self._url, json=self._body(system, messages, False), headers=self._headers()
            )
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        if response.status_code != 200:
            raise error_for_status(self.name, response.status_code, response.text, self._auth_hint)
        text = self._completion_text(_parse_json(self.name, response.text))
        if not text:
            raise LLMMalformedError(f"{self.name}: empty reply")
        return text

    async def stream(self, system: str, messages: Sequence[ChatMessage]) -> AsyncIterator[str]:
        self._check_configured()
        body = self._body(system, messages, True)
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
                    text = self._completion_text(
                        _parse_json(self.name, (await response.aread()).decode("utf-8", "replace"))
                    )
                    if text:
                        sent_any = True
                        yield text
                else:
                    async for piece in self._sse_pieces(response):
                        sent_any = True
                        yield piece
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        if not sent_any:
            raise LLMMalformedError(f"{self.name}: empty reply")

    async def _sse_pieces(self, response: httpx.Response) -> AsyncIterator[str]:
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue  # blank separators, comments (": ping"), `event:` lines
            data = line[len("data:") :].strip()
            if data == "[DONE]":
                return
            piece = self._delta_text(_parse_json(self.name, data))
            if piece:
                yield piece

    def _completion_text(self, payload: Any) -> str:
        choice = self._first_choice(payload)
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str | None):
            raise LLMMalformedError(f"{self.name}: unexpected reply shape: {str(payload)[:300]}")
        return content or ""

    def _delta_text(self, payload: Any) -> str:
        choice = self._first_choice(payload, allow_empty=True)
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        return content if isinstance(content, str) else ""

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


def _parse_json(backend: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise LLMMalformedError(f"{backend}: response is not JSON: {text[:200]!r}") from exc
