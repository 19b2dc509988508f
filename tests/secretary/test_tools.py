"""Лидия's tools: which are offered when, what a call to one becomes, and plain talk when a
model refuses tools. Against the fake OpenAI-compatible server, in Russian."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lidia.core.clock import FixedClock
from lidia.core.opening_hours import parse_hours
from lidia.llm.health import LLMHealth
from lidia.llm.registry import build_chat_model
from lidia.llm.retries import with_retries
from lidia.phone.call_actions import call_actions
from lidia.secretary.brain import Secretary, TurnResult
from lidia.secretary.channel import phone_channel
from lidia.secretary.sessions import MemorySessionStore
from lidia.secretary.tools import TRANSFER_NOTICE, phone_tools, tool_instructions
from tests.support.fake_llm_servers import FakeGemini, FakeOpenAI, Script, llm_settings

pytestmark = pytest.mark.time_dependent

KNOWLEDGE = "# Клиника «Ромашка»\nЧистка зубов стоит три тысячи рублей.\nАдрес: улица Ленина, 5."
MONDAY_NOON_MSK = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # 12:00 in Moscow
SUNDAY_MSK = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
async def secretaries(openai: FakeOpenAI) -> AsyncIterator[Any]:
    built: list[Secretary] = []

    def build(**overrides: Any) -> Secretary:
        settings = llm_settings(openai_base_url=openai.base_url, openai_model="m", **overrides)
        model, description = build_chat_model(settings)
        health = LLMHealth.for_model(model, description)
        chat = with_retries(model, settings, health) if model is not None else None
        secretary = Secretary(chat, MemorySessionStore(12, 6000, 60), settings, health)
        built.append(secretary)
        return secretary

    yield build
    for secretary in built:
        if secretary.chat_model is not None:
            await secretary.chat_model.aclose()


PHONE_CALL = phone_channel(["transfer_call", "take_message", "end_call"])


async def _streamed(secretary: Secretary, text: str) -> tuple[str, TurnResult]:
    stream = secretary.reply_stream("CA1", text, channel=PHONE_CALL)
    said = "".join([piece async for piece in stream])
    assert stream.result is not None
    return said, stream.result


def _offered_names(body: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in body.get("tools", [])]


def test_transfer_is_offered_only_with_a_number_and_inside_the_hours() -> None:
    plain = llm_settings()
    monday = FixedClock(MONDAY_NOON_MSK)
    assert call_actions(plain, monday) == ["take_message", "end_call"]
    hours = llm_settings(transfer_number="+79160000000", transfer_hours="Mo-Fr 09:00-18:00")
    assert call_actions(hours, monday)[0] == "transfer_call"
    assert "transfer_call" not in call_actions(hours, monday, carrier_can_transfer=False)
    closed = phone_tools(call_actions(hours, FixedClock(SUNDAY_MSK)))
    assert "transfer_call" not in [t.name for t in closed]
    assert "соединить звонящего с сотрудником сейчас нельзя" in tool_instructions(closed).lower()


def test_hours_syntax_and_its_errors() -> None:
    week = parse_hours("Mo-Fr 09:00-18:00; Sa 10:00-14:00")
    saturday_11 = dt.datetime(2026, 3, 7, 11, 0, tzinfo=ZoneInfo("Europe/Moscow"))
    assert week.open_at(saturday_11, "Europe/Moscow")
    assert not week.open_at(saturday_11.replace(hour=15), "Europe/Moscow")
    with pytest.raises(ValueError, match="HH:MM"):
        parse_hours("Mo-Fr 9-18")


async def test_a_silent_transfer_gets_the_notice_and_an_action(
    openai: FakeOpenAI, secretaries: Any
) -> None:
    secretary = secretaries(transfer_number="+79160000000")
    openai.script = Script(text="", tool_calls=[{"name": "transfer_call", "arguments": {}}])
    said, result = await _streamed(secretary, "Соедините меня, пожалуйста, с менеджером.")
    assert said == TRANSFER_NOTICE
    assert result.actions == ({"name": "transfer_call", "arguments": {}},)
    body = openai.requests[0].body
    assert _offered_names(body)[0] == "transfer_call"
    assert "transfer_call" in body["messages"][0]["content"]  # the persona says when


async def test_take_message_result_goes_back_and_the_model_confirms(
    openai: FakeOpenAI, secretaries: Any
) -> None:
    secretary = secretaries()
    arguments = {"name": "Анна", "callback_number": "89161234567", "reason": "перенести запись"}
    openai.enqueue(
        Script(text="", tool_calls=[{"name": "take_message", "arguments": arguments}]),
        Script(text="Спасибо, Анна, я всё передам."),
    )
    said, result = await _streamed(secretary, "Меня зовут Анна, мой номер 89161234567.")
    assert said == "Спасибо, Анна, я всё передам."
    assert result.actions == ({"name": "take_message", "arguments": arguments},)
    follow_up = openai.requests[1].body["messages"]
    assert follow_up[-1]["role"] == "tool" and "saved" in follow_up[-1]["content"]
    assert follow_up[-2]["tool_calls"][0]["function"]["name"] == "take_message"


async def test_a_model_without_tools_talks_plainly_and_health_says_why(
    openai: FakeOpenAI, secretaries: Any
) -> None:
    secretary = secretaries()
    openai.script = Script(text="Мы работаем с девяти до шести.", refuse_tools=True)
    said, result = await _streamed(secretary, "Когда вы работаете?")
    assert (said, result.fallback) == ("Мы работаем с девяти до шести.", False)
    tools = secretary.health.snapshot()["tools"]
    assert tools["status"] == "unsupported" and "does not support tools" in tools["reason"]
    reply = await secretary.reply("CA1", "А в субботу?", channel=PHONE_CALL)  # no tools now
    assert reply.reply == "Мы работаем с девяти до шести."
    assert "tools" not in openai.requests[-1].body


async def test_the_knowledge_file_is_in_the_persona(
    openai: FakeOpenAI, secretaries: Any, tmp_path: Path
) -> None:
    knowledge = tmp_path / "company.md"
    knowledge.write_text(KNOWLEDGE, encoding="utf-8")
    secretary = secretaries(knowledge_file=knowledge)
    openai.script = Script(text="Чистка стоит три тысячи рублей.")
    result = await secretary.reply("CA2", "Сколько стоит чистка зубов?")
    assert result.reply == "Чистка стоит три тысячи рублей."
    system = openai.requests[0].body["messages"][0]["content"]
    assert "Чистка зубов стоит три тысячи рублей." in system and "{knowledge}" not in system


async def test_gemini_take_message_result_goes_back_as_a_function_response(
    gemini: FakeGemini,
) -> None:
    settings = llm_settings(gemini_api_key="key", gemini_base_url=gemini.base_url)
    model, description = build_chat_model(settings)
    health = LLMHealth.for_model(model, description)
    assert model is not None
    secretary = Secretary(
        with_retries(model, settings, health), MemorySessionStore(12, 6000, 60), settings, health
    )
    arguments = {"name": "Олег", "reason": "узнать цену"}
    gemini.enqueue(
        Script(text="", tool_calls=[{"name": "take_message", "arguments": arguments}]),
        Script(text="Спасибо, Олег, передам."),
    )
    try:
        said, result = await _streamed(secretary, "Я Олег, хотел узнать цену.")
    finally:
        await model.aclose()
    assert said == "Спасибо, Олег, передам."
    assert result.actions == ({"name": "take_message", "arguments": arguments},)
    contents = gemini.requests[1].body["contents"]
    assert contents[-2]["parts"][0]["functionCall"]["name"] == "take_message"
    response = contents[-1]["parts"][0]["functionResponse"]
    assert response["name"] == "take_message" and response["response"]["status"] == "saved"
