"""LLM backends against fake servers on loopback, through the real google-genai SDK and httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from lidia.llm.backends import (
    NOT_CONFIGURED_REASON,
    OPENWEBUI_KEY_HOWTO,
    ChatMessage,
    ChatModel,
    GeminiChat,
    LLMError,
    LLMErrorKind,
    LLMHealth,
    LLMNotConfiguredError,
    LLMTimeoutError,
    OpenAICompatChat,
    RetryingChat,
    build_chat_model,
    with_retries,
)
from tests.support.fake_llm_servers import FakeGemini, FakeOpenAI, Script, llm_settings

SYSTEM = "Ты — Лидия, секретарь."
HISTORY = [
    ChatMessage("user", "Здравствуйте"),
    ChatMessage("assistant", "Добрый день! Чем могу помочь?"),
    ChatMessage("user", "Когда вы работаете?"),
]
OPENWEBUI_KEY = "sk-openwebui-test"


@pytest.fixture(scope="module")
def gemini_server_key() -> str:
    return "gemini-test-key"


@pytest.fixture(scope="module")
def openai_server_key() -> str:
    return OPENWEBUI_KEY


def _gemini_settings(fake: FakeGemini, **overrides: object):
    return llm_settings(
        gemini_api_key="gemini-test-key", gemini_base_url=fake.base_url, **overrides
    )


def _openwebui_settings(fake: FakeOpenAI, **overrides: object):
    values: dict[str, object] = {
        "openwebui_url": fake.base_url,
        "openwebui_api_key": OPENWEBUI_KEY,
        "openwebui_model": "lidia-model",
    }
    values.update(overrides)
    return llm_settings(**values)


@pytest.fixture(params=["gemini", "openwebui"])
async def backend(
    request: pytest.FixtureRequest, gemini: FakeGemini, openai: FakeOpenAI
) -> AsyncIterator[tuple[RetryingChat, FakeGemini | FakeOpenAI, LLMHealth]]:
    """Each backend, built from settings and wrapped with retries, with its fake server."""
    fake: FakeGemini | FakeOpenAI
    if request.param == "gemini":
        fake, settings = gemini, _gemini_settings(gemini)
    else:
        fake, settings = openai, _openwebui_settings(openai)
    model, description = build_chat_model(settings)
    assert model is not None, description
    health = LLMHealth.for_model(model, description)
    chat = with_retries(model, settings, health)
    yield chat, fake, health
    await chat.aclose()


async def _collect(model: ChatModel) -> list[str]:
    return [piece async for piece in model.stream(SYSTEM, HISTORY)]


# --- what goes over the wire ------------------------------------------------------------------


async def test_gemini_sends_system_instruction_history_and_settings(gemini: FakeGemini) -> None:
    model, _ = build_chat_model(_gemini_settings(gemini, llm_temperature=0.3))
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
    model, _ = build_chat_model(_gemini_settings(gemini))
    assert model is not None
    try:
        assert await _collect(model) == ["Мы работаем ", "с девяти ", "до восемнадцати."]
    finally:
        await model.aclose()
    (request,) = gemini.requests
    assert request.path.endswith(":streamGenerateContent")
    assert request.query == {"alt": "sse"}
    assert [e.data["index"] for e in gemini.token_events()] == [0, 1, 2]


async def test_openwebui_posts_to_api_chat_completions_with_bearer(openai: FakeOpenAI) -> None:
    model, description = build_chat_model(_openwebui_settings(openai))
    assert model is not None and model.name == "openwebui"
    assert description == f"openwebui: lidia-model at {openai.base_url}"
    try:
        reply = await model.complete(SYSTEM, HISTORY)
        pieces = await _collect(model)
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


# --- failures and retries ---------------------------------------------------------------------


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
            await _collect(chat)
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
    reply = "".join(await _collect(chat)) if streaming else await chat.complete(SYSTEM, HISTORY)
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


@pytest.mark.parametrize(
    "script",
    [Script(empty_candidates=True), Script(block_reason="SAFETY"), Script(finish_reason="SAFETY")],
    ids=["empty-candidates", "prompt-blocked", "finish-safety"],
)
@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_gemini_blocks_are_not_retried(
    gemini: FakeGemini, script: Script, streaming: bool
) -> None:
    settings = _gemini_settings(gemini)
    model, _ = build_chat_model(settings)
    assert model is not None
    chat = with_retries(model, settings)
    gemini.script = script
    try:
        with pytest.raises(LLMError) as caught:
            if streaming:
                await _collect(chat)
            else:
                await chat.complete(SYSTEM, HISTORY)
    finally:
        await chat.aclose()
    assert caught.value.kind == LLMErrorKind.BLOCKED
    assert len(gemini.requests) == 1


async def test_gemini_rejected_key_is_an_auth_error(gemini: FakeGemini) -> None:
    settings = llm_settings(gemini_api_key="wrong", gemini_base_url=gemini.base_url)
    model, _ = build_chat_model(settings)
    assert model is not None
    chat = with_retries(model, settings)
    try:
        with pytest.raises(LLMError) as caught:
            await chat.complete(SYSTEM, HISTORY)
    finally:
        await chat.aclose()
    assert caught.value.kind == LLMErrorKind.AUTH
    assert "GEMINI_API_KEY" in str(caught.value)
    assert len(gemini.requests) == 1


async def test_openwebui_401_tells_how_to_create_a_key(openai: FakeOpenAI) -> None:
    settings = _openwebui_settings(openai, openwebui_api_key="stale-key")
    model, _ = build_chat_model(settings)
    assert model is not None
    chat = with_retries(model, settings)
    try:
        with pytest.raises(LLMError) as caught:
            await chat.complete(SYSTEM, HISTORY)
    finally:
        await chat.aclose()
    assert caught.value.kind == LLMErrorKind.AUTH
    assert OPENWEBUI_KEY_HOWTO in str(caught.value)
    assert len(openai.requests) == 1


async def test_openwebui_without_key_is_not_configured_and_never_called(
    openai: FakeOpenAI,
) -> None:
    model, reason = build_chat_model(_openwebui_settings(openai, openwebui_api_key=None))
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
            await _collect(direct)
    finally:
        await direct.aclose()
    assert openai.requests == []


async def test_connection_refused_is_a_retryable_upstream_error() -> None:
    with FakeOpenAI() as fake:
        url = fake.base_url  # a port that was free a moment ago and is closed now
    settings = llm_settings(openai_base_url=url)
    model, _ = build_chat_model(settings)
    assert model is not None
    chat = with_retries(model, settings)
    try:
        with pytest.raises(LLMError) as caught:
            await chat.complete(SYSTEM, HISTORY)
    finally:
        await chat.aclose()
    assert caught.value.kind == LLMErrorKind.UPSTREAM and caught.value.retryable


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


# --- choosing a backend -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ({"gemini", "openwebui", "openai"}, "gemini"),
        ({"openwebui", "openai"}, "openwebui"),
        ({"openai"}, "openai"),
        (set(), None),
    ],
)
async def test_auto_backend_picks_the_first_configured(
    configured: set[str], expected: str | None
) -> None:
    values: dict[str, object] = {}
    if "gemini" in configured:
        values["gemini_api_key"] = "key"
    if "openwebui" in configured:
        values.update(openwebui_url="http://127.0.0.1:9", openwebui_api_key="key")
    if "openai" in configured:
        values["openai_base_url"] = "http://127.0.0.1:9/v1"
    model, reason = build_chat_model(llm_settings(**values))
    if expected is None:
        assert model is None and reason == NOT_CONFIGURED_REASON
        return
    assert model is not None
    try:
        assert model.name == expected
        assert reason.startswith(f"{expected}: ")
    finally:
        await model.aclose()


async def test_explicit_backend_without_its_settings_says_what_is_missing() -> None:
    model, reason = build_chat_model(llm_settings(llm_backend="gemini", openai_base_url="http://x"))
    assert model is None and "GEMINI_API_KEY" in reason
    model, reason = build_chat_model(llm_settings(llm_backend="openai", gemini_api_key="k"))
    assert model is None and "OPENAI_BASE_URL" in reason


def test_health_tracks_status_last_error_and_counts() -> None:
    health = LLMHealth(backend="gemini", model="m", configured=True, description="gemini: m")
    assert health.status == "ok"
    health.record_failure(LLMTimeoutError("gemini: no answer within 20 s"))
    assert health.status == "degraded"
    health.record_success()
    assert health.status == "ok"
    snapshot = health.snapshot()
    assert snapshot["last_error"]["kind"] == "timeout"
    assert snapshot["last_error"]["message"] == "gemini: no answer within 20 s"
    assert snapshot["errors_by_kind"] == {"timeout": 1}
    assert (snapshot["successes"], snapshot["failures"]) == (1, 1)
    unconfigured = LLMHealth.for_model(None, NOT_CONFIGURED_REASON)
    assert unconfigured.status == "not_configured"
    assert unconfigured.snapshot()["description"] == NOT_CONFIGURED_REASON


@pytest.mark.parametrize("backend_name", ["gemini", "openwebui"])
async def test_stream_delivers_pieces_while_the_server_is_still_sending(
    backend_name: str, gemini: FakeGemini, openai: FakeOpenAI
) -> None:
    # Ordering proof, not timing: the client logs each piece into the fake's own event log, and
    # the first piece must be logged before the server logs its last token (no buffering).
    fake = gemini if backend_name == "gemini" else openai
    settings = _gemini_settings(gemini) if backend_name == "gemini" else _openwebui_settings(openai)
    fake.script = Script(pieces=["Раз. ", "Два. ", "Три. ", "Четыре."], token_delay_s=0.05)
    model, _ = build_chat_model(settings)
    assert model is not None
    try:
        async for piece in model.stream(SYSTEM, HISTORY):
            fake.log.add("client", "piece", text=piece)
    finally:
        await model.aclose()
    received = fake.log.events("client", "piece")
    tokens = fake.token_events()
    assert [e.data["text"] for e in received] == ["Раз. ", "Два. ", "Три. ", "Четыре."]
    assert received[0].seq < tokens[-1].seq
