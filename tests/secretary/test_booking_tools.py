"""The booking tools on Gemini (function calling) against a real Radicale: the secretary runs
`find_free_slots` and `book_appointment` itself, the results go back to the model as function
responses, and a booking becomes an `appointment_booked` action. Plus: booking tools are not
offered while the calendar refuses the login."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lidia.booking.desk import BookingDesk
from lidia.core.clock import FixedClock
from lidia.llm.health import LLMHealth
from lidia.llm.registry import build_chat_model
from lidia.llm.retries import with_retries
from lidia.secretary.brain import Secretary
from lidia.secretary.channel import TEXT_CHAT, phone_channel
from lidia.secretary.sessions import MemorySessionStore
from tests.booking.conftest import booking_settings
from tests.support.fake_llm_servers import FakeGemini, Script
from tests.support.radicale_server import RadicaleServer

pytestmark = pytest.mark.time_dependent

MOSCOW = ZoneInfo("Europe/Moscow")
CLOCK = FixedClock(dt.datetime(2026, 12, 7, 8, 0, tzinfo=MOSCOW))  # Monday
CALLER = "+79161112233"


@pytest.fixture
async def secretaries(
    gemini: FakeGemini, radicale: RadicaleServer, tmp_path: Path
) -> AsyncIterator[Any]:
    made: list[tuple[Secretary, BookingDesk]] = []

    async def build(**overrides: Any) -> Secretary:
        name, _ = radicale.new_calendar()
        settings = booking_settings(
            radicale,
            name,
            tmp_path / f"b{len(made)}.db",
            gemini_api_key="key",
            gemini_base_url=gemini.base_url,
            **overrides,
        )
        desk = BookingDesk.from_settings(settings, CLOCK)
        assert desk is not None
        await desk.start()
        model, description = build_chat_model(settings)
        assert model is not None
        health = LLMHealth.for_model(model, description)
        chat = with_retries(model, settings, health)
        store = MemorySessionStore(12, 6000, 60)
        secretary = Secretary(chat, store, settings, health, booking=desk, clock=CLOCK)
        made.append((secretary, desk))
        return secretary

    yield build
    for secretary, desk in made:
        await desk.close()
        assert secretary.chat_model is not None
        await secretary.chat_model.aclose()


def _declared(body: dict[str, Any]) -> list[str]:
    tools = body.get("tools") or [{}]
    return [f["name"] for f in tools[0].get("functionDeclarations", [])]


async def test_gemini_finds_and_books_a_slot_over_a_phone_turn(
    gemini: FakeGemini, secretaries: Any
) -> None:
    secretary = await secretaries()
    channel = phone_channel(["take_message", "end_call"], CALLER)
    find = {"service": "Стрижка", "day": "вторник", "part_of_day": "afternoon"}
    gemini.enqueue(
        Script(text="Смотрю.", tool_calls=[{"name": "find_free_slots", "arguments": find}]),
        Script(text="Во вторник есть 12:00. Записать?"),
    )
    stream = secretary.reply_stream("CA-g", "Хочу постричься во вторник днём", channel=channel)
    said = "".join([piece async for piece in stream])
    assert said == "Смотрю. Во вторник есть 12:00. Записать?"
    first, second = gemini.requests[-2].body, gemini.requests[-1].body
    assert _declared(first) == [
        "take_message",
        "end_call",
        "find_free_slots",
        "book_appointment",
        "cancel_appointment",
    ]
    call = second["contents"][-2]["parts"][-1]["functionCall"]
    assert call["name"] == "find_free_slots"
    found = second["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert found["day"] == "2026-12-08" and found["slots"][0]["spoken"] == (
        "во вторник, 8 декабря, в 12:00"
    )
    book = {"slot_id": found["slots"][0]["id"], "name": "Олег"}
    gemini.enqueue(
        Script(text="", tool_calls=[{"name": "book_appointment", "arguments": book}]),
        Script(text="Готово, Олег."),
    )
    result = await secretary.reply("CA-g", "Да, я Олег", channel=channel)
    assert result.reply == "Готово, Олег."
    (action,) = result.actions
    assert action["name"] == "appointment_booked"
    assert action["arguments"]["phone"] == CALLER  # the caller's number by default
    assert action["arguments"]["start"] == "2026-12-08T12:00:00+03:00"
    # A later call from the same number cancels it.
    gemini.enqueue(
        Script(text="", tool_calls=[{"name": "cancel_appointment", "arguments": {}}]),
        Script(text="Запись отменена."),
    )
    cancelled = await secretary.reply("CA-later", "Отмените мою запись", channel=channel)
    assert cancelled.reply == "Запись отменена."
    assert [a["name"] for a in cancelled.actions] == ["appointment_cancelled"]
    assert cancelled.actions[0]["arguments"]["spoken"] == "во вторник, 8 декабря, в 12:00"


async def test_no_booking_tools_while_the_calendar_refuses_the_login(
    gemini: FakeGemini, secretaries: Any
) -> None:
    secretary = await secretaries(booking_caldav_password="wrong")
    assert secretary.booking is not None and not secretary.booking.available
    gemini.enqueue(Script(text="Могу записать сообщение."))
    await secretary.reply("web", "Запишите меня на стрижку", channel=TEXT_CHAT)
    assert _declared(gemini.requests[-1].body) == []
    assert "find_free_slots" not in secretary.system_prompt()
