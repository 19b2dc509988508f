"""The secretary's turns end to end: persona, history, fallbacks, against fake LLM servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from lidia.core.settings import Settings
from lidia.llm.base import ChatMessage
from lidia.llm.health import LLMHealth
from lidia.llm.registry import NOT_CONFIGURED_REASON, OPENWEBUI_KEY_HOWTO, build_chat_model
from lidia.llm.retries import with_retries
from lidia.secretary.brain import (
    FALLBACK_REPLY,
    INTERRUPTED_REPLY_TAIL,
    Secretary,
    TurnResult,
    render_persona,
)
from lidia.secretary.sessions import MemorySessionStore, RedisSessionStore
from tests.support.fake_llm_servers import FakeGemini, FakeOpenAI, Script, llm_settings

COMPANY = {
    "company_name": "Ромашка",
    "company_hours": "с понедельника по пятницу с девяти до восемнадцати",
    "company_services": "доставка цветов и оформление букетов",
    "company_contacts": "адрес: улица Ленина, дом пять",
}
OPENWEBUI_KEY = "sk-test"


@pytest.fixture(scope="module")
def openai_server_key() -> str:
    return OPENWEBUI_KEY


SecretaryFactory = Callable[..., Secretary]


@pytest.fixture
async def make_secretary() -> AsyncIterator[SecretaryFactory]:
    """Builds a Secretary the way the app does: settings → backend → retries → memory store."""
    built: list[Secretary] = []

    def factory(store: Any = None, **overrides: Any) -> Secretary:
        settings = llm_settings(**COMPANY, **overrides)
        model, description = build_chat_model(settings)
        health = LLMHealth.for_model(model, description)
        chat = with_retries(model, settings, health) if model is not None else None
        if store is None:
            store = MemorySessionStore(
                settings.history_max_turns, settings.history_max_chars, settings.session_ttl_s
            )
        secretary = Secretary(chat, store, settings, health)
        built.append(secretary)
        return secretary

    yield factory
    for secretary in built:
        if secretary.chat_model is not None:
            await secretary.chat_model.aclose()
        await secretary.store.aclose()


def _on_gemini(fake: FakeGemini, **overrides: Any) -> dict[str, Any]:
    return {"gemini_api_key": "key", "gemini_base_url": fake.base_url, **overrides}


def _on_openwebui(fake: FakeOpenAI, **overrides: Any) -> dict[str, Any]:
    return {"openwebui_url": fake.base_url, "openwebui_api_key": OPENWEBUI_KEY, **overrides}


async def _stream_turn(
    secretary: Secretary, session_id: str, text: str
) -> tuple[list[str], TurnResult]:
    stream = secretary.reply_stream(session_id, text)
    pieces = [piece async for piece in stream]
    assert stream.result is not None
    return pieces, stream.result


# --- persona ----------------------------------------------------------------------------------


def test_default_persona_is_filled_from_settings() -> None:
    settings = llm_settings(**COMPANY)
    prompt = render_persona(settings.secretary_prompt_file.read_text(encoding="utf-8"), settings)
    assert "Лидия" in prompt
    for value in COMPANY.values():
        assert value in prompt
    assert "{" not in prompt and "}" not in prompt


def test_custom_persona_may_omit_placeholders_and_use_braces(tmp_path: Path) -> None:
    custom = tmp_path / "prompt.md"
    custom.write_text(
        "Ты секретарь {company_name}. Формат ответа: {без списков}.", encoding="utf-8"
    )
    settings = Settings(_env_file=None, company_name="Ромашка")
    text = render_persona(custom.read_text(encoding="utf-8"), settings)
    assert text == "Ты секретарь Ромашка. Формат ответа: {без списков}."


def test_empty_company_services_do_not_leave_a_blank() -> None:
    settings = llm_settings(company_services="")
    prompt = render_persona("Услуги: {company_services}.", settings)
    assert prompt != "Услуги: ." and "не придумывай" in prompt


def test_missing_prompt_file_is_a_clear_startup_error(tmp_path: Path) -> None:
    settings = llm_settings(secretary_prompt_file=tmp_path / "absent.md")
    with pytest.raises(FileNotFoundError, match="SECRETARY_PROMPT_FILE"):
        Secretary(None, MemorySessionStore(5, 1000, 60), settings, LLMHealth.for_model(None, ""))


# --- normal turns -----------------------------------------------------------------------------


async def test_gemini_turn_sends_persona_and_records_history(
    gemini: FakeGemini, make_secretary: SecretaryFactory
) -> None:
    secretary = make_secretary(**_on_gemini(gemini))
    gemini.script = Script(text="Добрый день! Чем могу помочь?")
    result = await secretary.reply("call-1", "Здравствуйте")
    assert result.reply == "Добрый день! Чем могу помочь?"
    assert (result.fallback, result.error) == (False, None)
    assert result.llm_first_token_s is not None and result.llm_total_s >= 0
    (request,) = gemini.requests
    assert request.body["systemInstruction"]["parts"][0]["text"] == secretary.system_prompt()
    assert "Ромашка" in secretary.system_prompt()
    assert await secretary.store.get_history("call-1") == [
        ChatMessage("user", "Здравствуйте"),
        ChatMessage("assistant", "Добрый день! Чем могу помочь?"),
    ]
    assert secretary.health.status == "ok"


async def test_history_sent_to_the_llm_is_bounded(
    openai: FakeOpenAI, make_secretary: SecretaryFactory
) -> None:
    secretary = make_secretary(**_on_openwebui(openai), history_max_turns=2)
    for i in range(4):
        openai.script = Script(text=f"ответ {i}")
        await secretary.reply("call", f"вопрос {i}")
    last = openai.requests[-1].body["messages"]
    assert last[0] == {"role": "system", "content": secretary.system_prompt()}
    assert [m["content"] for m in last[1:]] == [
        "вопрос 1",
        "ответ 1",
        "вопрос 2",
        "ответ 2",
        "вопрос 3",
    ]


async def test_sessions_do_not_see_each_other(
    gemini: FakeGemini, make_secretary: SecretaryFactory
) -> None:
    secretary = make_secretary(**_on_gemini(gemini))
    await secretary.reply("alice", "Меня зовут Алиса")
    await secretary.reply("bob", "Меня зовут Борис")
    bob_contents = gemini.requests[-1].body["contents"]
    assert [c["parts"][0]["text"] for c in bob_contents] == ["Меня зовут Борис"]


async def test_streamed_turn_yields_pieces_in_order_then_records(
    gemini: FakeGemini, make_secretary: SecretaryFactory
) -> None:
    secretary = make_secretary(**_on_gemini(gemini))
    gemini.script = Script(pieces=["Мы работаем ", "с девяти ", "до восемнадцати."])
    pieces, result = await _stream_turn(secretary, "call", "Когда вы работаете?")
    assert pieces == ["Мы работаем ", "с девяти ", "до восемнадцати."]
    assert result.reply == "Мы работаем с девяти до восемнадцати."
    assert result.fallback is False and result.llm_first_token_s is not None
    history = await secretary.store.get_history("call")
    assert history[-1] == ChatMessage("assistant", "Мы работаем с девяти до восемнадцати.")


# --- failures become a spoken fallback --------------------------------------------------------


FAILURES = [
    (Script(fail_first=99, fail_status=500), "upstream", 3),
    (Script(fail_first=99, fail_status=429), "rate_limited", 3),
    (Script(hang_first=99, hang_s=3), "timeout", 3),
    (Script(malformed=True), "malformed", 1),
    (Script(empty_candidates=True), "blocked", 1),
    (Script(finish_reason="SAFETY"), "blocked", 1),
    (Script(block_reason="PROHIBITED_CONTENT"), "blocked", 1),
    (Script(text=""), "malformed", 1),
]
FAILURE_IDS = [
    "500",
    "429",
    "timeout",
    "malformed",
    "empty-candidates",
    "safety",
    "blocked",
    "empty",
]


@pytest.mark.parametrize(("script", "kind", "requests"), FAILURES, ids=FAILURE_IDS)
@pytest.mark.parametrize("streaming", [False, True], ids=["reply", "stream"])
async def test_gemini_failures_end_in_the_fallback_reply(
    gemini: FakeGemini,
    make_secretary: SecretaryFactory,
    script: Script,
    kind: str,
    requests: int,
    streaming: bool,
) -> None:
    secretary = make_secretary(**_on_gemini(gemini))
    gemini.script = script
    if streaming:
        pieces, result = await _stream_turn(secretary, "call", "Сколько стоит букет?")
        assert pieces == [FALLBACK_REPLY]
    else:
        result = await secretary.reply("call", "Сколько стоит букет?")
    assert result.reply == FALLBACK_REPLY and result.fallback is True
    assert result.error and result.llm_first_token_s is None
    assert len(gemini.requests) == requests
    assert await secretary.store.get_history("call") == [
        ChatMessage("user", "Сколько стоит букет?"),
        ChatMessage("assistant", FALLBACK_REPLY),
    ]
    health = secretary.health.snapshot()
    assert health["status"] == "degraded"
    assert health["last_error"]["kind"] == kind
    assert health["last_error"]["message"] == result.error


async def test_recovery_after_one_server_error_is_a_normal_reply(
    gemini: FakeGemini, make_secretary: SecretaryFactory
) -> None:
    secretary = make_secretary(**_on_gemini(gemini))
    gemini.script = Script(fail_first=1, fail_status=500, text="Да, мы доставляем цветы.")
    result = await secretary.reply("call", "Вы доставляете?")
    assert (result.reply, result.fallback) == ("Да, мы доставляем цветы.", False)
    assert len(gemini.requests) == 2
    assert secretary.health.status == "ok"


async def test_degraded_health_recovers_on_the_next_good_turn(
    openai: FakeOpenAI, make_secretary: SecretaryFactory
) -> None:
    secretary = make_secretary(**_on_openwebui(openai))
    openai.script = Script(malformed=True)
    await secretary.reply("call", "Алло")
    assert secretary.health.status == "degraded"
    openai.script = Script(text="Слушаю вас.")
    assert (await secretary.reply("call", "Алло")).reply == "Слушаю вас."
    assert secretary.health.status == "ok"
    assert secretary.health.snapshot()["last_error"]["kind"] == "malformed"


async def test_openwebui_rejected_key_falls_back_and_health_says_what_to_do(
    openai: FakeOpenAI, make_secretary: SecretaryFactory
) -> None:
    secretary = make_secretary(**_on_openwebui(openai, openwebui_api_key="revoked"))
    result = await secretary.reply("call", "Здравствуйте")
    assert result.reply == FALLBACK_REPLY
    assert len(openai.requests) == 1
    last_error = secretary.health.snapshot()["last_error"]
    assert last_error["kind"] == "auth" and OPENWEBUI_KEY_HOWTO in last_error["message"]


async def test_whitespace_only_reply_is_treated_as_empty(
    openai: FakeOpenAI, make_secretary: SecretaryFactory
) -> None:
    secretary = make_secretary(**_on_openwebui(openai))
    openai.script = Script(text="   ")
    assert (await secretary.reply("call", "Алло")).reply == FALLBACK_REPLY


async def test_unconfigured_llm_still_answers_and_records(make_secretary: SecretaryFactory) -> None:
    secretary = make_secretary()
    assert secretary.chat_model is None
    result = await secretary.reply("call", "Здравствуйте")
    _, streamed = await _stream_turn(secretary, "call", "Алло?")
    for turn in (result, streamed):
        assert turn.reply == FALLBACK_REPLY and turn.error == NOT_CONFIGURED_REASON
    assert len(await secretary.store.get_history("call")) == 4
    health = secretary.health.snapshot()
    assert health["status"] == "not_configured"
    assert health["errors_by_kind"] == {"not_configured": 2}


async def test_failure_mid_stream_appends_an_apology_and_records_what_was_said(
    openai: FakeOpenAI, make_secretary: SecretaryFactory
) -> None:
    secretary = make_secretary(**_on_openwebui(openai))
    openai.script = Script(pieces=["Одну секунду, ", "я проверю"], hang_after_pieces=2, hang_s=3)
    pieces, result = await _stream_turn(secretary, "call", "Есть ли скидки?")
    assert pieces == ["Одну секунду, ", "я проверю", " " + INTERRUPTED_REPLY_TAIL]
    assert result.fallback is True and result.error is not None
    assert result.reply == "Одну секунду, я проверю " + INTERRUPTED_REPLY_TAIL
    assert len(openai.requests) == 1
    history = await secretary.store.get_history("call")
    assert history[-1] == ChatMessage("assistant", result.reply)
    assert secretary.health.snapshot()["last_error"]["kind"] == "timeout"


async def test_stream_closed_early_records_the_part_generated(
    openai: FakeOpenAI, make_secretary: SecretaryFactory
) -> None:
    secretary = make_secretary(**_on_openwebui(openai))
    openai.script = Script(pieces=["Первое. ", "Второе. ", "Третье."])
    stream = secretary.reply_stream("call", "Расскажите")
    assert await anext(stream) == "Первое. "
    await stream.aclose()  # e.g. the caller interrupted (barge-in)
    assert stream.result is not None
    assert (stream.result.reply, stream.result.error) == ("Первое.", "interrupted")
    assert (await secretary.store.get_history("call"))[-1].content == "Первое."


async def test_a_broken_session_store_does_not_break_the_turn(
    gemini: FakeGemini, make_secretary: SecretaryFactory
) -> None:
    with FakeOpenAI() as closed:
        dead_redis = f"redis://127.0.0.1:{closed.port}/0"  # nothing listens there any more
    store = RedisSessionStore(dead_redis, "lidia-test:", 5, 1000, 60)
    secretary = make_secretary(store=store, **_on_gemini(gemini))
    result = await secretary.reply("call", "Здравствуйте")
    assert (result.reply, result.fallback) == ("Здравствуйте! Чем могу помочь?", False)
    assert [c["parts"][0]["text"] for c in gemini.requests[0].body["contents"]] == ["Здравствуйте"]
