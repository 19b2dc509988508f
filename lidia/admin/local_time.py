"""Call times as the owner reads them: stored in UTC, shown in the `TIMEZONE` setting's zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from lidia.core.clock import SYSTEM_CLOCK, Clock

MONTHS_GENITIVE = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
]


class LocalClock:
    """Formats stored times in one zone; naive datetimes are taken as UTC (SQLite drops it)."""

    def __init__(self, zone_name: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self.zone = ZoneInfo(zone_name)
        self.zone_name = zone_name
        self._clock = clock

    def local(self, moment: dt.datetime) -> dt.datetime:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(self.zone)

    def offset(self, moment: dt.datetime | None = None) -> str:
        """ "UTC+3" (the zone's offset at `moment`, default now)."""
        delta = self.local(moment or self._clock.now()).utcoffset() or dt.timedelta()
        minutes = int(delta.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "−"
        hours, rest = divmod(abs(minutes), 60)
        return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")

    def zone_label(self) -> str:
        """ "Europe/Moscow, UTC+3": shown beside the times so nobody guesses the zone."""
        return f"{self.zone_name}, {self.offset()}"

    def date_time(self, moment: dt.datetime) -> str:
        """ "10 марта 2026, 15:00"."""
        local = self.local(moment)
        return f"{local.day} {MONTHS_GENITIVE[local.month - 1]} {local.year}, {local:%H:%M}"

    def clock(self, moment: dt.datetime) -> str:
        """ "15:00:07"."""
        return f"{self.local(moment):%H:%M:%S}"
