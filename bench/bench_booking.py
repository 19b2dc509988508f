"""Issue 21 benchmark: how long `find_free_slots` takes against a real CalDAV server.

    python -m bench.bench_booking

A Radicale on 127.0.0.1 (password auth) holds 500 events over the 30-day horizon (one-off
meetings, and a daily recurring lunch that the search expands). The tool's whole path is
timed (resolve the day, the CalDAV search of that day with recurring events expanded, the
bookings table, the slot grid) against python-caldav's default search of the same day alone
(`search(start, end, event=True, expand=True)`, which re-checks every event client-side),
measured interleaved in the same run.

- find_free_slots median ms (CalDAV round trip included)       (goal <= 150)
- find_free_slots p95 ms                                          (goal <= 150)
- find_free_slots / python-caldav's default search, median        (goal < 1: our search trusts
  the server's time-range filter and skips the re-parse)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.common import Row, percentile, print_rows

EVENTS = 500
HORIZON_DAYS = 30
ROUNDS = 40
MOSCOW = ZoneInfo("Europe/Moscow")


def _seed(calendar: object, first_day: dt.date) -> None:
    from tests.support.radicale_server import seed_event

    lunch = dt.datetime.combine(first_day, dt.time(13), tzinfo=MOSCOW)
    seed_event(calendar, lunch, lunch + dt.timedelta(hours=1), "Обед", extra="RRULE:FREQ=DAILY\r\n")
    rng = random.Random(21)
    for index in range(EVENTS - 1):
        day = first_day + dt.timedelta(days=rng.randrange(HORIZON_DAYS))
        start = dt.datetime.combine(day, dt.time(9), tzinfo=MOSCOW) + dt.timedelta(
            minutes=30 * rng.randrange(17)
        )
        seed_event(calendar, start, start + dt.timedelta(minutes=30), f"Встреча {index}")


async def _measure(folder: Path) -> tuple[list[float], list[float]]:
    from lidia.booking.desk import BookingDesk
    from lidia.core.clock import FixedClock
    from tests.booking.conftest import booking_settings
    from tests.support.radicale_server import RadicaleServer

    server = RadicaleServer(folder).start()
    try:
        name, calendar = server.new_calendar()
        monday = dt.date(2026, 12, 7)
        started = time.perf_counter()
        _seed(calendar, monday)
        print(f"   seeded {EVENTS} events in {time.perf_counter() - started:.1f} s")
        settings = booking_settings(server, name, folder / "bookings.db")
        clock = FixedClock(dt.datetime.combine(monday, dt.time(7), tzinfo=MOSCOW))
        desk = BookingDesk.from_settings(settings, clock)
        assert desk is not None
        await desk.start()
        assert desk.available, desk.health()
        thursday = dt.date(2026, 12, 10)
        day_start = dt.datetime.combine(thursday, dt.time(), tzinfo=MOSCOW)
        day_end = day_start + dt.timedelta(days=1)

        async def tool() -> float:
            began = time.perf_counter()
            result = await desk.find_free_slots("bench", "Консультация", "четверг")
            assert result["day"] == "2026-12-10"
            return time.perf_counter() - began

        async def raw() -> float:
            began = time.perf_counter()
            await asyncio.to_thread(
                calendar.search, start=day_start, end=day_end, event=True, expand=True
            )
            return time.perf_counter() - began

        await tool(), await raw()  # warm-up
        tools, raws = [], []
        for index in range(ROUNDS):  # interleaved: the box's drift hits both alike
            first, second = (tool, raw) if index % 2 == 0 else (raw, tool)
            a, b = await first(), await second()
            (tools if first is tool else raws).append(a)
            (raws if first is tool else tools).append(b)
        await desk.close()
        return tools, raws
    finally:
        server.stop()


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as folder:
        tools, raws = asyncio.run(_measure(Path(folder)))
    tool_ms = [t * 1000 for t in tools]
    raw_ms = [t * 1000 for t in raws]
    details = {
        "python-caldav default search of one day, median ms": statistics.median(raw_ms),
        "python-caldav default search of one day, p95 ms": percentile(raw_ms, 95),
    }
    rows: list[Row] = [
        ("booking: find_free_slots median ms (500 events)", statistics.median(tool_ms), "<= 150"),
        ("booking: find_free_slots p95 ms (500 events)", percentile(tool_ms, 95), "<= 150"),
        (
            "booking: find_free_slots / python-caldav default search",
            statistics.median(tool_ms) / statistics.median(raw_ms),
            "< 1",
        ),
    ]
    print_rows("Booking: free slots against Radicale (issue 21)", rows, details)
    return rows


if __name__ == "__main__":
    run()
