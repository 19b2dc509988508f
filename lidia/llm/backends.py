"""The LLM behind the secretary: one `ChatModel` protocol, Gemini and OpenAI-compatible backends.

Backends:
- `GeminiChat`: Google Gemini through `google-genai` (the SDK's own retries are off).
- `OpenAICompatChat`: `POST {base}/chat/completions` (JSON or SSE) with httpx. Serves OpenWebUI
  (`base = OPENWEBUI_URL + "/api"`) and any OpenAI-compatible server (Ollama, vLLM, LM Studio).
- `RetryingChat`: wraps either with per-attempt timeouts and bounded retries with backoff.

Every upstream failure surfaces as an `LLMError` whose `kind` says what went wrong and whose
message says what to do, so callers can speak a fallback and `/health` can show the cause.
All calls are async and never block the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from lidia.core.settings import Settings

logger = logging.getLogger(__name__)

OPENWEBUI_KEY_HOWTO = (
    "create an API key in OpenWebUI: Settings → Account → API Keys and set OPENWEBUI_API_KEY"
)
NOT_CONFIGURED_REASON = (
    "LLM not configured: set GEMINI_API_KEY, or OPENWEBUI_URL + OPENWEBUI_API_KEY, "
    "or OPENAI_BASE_URL in .env"
)
# Finish reasons after which Gemini withholds (part of) the answer for policy reasons.
_GEMINI_BLOCK_FINISH_REASONS = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)
_MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["user", "assistant"]
    content: str


@runtime_checkable
class ChatModel(Protocol):
    """A chat LLM. `name` is the backend ("gemini" | "openwebui" | "openai"), `model` its model.

    `complete` returns the whole reply; `stream` yields text pieces as they arrive. Both raise
    `LLMError` (never SDK/HTTP exceptions). `aclose` releases connections.
    """

    name: str
    model: str

    async def complete(self, system: str, messages: Sequence[ChatMessage]) -> str: ...

    def stream(self, system: str, messages: Sequence[ChatMessage]) -> AsyncIterator[str]: ...

    async def aclose(self) -> None: ...


# --- Errors ---------------------------------------------------------------------------------


class LLMErrorKind(StrEnum):
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    UPSTREAM = "upstream"
    AUTH = "auth"
    MALFORMED = "malformed"
    BLOCKED = "blocked"
    NOT_CONFIGURED = "not_configured"
    INTERNAL = "internal"


class LLMError(Exception):
    """An LLM call failed. `kind` classifies it; `retryable` says whether trying again may help."""

    kind: LLMErrorKind = LLMErrorKind.UPSTREAM
    retryable: bool = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class LLMTimeoutError(LLMError):
    kind = LLMErrorKind.TIMEOUT
    retryable = True


class LLMRateLimitedError(LLMError):
    kind = LLMErrorKind.RATE_LIMITED
    retryable = True


class LLMUpstreamError(LLMError):
    """5xx or a network failure (retryable), or another unexpected HTTP status (not retryable)."""

    kind = LLMErrorKind.UPSTREAM

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.retryable = status is None or status >= 500


class LLMAuthError(LLMError):
    kind = LLMErrorKind.AUTH


class LLMMalformedError(LLMError):
    kind = LLMErrorKind.MALFORMED


class LLMBlockedError(LLMError):
    kind = LLMErrorKind.BLOCKED


class LLMNotConfiguredError(LLMError):
    kind = LLMErrorKind.NOT_CONFIGURED


class LLMInternalError(LLMError):
    """A bug or an unforeseen exception inside our own code path (not the upstream's fault)."""

    kind = LLMErrorKind.INTERNAL


def error_for_status(backend: str, status: int, detail: str, auth_hint: str) -> LLMError:
    """Map an HTTP error status from `backend` to the matching `LLMError`."""
    detail = detail.strip()[:300]
    if status == 429:
        return LLMRateLimitedError(f"{backend}: rate limited (429): {detail}", status=status)
    if status in (401, 403):
        return LLMAuthError(
            f"{backend}: authentication failed ({status}): {auth_hint}", status=status
        )
    if status >= 500:
        return LLMUpstreamError(f"{backend}: server error {status}: {detail}", status=status)
    return LLMUpstreamError(f"{backend}: request rejected ({status}): {detail}", status=status)


# --- Gemini ---------------------------------------------------------------------------------


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


# --- OpenAI-compatible (OpenWebUI, Ollama, vLLM, LM Studio) -------------------------------------


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


# --- Retries ----------------------------------------------------------------------------------


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
        self._max_retries = max_retries
        self._base_delay_s = base_delay_s
        self._timeout_s = timeout_s
        self._on_retry = on_retry
        self._sleep = sleep

    async def complete(self, system: str, messages: Sequence[ChatMessage]) -> str:
        for attempt in range(self._max_retries + 1):
            try:
                async with asyncio.timeout(self._timeout_s):
                    return await self.inner.complete(system, messages)
            except TimeoutError as exc:
                error: LLMError = self._timeout_error()
                error.__cause__ = exc
            except LLMError as exc:
                error = exc
            if not error.retryable or attempt == self._max_retries:
                raise error
            await self._back_off(error, attempt)
        raise AssertionError("unreachable")  # the loop always returns or raises

    async def stream(self, system: str, messages: Sequence[ChatMessage]) -> AsyncIterator[str]:
        for attempt in range(self._max_retries + 1):
            yielded = False
            try:
                async for piece in self._stream_once(system, messages):
                    yielded = True
                    yield piece
                return
            except LLMError as error:
                if yielded or not error.retryable or attempt == self._max_retries:
                    raise
                await self._back_off(error, attempt)

    async def _stream_once(
        self, system: str, messages: Sequence[ChatMessage]
    ) -> AsyncIterator[str]:
        pieces = self.inner.stream(system, messages)
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


# --- Choosing a backend ---------------------------------------------------------------------


def build_chat_model(settings: Settings) -> tuple[ChatModel | None, str]:
    """The configured backend (not yet wrapped in `RetryingChat`) and a line for `/health`.

    Returns `(None, reason)` when the chosen backend lacks what it needs; `reason` says how to
    configure it. Nothing is contacted here.
    """
    backend = settings.llm_backend
    if backend == "auto":
        if settings.gemini_api_key is not None:
            backend = "gemini"
        elif settings.openwebui_url:
            backend = "openwebui"
        elif settings.openai_base_url:
            backend = "openai"
        else:
            return None, NOT_CONFIGURED_REASON
    if backend == "gemini":
        return _build_gemini(settings)
    if backend == "openwebui":
        return _build_openwebui(settings)
    return _build_openai(settings)


def _common_options(settings: Settings) -> dict[str, Any]:
    return {
        "temperature": settings.llm_temperature,
        "max_output_tokens": settings.llm_max_output_tokens,
        "timeout_s": settings.llm_timeout_s,
    }


def _build_gemini(settings: Settings) -> tuple[ChatModel | None, str]:
    if settings.gemini_api_key is None:
        return None, "LLM not configured: LLM_BACKEND=gemini needs GEMINI_API_KEY in .env"
    model = GeminiChat(
        api_key=settings.gemini_api_key.get_secret_value(),
        model=settings.gemini_model,
        base_url=settings.gemini_base_url,
        **_common_options(settings),
    )
    where = f" via {settings.gemini_base_url}" if settings.gemini_base_url else ""
    return model, f"gemini: {settings.gemini_model}{where}"


def _build_openwebui(settings: Settings) -> tuple[ChatModel | None, str]:
    if not settings.openwebui_url:
        return None, "LLM not configured: LLM_BACKEND=openwebui needs OPENWEBUI_URL in .env"
    if settings.openwebui_api_key is None:
        return None, f"LLM not configured: OpenWebUI needs an API key: {OPENWEBUI_KEY_HOWTO}"
    url = settings.openwebui_url.rstrip("/")
    model = OpenAICompatChat(
        name="openwebui",
        base_url=f"{url}/api",
        model=settings.openwebui_model,
        api_key=settings.openwebui_api_key.get_secret_value(),
        require_key=True,
        auth_hint=OPENWEBUI_KEY_HOWTO,
        **_common_options(settings),
    )
    return model, f"openwebui: {settings.openwebui_model} at {url}"


def _build_openai(settings: Settings) -> tuple[ChatModel | None, str]:
    if not settings.openai_base_url:
        return None, "LLM not configured: LLM_BACKEND=openai needs OPENAI_BASE_URL in .env"
    key = settings.openai_api_key
    model = OpenAICompatChat(
        name="openai",
        base_url=settings.openai_base_url,
        model=settings.openai_model,
        api_key=key.get_secret_value() if key is not None else None,
        auth_hint="check OPENAI_API_KEY",
        **_common_options(settings),
    )
    return model, f"openai: {settings.openai_model} at {settings.openai_base_url}"


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


# --- Health -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LLMErrorRecord:
    message: str
    kind: str
    at: float  # Unix time


class LLMHealth:
    """What `/health` and metrics show about the LLM. Call from the event loop only.

    status: "not_configured" when no backend could be built; otherwise "degraded" when the most
    recent turn failed, "ok" when it succeeded (or none has run yet).
    """

    def __init__(
        self, *, backend: str | None, model: str | None, configured: bool, description: str
    ) -> None:
        self.backend = backend
        self.model = model
        self.configured = configured
        self.description = description
        self.last_error: LLMErrorRecord | None = None
        self.errors_by_kind: Counter[str] = Counter()
        self.retries_by_kind: Counter[str] = Counter()
        self.successes = 0
        self.failures = 0
        self._last_turn_failed = False

    @classmethod
    def for_model(cls, model: ChatModel | None, description: str) -> LLMHealth:
        return cls(
            backend=model.name if model is not None else None,
            model=model.model if model is not None else None,
            configured=model is not None,
            description=description,
        )

    @property
    def status(self) -> Literal["ok", "degraded", "not_configured"]:
        if not self.configured:
            return "not_configured"
        return "degraded" if self._last_turn_failed else "ok"

    def record_success(self) -> None:
        self.successes += 1
        self._last_turn_failed = False

    def record_failure(self, error: LLMError) -> None:
        self.failures += 1
        self._last_turn_failed = True
        self.errors_by_kind[error.kind.value] += 1
        self.last_error = LLMErrorRecord(error.message, error.kind.value, time.time())

    def record_retry(self, error: LLMError, attempt: int) -> None:
        self.retries_by_kind[error.kind.value] += 1

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready view (no secrets)."""
        last = self.last_error
        return {
            "backend": self.backend,
            "model": self.model,
            "configured": self.configured,
            "status": self.status,
            "description": self.description,
            "last_error": None
            if last is None
            else {"message": last.message, "kind": last.kind, "at": last.at},
            "errors_by_kind": dict(self.errors_by_kind),
            "retries_by_kind": dict(self.retries_by_kind),
            "successes": self.successes,
            "failures": self.failures,
        }
