"""Booking against a real CalDAV server (Radicale, with a password): free slots around the
owner's events, atomic and idempotent booking, recovery after a crash, clear errors.

The clock is fixed (Monday 7 December 2026, 08:00 in Moscow); every date in these tests is
derived from it, never from the wall clock."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lidia.booking.calendar import NewEvent
from lidia.booking.store import CONFIRMED, FAILED, PENDING, Booking
from lidia.core.clock import FixedClock
from tests.booking.conftest import booking_settings
from tests.support.radicale_server import RadicaleServer, seed_event

pytestmark = pytest.mark.time_dependent

MOSCOW = ZoneInfo("Europe/Moscow")
MONDAY_8AM = dt.datetime(2026, 12, 7, 8, 0, tzinfo=MOSCOW)
THURSDAY = dt.date(2026, 12, 10)
FRIDAY = dt.date(2026, 12, 11)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=MOSCOW)


def seed_owner_week(calendar: Any) -> None:
    """A one-off meeting, a daily lunch, a free (transparent) event, an all-day event and a
    cancelled one."""
    seed_event(calendar, at(THURSDAY, 10), at(THURSDAY, 11), "Встреча")
    seed_event(
        calendar,
        at(dt.date(2026, 12, 1), 13),
        at(dt.date(2026, 12, 1), 14),
        "Обед",
        extra="RRULE:FREQ=DAILY\r\n",
    )
    seed_event(
        calendar, at(THURSDAY, 15), at(THURSDAY, 16), "Можно занять", extra="TRANSP:TRANSPARENT\r\n"
    )
    seed_event(calendar, FRIDAY, FRIDAY + dt.timedelta(days=1), "Выходной на конференции")
    seed_event(
        calendar, at(THURSDAY, 16), at(THURSDAY, 17), "Отменено", extra="STATUS:CANCELLED\r\n"
    )


def times(result: dict[str, Any]) -> list[str]:
    return [dt.datetime.fromisoformat(slot["start"]).strftime("%H:%M") for slot in result["slots"]]


def lidia_events(radicale: RadicaleServer, calendar: Any) -> list[Any]:
    return [e for e in radicale.events(calendar) if str(e.get("uid", "")).startswith("lidia-")]


@pytest.fixture
def owner(radicale: RadicaleServer, tmp_path: Path) -> tuple[Any, Any]:
    name, calendar = radicale.new_calendar()
    seed_owner_week(calendar)
    return booking_settings(radicale, name, tmp_path / "bookings.db"), calendar


async def test_free_slots_skip_busy_recurring_and_all_day_events_but_not_free_or_cancelled(
    owner: tuple[Any, Any], desks: Any
) -> None:
    settings, _ = owner
    desk = await desks(settings, FixedClock(MONDAY_8AM))
    assert desk.health() == {"status": "ok"}
    morning = await desk.find_free_slots("CA1", "консультацию", "четверг", "morning")
    assert morning["day"] == "2026-12-10" and morning["service"] == "Консультация"
    assert times(morning) == ["09:00", "09:30", "11:00", "11:30"]  # 10-11 is the meeting
    assert morning["slots"][0] == {
        "id": "2026-12-10T09:00/Консультация",
        "start": "2026-12-10T09:00:00+03:00",
        "spoken": "в четверг, 10 декабря, в 9:00",
    }
    afternoon = await desk.find_free_slots("CA1", "Консультация", "2026-12-10", "afternoon")
    # Lunch (daily) blocks 13-14; the transparent 15:00 and the cancelled 16:00 do not block.
    assert times(afternoon) == ["12:00", "12:30", "14:30", "15:00", "16:00", "16:30"]
    evening = await desk.find_free_slots("CA1", "Стрижка", "thursday", "evening")
    assert times(evening) == ["17:00"]  # an hour's haircut must end by 18:00
    friday = await desk.find_free_slots("CA1", "Консультация", "пятница")
    assert friday["slots"] == [] and "занято" in friday["reason"]  # the all-day event
    saturday = await desk.find_free_slots("CA1", "Консультация", "в субботу")
    assert saturday["slots"] == [] and "не работаем" in saturday["reason"]
    far = await desk.find_free_slots("CA1", "Консультация", "2027-02-01")
    assert far["slots"] == [] and "30 дней" in far["reason"]


async def test_today_respects_the_minimum_notice(owner: tuple[Any, Any], desks: Any) -> None:
    settings, _ = owner
    desk = await desks(settings, FixedClock(at(THURSDAY, 11, 10)))  # lunch at 13, notice 1 h
    today = await desk.find_free_slots("CA1", "Консультация", "сегодня", "morning")
    assert times(today) == []
    afternoon = await desk.find_free_slots("CA1", "Консультация", "today", "afternoon")
    assert times(afternoon)[:2] == ["12:30", "14:00"]  # 12:00 is under an hour away


async def test_two_callers_racing_for_one_slot_one_gets_it(
    owner: tuple[Any, Any], desks: Any, radicale: RadicaleServer
) -> None:
    settings, calendar = owner
    clock = FixedClock(MONDAY_8AM)
    first, second = await desks(settings, clock), await desks(settings, clock)  # two replicas
    for desk, call in ((first, "CA-anna"), (second, "CA-boris")):
        found = await desk.find_free_slots(call, "Консультация", "четверг", "morning")
        assert found["slots"][0]["id"] == "2026-12-10T09:00/Консультация"
    results = await asyncio.gather(
        first.book("CA-anna", "2026-12-10T09:00/Консультация", "Анна", None, None, "+79161111111"),
        second.book("CA-boris", "2026-12-10T09:00/Консультация", "Борис", None, None, "+7916222"),
    )
    statuses = sorted(result["status"] for result in results)
    assert statuses == ["booked", "taken"]
    taken = next(result for result in results if result["status"] == "taken")
    assert taken["alternatives"] and all("9:00" not in a["spoken"] for a in taken["alternatives"])
    (event,) = lidia_events(radicale, calendar)
    assert event.get("dtstart").dt == at(THURSDAY, 9)
    assert event.get("dtend").dt == at(THURSDAY, 9, 30)
    booked = next(result for result in results if result["status"] == "booked")
    assert str(event.get("summary")) == f"Консультация: {booked['name']}"
    description = str(event.get("description"))
    assert "Консультация" in description and "Звонок: CA-" in description
    # The slot is no longer offered to anyone.
    again = await first.find_free_slots("CA-other", "Консультация", "четверг", "morning")
    assert times(again) == ["09:30", "11:00", "11:30"]


async def test_booking_twice_books_once_and_writes_the_event_at_local_time(
    owner: tuple[Any, Any], desks: Any, radicale: RadicaleServer
) -> None:
    settings, calendar = owner
    desk = await desks(settings, FixedClock(MONDAY_8AM))
    await desk.find_free_slots("CA7", "Стрижка", "четверг", "morning")
    slot = "2026-12-10T11:00/Стрижка"
    first = await desk.book("CA7", slot, "Ольга", None, "первый раз", "+79160000007")
    second = await desk.book("CA7", slot, "Ольга", None, "первый раз", "+79160000007")
    assert first == second
    assert first["status"] == "booked" and first["spoken"] == "в четверг, 10 декабря, в 11:00"
    assert first["start"] == "2026-12-10T11:00:00+03:00" and first["phone"] == "+79160000007"
    (event,) = lidia_events(radicale, calendar)
    assert event.get("dtstart").dt.astimezone(dt.UTC) == dt.datetime(
        2026, 12, 10, 8, 0, tzinfo=dt.UTC
    )
    # The same event written again under its UID (a retry after a 504) is success, not a copy.
    booking = desk.store.get(first["booking_id"])
    assert booking is not None and booking.status == CONFIRMED
    retry = NewEvent(booking.uid, at(THURSDAY, 11), at(THURSDAY, 12), "Стрижка: Ольга", "")
    await asyncio.to_thread(desk.calendar.write, retry)
    assert len(lidia_events(radicale, calendar)) == 1


async def test_only_offered_slots_can_be_booked(owner: tuple[Any, Any], desks: Any) -> None:
    settings, _ = owner
    desk = await desks(settings, FixedClock(MONDAY_8AM))
    invented = await desk.book("CA8", "2026-12-10T10:00/Консультация", "Иван", None, None, None)
    assert invented["status"] == "invalid" and "find_free_slots" in invented["message"]
    await desk.find_free_slots("CA8", "Консультация", "четверг", "morning")
    other_call = await desk.book("CA9", "2026-12-10T09:00/Консультация", "Иван", None, None, None)
    assert other_call["status"] == "invalid"  # offered to another conversation
    nameless = await desk.book("CA8", "2026-12-10T09:00/Консультация", " ", None, None, None)
    assert nameless["status"] == "invalid" and "имя" in nameless["message"]


async def test_a_crash_after_the_calendar_write_is_recovered_as_confirmed(
    owner: tuple[Any, Any], desks: Any, radicale: RadicaleServer
) -> None:
    settings, calendar = owner
    clock = FixedClock(MONDAY_8AM)
    desk = await desks(settings, clock)
    written = Booking(
        uid="lidia-crashed-after-write",
        calendar=desk.config.calendar_key,
        start=at(THURSDAY, 9).astimezone(dt.UTC),
        end=at(THURSDAY, 9, 30).astimezone(dt.UTC),
        service="Консультация",
        name="Пётр",
        phone="+79163333333",
        comment=None,
        call_id="CA-crash",
    )
    never_written = replace(
        written,
        uid="lidia-crashed-before-write",
        start=at(THURSDAY, 11).astimezone(dt.UTC),
        end=at(THURSDAY, 11, 30).astimezone(dt.UTC),
    )
    # The process stops between the CalDAV write and `confirmed` (the first), or before the
    # write (the second): both rows stay pending.
    assert desk.store.reserve(written, dt.timedelta(), clock.now()) is not None
    assert desk.store.reserve(never_written, dt.timedelta(), clock.now()) is not None
    event = NewEvent(written.uid, at(THURSDAY, 9), at(THURSDAY, 9, 30), "Консультация: Пётр", "")
    await asyncio.to_thread(desk.calendar.write, event)
    await desk.close()

    clock.advance(minutes=15)  # the restart comes later than the give-up time
    restarted = await desks(settings, clock)
    assert restarted.store.get(written.uid).status == CONFIRMED
    assert restarted.store.get(never_written.uid).status == FAILED  # its slot is free again
    assert restarted.store.pending() == []
    found = await restarted.find_free_slots("CA-new", "Консультация", "четверг", "morning")
    assert times(found) == ["09:30", "11:00", "11:30"]
    assert len(lidia_events(radicale, calendar)) == 1
    assert PENDING not in {b.status for b in restarted.store.upcoming(clock.now())}


async def test_cancel_removes_the_callers_booking(
    owner: tuple[Any, Any], desks: Any, radicale: RadicaleServer
) -> None:
    settings, calendar = owner
    desk = await desks(settings, FixedClock(MONDAY_8AM))
    await desk.find_free_slots("CA10", "Консультация", "четверг", "morning")
    booked = await desk.book(
        "CA10", "2026-12-10T09:30/Консультация", "Нина", None, None, "+7916555"
    )
    assert booked["status"] == "booked"
    nothing = await desk.cancel("CA-someone-else", "+79169999999")
    assert nothing["status"] == "not_found"
    cancelled = await desk.cancel("CA-next-day-call", "+7916555")  # a later call, same number
    assert cancelled["status"] == "cancelled"
    assert cancelled["spoken"] == "в четверг, 10 декабря, в 9:30"
    assert lidia_events(radicale, calendar) == []


async def test_a_wrong_password_or_calendar_is_a_clear_error_not_a_crash(
    radicale: RadicaleServer, desks: Any, tmp_path: Path
) -> None:
    name, _ = radicale.new_calendar()
    wrong = booking_settings(
        radicale, name, tmp_path / "b.db", booking_caldav_password="not-the-password"
    )
    desk = await desks(wrong, FixedClock(MONDAY_8AM))
    assert desk.health()["status"] == "unavailable"
    assert "wrong username or app password" in desk.health()["reason"]
    unknown = booking_settings(radicale, "Нет такого", tmp_path / "c.db")
    desk = await desks(unknown, FixedClock(MONDAY_8AM))
    reason = desk.health()["reason"]
    assert "no calendar named 'Нет такого'" in reason and name in reason


async def test_every_occurrence_of_a_recurring_event_in_the_day_blocks_its_time(
    radicale: RadicaleServer, desks: Any, tmp_path: Path
) -> None:
    name, calendar = radicale.new_calendar()
    # Three half-hour rounds on Thursday morning: 9:00, 10:00, 11:00 (one event, HOURLY).
    seed_event(
        calendar,
        at(THURSDAY, 9),
        at(THURSDAY, 9, 30),
        "Обход",
        extra="RRULE:FREQ=HOURLY;COUNT=3\r\n",
    )
    desk = await desks(booking_settings(radicale, name, tmp_path / "b.db"), FixedClock(MONDAY_8AM))
    morning = await desk.find_free_slots("CA-r", "Консультация", "четверг", "morning")
    assert times(morning) == ["09:30", "10:30", "11:30"]
