"""The channel decides the tools (issue 20), and booking over `/chat` (issue 21).

A fake OpenAI-compatible LLM server records each request, so the tests see exactly which
tools and which persona the orchestrator sent: a text chat (OpenWebUI) never gets a phone
tool, even with TRANSFER_NUMBER set; a phone turn gets exactly the actions it names. Booking
runs against a real Radicale, with a scripted LLM calling the tools in Russian.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from lidia.core.clock import FixedClock
from lidia.orchestrator.app import create_app
from lidia.orchestrator.routes.conversation import PhoneAction
from lidia.secretary.actions import PHONE_ACTIONS
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.service import VoiceService
from tests.booking.conftest import booking_settings
from tests.conftest import make_settings
from tests.support.fake_llm_servers import FakeOpenAI, Script
from tests.support.radicale_server import RadicaleServer, seed_event

pytestmark = pytest.mark.time_dependent

MOSCOW = ZoneInfo("Europe/Moscow")
MONDAY_8AM = dt.datetime(2026, 12, 7, 8, 0, tzinfo=MOSCOW)
PHONE_TOOLS = {"transfer_call", "end_call", "take_message"}


def offered(body: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in body.get("tools", [])]


def persona(body: dict[str, Any]) -> str:
    return str(body["messages"][0]["content"])


@pytest.fixture
def orchestrator(
    tmp_path: Path,
    tiny_stt: FasterWhisperEngine,
    fallback_voice: VoiceService,
    openai: FakeOpenAI,
) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def build(clock: FixedClock | None = None, **overrides: Any) -> TestClient:
        settings = make_settings(
            tmp_path, openai_base_url=openai.base_url, openai_model="m", **overrides
        )
        app = create_app(settings, stt=tiny_stt, tts=fallback_voice, clock=clock)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def test_an_openwebui_chat_gets_no_phone_tool_even_with_a_transfer_number(
    orchestrator: Callable[..., TestClient], openai: FakeOpenAI
) -> None:
    client = orchestrator(transfer_number="+79160000000")
    openai.reset(Script(text="Здравствуйте! Чем могу помочь?"))
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": "lidia",
            "messages": [{"role": "user", "content": "Соедините с менеджером"}],
        },
        headers={"X-OpenWebUI-Chat-Id": "chat-1"},
    )
    assert response.status_code == 200, response.text
    body = openai.requests[-1].body
    assert offered(body) == []
    text = persona(body)
    assert "сообщения в чате" in text
    assert "телефон" not in text.split("Контакты")[0] and "звонящ" not in text
    assert "transfer_call" not in text


def test_a_phone_turn_gets_exactly_the_actions_it_names(
    orchestrator: Callable[..., TestClient], openai: FakeOpenAI
) -> None:
    client = orchestrator()  # no TRANSFER_NUMBER here: the phone service decides
    openai.reset(Script(text="Соединяю."))
    response = client.post(
        "/process_call?response=json",
        data={
            "session_id": "CA1",
            "transcript": "Соедините меня с менеджером",
            "actions": "transfer_call,end_call",
        },
    )
    assert response.status_code == 200, response.text
    body = openai.requests[-1].body
    assert offered(body) == ["transfer_call", "end_call"]
    assert "телефонные звонки" in persona(body)
    plain = client.post(
        "/process_call?response=json", data={"session_id": "CA2", "transcript": "Алло"}
    )
    assert plain.status_code == 200
    assert offered(openai.requests[-1].body) == []  # an old client: no phone tools
    dtmf = client.post(
        "/chat", json={"text": "[DTMF 1]", "session_id": "CA3", "actions": ["take_message"]}
    )
    assert dtmf.status_code == 200
    assert offered(openai.requests[-1].body) == ["take_message"]


def test_an_unknown_action_is_a_422_naming_the_field(
    orchestrator: Callable[..., TestClient],
) -> None:
    client = orchestrator()
    response = client.post(
        "/process_call", data={"transcript": "Алло", "actions": "take_message,fly_away"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "actions"
    chat = client.post("/chat", json={"text": "Алло", "actions": ["take_message", "fly_away"]})
    assert chat.status_code == 422
    assert chat.json()["error"]["param"] == "actions.1"  # the second one
    assert set(get_args(PhoneAction)) == set(PHONE_ACTIONS)  # the route knows every action


def test_a_chat_books_an_appointment_through_the_tools(
    orchestrator: Callable[..., TestClient],
    openai: FakeOpenAI,
    radicale: RadicaleServer,
    tmp_path: Path,
) -> None:
    name, calendar = radicale.new_calendar()
    thursday = dt.date(2026, 12, 10)
    seed_event(
        calendar,
        dt.datetime.combine(thursday, dt.time(9), tzinfo=MOSCOW),
        dt.datetime.combine(thursday, dt.time(10), tzinfo=MOSCOW),
        "Занято",
    )
    settings = booking_settings(radicale, name, tmp_path / "bookings.db")
    booking = {k: v for k, v in settings.model_dump().items() if k.startswith("booking_")}
    booking["booking_caldav_password"] = settings.booking_caldav_password.get_secret_value()
    client = orchestrator(FixedClock(MONDAY_8AM), transfer_number="+79160000000", **booking)
    assert client.get("/health").json()["booking"] == {"status": "ok"}

    find = {"service": "Консультация", "day": "четверг", "part_of_day": "morning"}
    openai.reset()
    openai.enqueue(
        Script(
            text="Секундочку, посмотрю.",
            tool_calls=[{"name": "find_free_slots", "arguments": find}],
        ),
        Script(text="В четверг, 10 декабря, свободно в 10:00. Записать вас?"),
    )
    first = client.post(
        "/chat",
        json={"text": "Хочу записаться на консультацию в четверг утром", "session_id": "web-1"},
    )
    assert first.status_code == 200, first.text
    assert first.json()["reply"] == (
        "Секундочку, посмотрю. В четверг, 10 декабря, свободно в 10:00. Записать вас?"
    )
    search, answer = openai.requests[-2].body, openai.requests[-1].body
    assert set(offered(search)) == {"find_free_slots", "book_appointment", "cancel_appointment"}
    assert "Сегодня понедельник, 7 декабря 2026 года (2026-12-07), сейчас 08:00" in persona(search)
    result = json.loads(answer["messages"][-1]["content"])
    assert answer["messages"][-1]["role"] == "tool"
    assert result["day"] == "2026-12-10"
    assert result["slots"][0] == {
        "id": "2026-12-10T10:00/Консультация",
        "start": "2026-12-10T10:00:00+03:00",
        "spoken": "в четверг, 10 декабря, в 10:00",
    }

    book = {"slot_id": "2026-12-10T10:00/Консультация", "name": "Анна", "phone": "89161234567"}
    openai.enqueue(
        Script(text="", tool_calls=[{"name": "book_appointment", "arguments": book}]),
        Script(text="Готово, Анна, жду вас в четверг в 10:00."),
    )
    second = client.post(
        "/chat", json={"text": "Да, меня зовут Анна, 89161234567", "session_id": "web-1"}
    )
    assert second.status_code == 200, second.text
    reply = second.json()
    assert reply["reply"] == "Готово, Анна, жду вас в четверг в 10:00."
    (action,) = reply["actions"]
    assert action["name"] == "appointment_booked"
    assert action["arguments"]["start"] == "2026-12-10T10:00:00+03:00"
    # The next turn's persona lists the slot found in the earlier turn.
    assert "2026-12-10T10:00/Консультация — в четверг, 10 декабря, в 10:00" in persona(
        openai.requests[-2].body
    )
    booked = json.loads(openai.requests[-1].body["messages"][-1]["content"])
    assert booked["status"] == "booked" and booked["phone"] == "89161234567"
    (event,) = [e for e in radicale.events(calendar) if str(e.get("uid")).startswith("lidia-")]
    assert event.get("dtstart").dt == dt.datetime(2026, 12, 10, 10, 0, tzinfo=MOSCOW)


def test_a_wrong_calendar_password_is_a_health_line_not_a_crash(
    orchestrator: Callable[..., TestClient],
    radicale: RadicaleServer,
    tmp_path: Path,
) -> None:
    name, _ = radicale.new_calendar()
    client = orchestrator(
        FixedClock(MONDAY_8AM),
        booking_caldav_url=radicale.url,
        booking_caldav_username="owner",
        booking_caldav_password="wrong",
        booking_calendar=name,
        booking_database=f"sqlite:///{tmp_path / 'b.db'}",
    )
    health = client.get("/health").json()
    assert health["booking"]["status"] == "unavailable"
    assert any("wrong username or app password" in p for p in health["problems"])
    assert health["status"] == "degraded"
