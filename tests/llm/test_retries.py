"""RetryingChat around both backends: which failures are retried, how long it waits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from lidia.llm.errors import LLMError, LLMErrorKind, LLMTimeoutError
from lidia.llm.health import LLMHealth
from lidia.llm.openai_compat import OpenAICompatChat
from lidia.llm.registry import build_chat_model
from lidia.llm.retries import RetryingChat, with_retries
from tests.support.fake_llm_servers import FakeGemini, FakeOpenAI, Script
from tests.support.llm_cases import (
    HISTORY,
    OPENWEBUI_KEY,
    SYSTEM,
    collect,
    gemini_settings,
    openwebui_settings,
)


@pytest.fixture(params=["gemini", "openwebui"])
async def backend(
    request: pytest.FixtureRequest, gemini: FakeGemini, openai: FakeOpenAI
) -> AsyncIterator[tuple[RetryingChat, FakeGemini | FakeOpenAI, LLMHealth]]:
    """Each backend, built from settings and wrapped with retries, with its fake server."""
    fake: FakeGemini | FakeOpenAI
    if request.param == "gemini":
        fake, settings = gemini, gemini_settings(gemini)
    else:
        fake, settings = openai, openwebui_settings(openai)
    model, description = build_chat_model(settings)
    assert model is not None, description
    health = LLMHealth.for_model(model, description)
    chat = with_retries(model, settings, health)
    yield chat, fake, health
    await chat.aclose()


@pytest.mark.parametrize(
    ("script", "kind", "requests"),
    [
        (Script(fail_first=99, fail_status=500), LLMErrorKind.UPSTREAM, 3),
        (Script(fail_first=99, fail_status=503), LLMErrorKind.UPSTREAM, 3),
        (Script(fail_first=99, fail_status=429), LLMErrorKind.RATE_LIMITED, 3),
        (Script(hang_first=99, hang_s=3), LLMErrorKind.TIMEOUT, 3),
        (Script(malformed=True), LLMErrorKind.MALFORMED, 1),
        (Script(fail_first=99, fail_status=400), LLMErrorKind.UPSTREAM, 1),
    ],
    ids=["500", "503", "429", "timeout", "malformed", "400"],
)
@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_failures_are_classified_and_retried_only_when_retryable(
    backend: tuple[RetryingChat, FakeGemini | FakeOpenAI, LLMHealth],
    script: Script,
    kind: LLMErrorKind,
    requests: int,
    streaming: bool,
) -> None:
    chat, fake, health = backend
    fake.script = script
    with pytest.raises(LLMError) as caught:
        if streaming:
            await collect(chat)
        else:
            await chat.complete(SYSTEM, HISTORY)
    assert caught.value.kind == kind
    assert len(fake.requests) == requests  # max_retries=2: three attempts for retryable kinds
    assert sum(health.retries_by_kind.values()) == requests - 1


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_success_after_one_server_error(
    backend: tuple[RetryingChat, FakeGemini | FakeOpenAI, LLMHealth], streaming: bool
) -> None:
    chat, fake, health = backend
    fake.script = Script(fail_first=1, fail_status=500, text="Да, конечно.")
    reply = "".join(await collect(chat)) if streaming else await chat.complete(SYSTEM, HISTORY)
    assert reply == "Да, конечно."
    assert len(fake.requests) == 2
    assert health.retries_by_kind == {"upstream": 1}


async def test_stream_failing_after_first_piece_is_not_retried(
    backend: tuple[RetryingChat, FakeGemini | FakeOpenAI, LLMHealth],
) -> None:
    chat, fake, _ = backend
    fake.script = Script(pieces=["Одну ", "секунду, ", "сейчас."], hang_after_pieces=2, hang_s=3)
    received: list[str] = []
    with pytest.raises(LLMTimeoutError):
        async for piece in chat.stream(SYSTEM, HISTORY):
            received.append(piece)
    assert received == ["Одну ", "секунду, "]
    assert len(fake.requests) == 1  # text already went out: repeating it would garble the call


async def test_backoff_uses_full_jitter_within_exponential_bounds(openai: FakeOpenAI) -> None:
    delays: list[float] = []

    async def record_sleep(seconds: float) -> None:
        delays.append(seconds)

    inner = OpenAICompatChat(
        name="openai", base_url=openai.base_url, model="m", api_key=OPENWEBUI_KEY
    )
    chat = RetryingChat(inner, max_retries=4, base_delay_s=0.1, timeout_s=2, sleep=record_sleep)
    openai.script = Script(fail_first=99, fail_status=502)
    try:
        with pytest.raises(LLMError):
            await chat.complete(SYSTEM, HISTORY)
    finally:
        await chat.aclose()
    assert len(delays) == 4 and len(openai.requests) == 5
    assert all(0 <= d <= 0.1 * 2**i for i, d in enumerate(delays))
