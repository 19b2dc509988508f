"""Google Gemini through `google-genai`'s async client (the SDK's own retries are off)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from lidia.llm.base import ChatMessage
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

    def _request(self, system: str, messages: Sequence[ChatMessage]) -> dict[str, Any]:
        config = self._config.model_copy(update={"system_instruction": system})
        return {"model": self.model, "contents": _to_gemini_contents(messages), "config": config}

    async def complete(self, system: str, messages: Sequence[ChatMessage]) -> str:
        try:
            response = await self._client.aio.models.generate_content(
                **self._request(system, messages)
            )
        except Exception as exc:
            raise _map_gemini_exception(exc) from exc
        text, finish = _gemini_text(response)
        if not text:
            raise _gemini_empty_error(finish)
        return text

    async def stream(self, system: str, messages: Sequence[ChatMessage]) -> AsyncIterator[str]:
        sent_any = False
        finish: str | None = None
        try:
            chunks = await self._client.aio.models.generate_content_stream(
                **self._request(system, messages)
            )
            async for chunk in chunks:
                text, chunk_finish = _gemini_text(chunk)
                finish = chunk_finish or finish
                if text:
                    sent_any = True
                    yield text
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


def _to_gemini_contents(messages: Sequence[ChatMessage]) -> list[genai_types.Content]:
    return [
        genai_types.Content(
            role="model" if message.role == "assistant" else "user",
            parts=[genai_types.Part(text=message.content)],
        )
        for message in messages
    ]


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
