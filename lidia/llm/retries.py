"""Per-attempt timeouts and bounded retries with backoff around any `ChatModel`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from lidia.core.settings import Settings
from lidia.llm.base import ChatMessage, ChatModel, ChatReply, ToolCall, ToolSpec, supports_tools
from lidia.llm.errors import LLMError, LLMTimeoutError
from lidia.llm.health import LLMHealth

logger = logging.getLogger(__name__)

_MAX_BACKOFF_S = 30.0
T = TypeVar("T")


class RetryingChat:
    """Wraps a `ChatModel` with a per-attempt timeout and bounded retries.

    Retryable errors (timeout, 429, 5xx, network) are retried up to `max_retries` times, waiting
    `uniform(0, base_delay_s * 2**attempt)` ("full jitter") in between. For `complete` the timeout
    bounds the whole attempt; for `stream` it bounds the wait for each piece (the first one
    included), so a long but flowing reply is never cut. A stream is retried only while nothing
    has been yielded: after that a failure ends the stream with the `LLMError`, and the caller
    decides what to say. `on_retry(error, attempt)` is called before each retry (for metrics).
    """

    def __init__(
        self,
        inner: ChatModel,
        *,
        max_retries: int,
        base_delay_s: float,
        timeout_s: float,
        on_retry: Callable[[LLMError, int], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.supports_tools = supports_tools(inner)
        self._max_retries = max_retries
        self._base_delay_s = base_delay_s
        self._timeout_s = timeout_s
        self._on_retry = on_retry
        self._sleep = sleep

    async def complete(self, system: str, messages: Sequence[ChatMessage]) -> str:
        return await self._with_retries(lambda: self.inner.complete(system, messages))

    async def complete_turn(
        self, system: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> ChatReply:
        """The whole answer with its tool calls (only for a model that `supports_tools`)."""
        inner: Any = self.inner
        return await self._with_retries(lambda: inner.complete_turn(system, messages, tools))

    async def _with_retries(self, attempt_once: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self._max_retries + 1):
            try:
                async with asyncio.timeout(self._timeout_s):
                    return await attempt_once()
            except TimeoutError as exc:
                error: LLMError = self._timeout_error()
                error.__cause__ = exc
            except LLMError as exc:
                error = exc
            if not error.retryable or attempt == self._max_retries:
                raise error
            await self._back_off(error, attempt)
        raise AssertionError("unreachable")  # the loop always returns or raises

    async def stream(
        self, system: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> AsyncIterator[str | ToolCall]:
        for attempt in range(self._max_retries + 1):
            yielded = False
            try:
                async for piece in self._stream_once(system, messages, tools):
                    yielded = True
                    yield piece
                return
            except LLMError as error:
                if yielded or not error.retryable or attempt == self._max_retries:
                    raise
                await self._back_off(error, attempt)

    async def _stream_once(
        self, system: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> AsyncIterator[str | ToolCall]:
        inner: Any = self.inner
        # Only a tool-capable backend is given `tools=`: plain ones keep their old signature.
        pieces = (
            inner.stream(system, messages, tools=tools) if tools else inner.stream(system, messages)
        )
        try:
            while True:
                try:
                    async with asyncio.timeout(self._timeout_s):
                        piece = await anext(pieces)
                except StopAsyncIteration:
                    return
                except TimeoutError as exc:
                    raise self._timeout_error() from exc
                yield piece
        finally:
            aclose = getattr(pieces, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    def _timeout_error(self) -> LLMTimeoutError:
        return LLMTimeoutError(f"{self.name}: no answer within {self._timeout_s:g} s")

    async def _back_off(self, error: LLMError, attempt: int) -> None:
        delay = random.uniform(0, min(_MAX_BACKOFF_S, self._base_delay_s * 2**attempt))
        logger.warning(
            "LLM %s attempt %d failed (%s: %s); retrying in %.2f s",
            self.name,
            attempt + 1,
            error.kind,
            error.message,
            delay,
        )
        if self._on_retry is not None:
            self._on_retry(error, attempt)
        await self._sleep(delay)

    async def aclose(self) -> None:
        await self.inner.aclose()


def with_retries(
    model: ChatModel, settings: Settings, health: LLMHealth | None = None
) -> RetryingChat:
    """Wrap `model` with the retry policy from settings; retries are counted in `health`."""
    return RetryingChat(
        model,
        max_retries=settings.llm_max_retries,
        base_delay_s=settings.llm_retry_base_s,
        timeout_s=settings.llm_timeout_s,
        on_retry=health.record_retry if health is not None else None,
    )
