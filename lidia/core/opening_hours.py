"""Weekly hours like `TRANSFER_HOURS=Mo-Fr 09:00-18:00; Sa 10:00-14:00`, in a time zone.

The syntax is the common subset of OpenStreetMap's `opening_hours`: rules split by `;`, each a
day or day range (`Mo`, `Mo-Fr`, `Mo,We,Fr`) and one or more `HH:MM-HH:MM` spans split by `,`.
Hand-written (40 lines) because the Python ports of the full OSM grammar are unmaintained and
pull in a parser generator for syntax we do not need.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class WeeklyHours:
    """Open spans per weekday (0 = Monday), minutes since midnight, end excluded."""

    spans: tuple[tuple[int, int, int], ...]  # (weekday, start minute, end minute)

    def open_at(self, moment: dt.datetime, timezone: str) -> bool:
        local = moment.astimezone(ZoneInfo(timezone))
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        return any(d == day and start <= minute < end for d, start, end in self.spans)


def parse_hours(text: str) -> WeeklyHours:
    """Parse `text`; `ValueError` names the part that is not understood."""
    spans: list[tuple[int, int, int]] = []
    for rule in filter(None, (part.strip() for part in text.split(";"))):
        days_text, _, times_text = rule.partition(" ")
        days = _days(days_text)
        for span in filter(None, (part.strip() for part in times_text.split(","))):
            start, end = _minutes(span)
            spans.extend((day, start, end) for day in days)
    if not spans:
        raise ValueError(f"no opening hours in {text!r} (e.g. 'Mo-Fr 09:00-18:00')")
    return WeeklyHours(tuple(spans))


def _days(text: str) -> list[int]:
    days: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"unknown days {part!r} (use {'/'.join(DAYS)}, e.g. 'Mo-Fr')")
        start, end = DAYS.index(first), DAYS.index(last or first)
        days.extend(range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)])
    return days


def _minutes(span: str) -> tuple[int, int]:
    match = _SPAN.match(span)
    if match is None:
        raise ValueError(f"bad time span {span!r} (use HH:MM-HH:MM, e.g. '09:00-18:00')")
    h1, m1, h2, m2 = (int(group) for group in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if not (0 <= start < end <= 24 * 60) or m1 > 59 or m2 > 59:
        raise ValueError(f"bad time span {span!r}: the end must come after the start")
    return start, end
