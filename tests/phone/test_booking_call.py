"""A Russian phone call that ends with an appointment in the owner's CalDAV calendar.

Real sockets on 127.0.0.1 throughout: Radicale (the owner's calendar, with a password), the
orchestrator (multilingual Whisper base, RHVoice, booking, a fixed clock: Wednesday
9 December 2026, 08:00 in Moscow) and the phone service under uvicorn, the scripted Twilio
Media Streams client speaking RHVoice Russian as 8 kHz μ-law, and the fake OpenAI-compatible
LLM scripted to call `find_free_slots`, then `book_appointment`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

from lidia.core.clock import FixedClock
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.engines.rhvoice import RHVoiceEngine
from lidia.tts.service import VoiceService
from tests.booking.conftest import booking_settings
from tests.support.fake_llm_servers import FakeOpenAI, Script
from tests.support.live_server import live_server
from tests.support.radicale_server import RadicaleServer, seed_event
from tests.support.russian_phone import (
    Phone,
    answered,
    caller_mulaw,
    russian_orchestrator,
    serve_russian_phone,
)
from tests.support.russian_speech import BOOKING
from tests.support.twilio_client import silence_mulaw, webhook_form

pytestmark = [pytest.mark.slow, pytest.mark.time_dependent]

MOSCOW = ZoneInfo("Europe/Moscow")
WEDNESDAY_8AM = dt.datetime(2026, 12, 9, 8, 0, tzinfo=MOSCOW)
THURSDAY = dt.date(2026, 12, 10)
NAME = "Меня зовут Анна."
SLOT = "2026-12-10T09:30/Консультация"
CALLER = webhook_form("CA0")["From"]
BOOK = {"slot_id": SLOT, "name": "Анна"}


@pytest.fixture(scope="module")
def calendar(radicale: RadicaleServer) -> tuple[str, object]:
    name, calendar = radicale.new_calendar()
    nine = dt.datetime.combine(THURSDAY, dt.time(9), tzinfo=MOSCOW)
    seed_event(calendar, nine, nine + dt.timedelta(minutes=30), "Другой пациент")
    return name, calendar


@pytest.fixture(scope="module")
def phone(
    tmp_path_factory: pytest.TempPathFactory,
    radicale: RadicaleServer,
    calendar: tuple[str, object],
    russian_stt: FasterWhisperEngine,
    fallback_voice: VoiceService,
    fake_openai: FakeOpenAI,
) -> Iterator[Phone]:
    root = tmp_path_factory.mktemp("booking-call")
    settings = booking_settings(radicale, calendar[0], root / "bookings.db")
    booking = {k: v for k, v in settings.model_dump().items() if k.startswith("booking_")}
    booking["booking_caldav_password"] = settings.booking_caldav_password.get_secret_value()
    app = russian_orchestrator(
        root / "orchestrator", russian_stt, fallback_voice, fake_openai,
        clock=FixedClock(WEDNESDAY_8AM), **booking,
    )  # fmt: skip
    with (
        live_server(app) as orchestrator_url,
        serve_russian_phone(
            root / "phone",
            orchestrator_url,
            greeting_text="Здравствуйте! Клиника «Ромашка».",
            # A loaded CI box: the scripted replies must be heard, not the apology.
            phone_first_audio_deadline_s=10.0,
            end_of_turn_speculative_reply=False,  # one LLM request per turn, in script order
        ) as phone,
    ):
        yield phone


@pytest.fixture(scope="module")
def speech(rhvoice: RHVoiceEngine) -> dict[str, bytes]:
    return {text: caller_mulaw(rhvoice, text) for text in (BOOKING, NAME)}


async def test_a_caller_books_an_appointment_by_voice(
    phone: Phone,
    fake_openai: FakeOpenAI,
    speech: dict[str, bytes],
    radicale: RadicaleServer,
    calendar: tuple[str, object],
) -> None:
    find = {"service": "Консультация", "day": "tomorrow"}
    fake_openai.reset()
    fake_openai.enqueue(
        Script(text="Секундочку.", tool_calls=[{"name": "find_free_slots", "arguments": find}]),
        Script(text="Завтра, в четверг, 10 декабря, свободно в 9:30. Как вас зовут?"),
        Script(text="", tool_calls=[{"name": "book_appointment", "arguments": BOOK}]),
        Script(text="Записала вас на четверг, 10 декабря, в 9:30."),
    )  # fmt: skip
    twilio = await answered(phone)
    async with twilio:
        await twilio.connected()
        await twilio.start()
        await twilio.wait_for_mark("greeting-end")
        await twilio.media(speech[BOOKING], voiced=True)
        await twilio.media(silence_mulaw(1.0))
        await twilio.wait_for_mark("turn1-end", within_s=90)
        await twilio.media(speech[NAME], voiced=True)
        await twilio.media(silence_mulaw(1.0))
        await twilio.wait_for_mark("turn2-end", within_s=90)
        await twilio.stop()
        assert await twilio.closed()
    call_sid = twilio.call_sid

    requests = [r.body for r in fake_openai.requests]
    assert len(requests) == 4
    offered = {tool["function"]["name"] for tool in requests[0]["tools"]}
    assert offered == {
        "take_message",
        "end_call",
        "find_free_slots",
        "book_appointment",
        "cancel_appointment",
    }  # no TRANSFER_NUMBER on this phone: no transfer_call
    system = requests[0]["messages"][0]["content"]
    assert "Сегодня среда, 9 декабря 2026 года" in system and "телефонные звонки" in system
    found = json.loads(requests[1]["messages"][-1]["content"])
    assert found["day"] == "2026-12-10"
    assert found["slots"][0]["id"] == SLOT  # 9:00 is taken in the owner's calendar
    booked = json.loads(requests[3]["messages"][-1]["content"])
    assert booked["status"] == "booked" and booked["phone"] == CALLER  # the caller's number

    turns = await phone.store.turns(call_sid)
    assert [t.reply for t in turns] == [
        "Секундочку. Завтра, в четверг, 10 декабря, свободно в 9:30. Как вас зовут?",
        "Записала вас на четверг, 10 декабря, в 9:30.",
    ]
    events = [e for e in await phone.store.events(call_sid) if e.kind == "appointment_booked"]
    assert [e.data["spoken"] for e in events] == ["в четверг, 10 декабря, в 9:30"]

    ours = [e for e in radicale.events(calendar[1]) if str(e.get("uid")).startswith("lidia-")]
    (event,) = ours
    assert event.get("dtstart").dt == dt.datetime(2026, 12, 10, 9, 30, tzinfo=MOSCOW)
    assert CALLER in str(event.get("description")) and call_sid in str(event.get("description"))
