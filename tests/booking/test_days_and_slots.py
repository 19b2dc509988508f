"""Day resolution and the slot grid with a fixed clock: across a week boundary, in a zone
without DST (Moscow) and one with it (Berlin), and the spoken forms."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lidia.booking.catalog import find_service, parse_services
from lidia.booking.days import resolve_day
from lidia.booking.desk import BookingDesk
from lidia.booking.slots import Busy, SlotRules, a_handful, free_starts
from lidia.booking.spoken import spoken_slot
from lidia.core.clock import FixedClock, local_now
from lidia.core.opening_hours import parse_hours
from lidia.core.settings import Settings

pytestmark = pytest.mark.time_dependent

SATURDAY = dt.date(2026, 12, 12)


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("сегодня", SATURDAY),
        ("today", SATURDAY),
        ("завтра", dt.date(2026, 12, 13)),
        ("послезавтра", dt.date(2026, 12, 14)),
        ("понедельник", dt.date(2026, 12, 14)),  # across the week boundary
        ("в понедельник", dt.date(2026, 12, 14)),
        ("Monday", dt.date(2026, 12, 14)),
        ("во вторник", dt.date(2026, 12, 15)),
        ("среду", dt.date(2026, 12, 16)),
        ("пятницу", dt.date(2026, 12, 18)),
        ("субботу", SATURDAY),  # today is Saturday: today
        ("next saturday", dt.date(2026, 12, 19)),
        ("в следующую субботу", dt.date(2026, 12, 19)),
        ("воскресенье", dt.date(2026, 12, 13)),
        ("2027-01-04", dt.date(2027, 1, 4)),
    ],
)
def test_days_resolve_from_the_local_date(asked: str, expected: dt.date) -> None:
    assert resolve_day(asked, SATURDAY) == expected


def test_an_unknown_day_says_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="today, tomorrow, a weekday name or YYYY-MM-DD"):
        resolve_day("как-нибудь потом", SATURDAY)


def test_today_is_the_local_date_not_the_utc_one() -> None:
    # Sunday 22:30 UTC is already Monday in Moscow, still Sunday in Berlin (winter, UTC+1).
    clock = FixedClock(dt.datetime(2026, 12, 13, 22, 30, tzinfo=dt.UTC))
    moscow = local_now(clock, "Europe/Moscow").date()
    berlin = local_now(clock, "Europe/Berlin").date()
    assert resolve_day("today", moscow) == dt.date(2026, 12, 14)
    assert resolve_day("today", berlin) == dt.date(2026, 12, 13)
    assert resolve_day("tomorrow", berlin) == dt.date(2026, 12, 14)


def _rules(zone: str) -> SlotRules:
    return SlotRules(
        hours=parse_hours("Mo-Su 09:00-11:00"),
        timezone=zone,
        step=dt.timedelta(minutes=30),
        buffer=dt.timedelta(minutes=0),
        min_notice=dt.timedelta(minutes=60),
    )


@pytest.mark.parametrize(
    ("zone", "offsets"),
    [
        ("Europe/Moscow", (3, 3)),  # no DST: the same offset either side of 28 March
        ("Europe/Berlin", (1, 2)),  # DST starts on Sunday 28 March 2027
    ],
)
def test_slots_keep_their_wall_clock_time_across_a_dst_change(
    zone: str, offsets: tuple[int, int]
) -> None:
    rules = _rules(zone)
    now = dt.datetime(2027, 3, 26, 12, 0, tzinfo=dt.UTC)
    duration = dt.timedelta(minutes=30)
    before = free_starts(dt.date(2027, 3, 27), duration, [], rules, now)
    after = free_starts(dt.date(2027, 3, 28), duration, [], rules, now)
    for starts, offset in zip((before, after), offsets, strict=True):
        assert [s.strftime("%H:%M") for s in starts] == ["09:00", "09:30", "10:00", "10:30"]
        assert {s.utcoffset() for s in starts} == {dt.timedelta(hours=offset)}
    assert after[0].astimezone(dt.UTC).hour == 9 - offsets[1]


def test_busy_time_is_widened_by_the_buffer_and_the_notice_is_kept() -> None:
    zone = ZoneInfo("Europe/Moscow")
    rules = SlotRules(
        hours=parse_hours("Mo-Fr 09:00-13:00"),
        timezone="Europe/Moscow",
        step=dt.timedelta(minutes=30),
        buffer=dt.timedelta(minutes=15),
        min_notice=dt.timedelta(minutes=90),
    )
    day = dt.date(2026, 12, 10)
    meeting = Busy(
        dt.datetime(2026, 12, 10, 11, 0, tzinfo=zone),
        dt.datetime(2026, 12, 10, 11, 30, tzinfo=zone),
    )
    now = dt.datetime(2026, 12, 10, 7, 45, tzinfo=zone)  # notice: nothing before 9:15
    starts = free_starts(day, dt.timedelta(minutes=30), [meeting], rules, now)
    # 10:30 would end at 11:00, inside the buffer before 11:00; 11:30 starts inside the one after
    assert [s.strftime("%H:%M") for s in starts] == ["09:30", "10:00", "12:00", "12:30"]


def test_a_handful_is_spread_over_the_day() -> None:
    starts = [dt.datetime(2026, 12, 10, h, tzinfo=dt.UTC) for h in range(8, 20)]
    picked = a_handful(starts, 4)
    assert picked[0] == starts[0] and picked[-1] == starts[-1] and len(picked) == 4


def test_services_and_spoken_forms() -> None:
    services = parse_services("Консультация=30; Стрижка мужская=60")
    assert find_service(services, "консультацию").name == "Консультация"
    assert find_service(services, "Стрижка мужская").minutes == 60
    assert find_service(services, "маникюр") is None
    with pytest.raises(ValueError, match="Консультация=30"):
        parse_services("Консультация полчаса")
    zone = ZoneInfo("Europe/Moscow")
    assert spoken_slot(dt.datetime(2026, 12, 15, 14, 0, tzinfo=zone)) == (
        "во вторник, 15 декабря, в 14:00"
    )


def test_a_bad_services_setting_stops_the_start_naming_it(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        booking_caldav_url="http://127.0.0.1:9/",
        booking_services="Консультация полчаса",
        calls_log_dir=tmp_path,
    )
    with pytest.raises(ValueError, match="BOOKING_SERVICES: bad service"):
        BookingDesk.from_settings(settings, FixedClock(dt.datetime(2026, 12, 7, tzinfo=dt.UTC)))
    with pytest.raises(ValueError, match="HH:MM"):
        Settings(_env_file=None, booking_hours="Mo-Fr 9-18")
