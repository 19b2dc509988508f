"""Free time: the booking hours, minus busy time (each busy span widened by the buffer), on
the slot grid, at least the minimum notice ahead. Pure: the calendar and the bookings store
supply the busy spans; times are aware datetimes, the grid is laid in local wall time (so a
DST change moves no slot off its 9:30)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from lidia.core.opening_hours import WeeklyHours

PARTS_OF_DAY = {  # local start hours [from, to)
    "morning": (0, 12),
    "afternoon": (12, 17),
    "evening": (17, 24),
    "any": (0, 24),
}


@dataclass(frozen=True)
class Busy:
    """A span that blocks booking (an event, or one of Лидия's own bookings)."""

    start: dt.datetime
    end: dt.datetime
    uid: str | None = None  # the calendar event's UID (our bookings: the booking's)


@dataclass(frozen=True)
class SlotRules:
    hours: WeeklyHours
    timezone: str
    step: dt.timedelta
    buffer: dt.timedelta
    min_notice: dt.timedelta


def open_spans(day: dt.date, rules: SlotRules) -> list[tuple[dt.datetime, dt.datetime]]:
    """The day's opening spans as aware local datetimes (empty: a day off)."""
    zone = ZoneInfo(rules.timezone)
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=zone)
    return [
        (_at_minute(midnight, start), _at_minute(midnight, end))
        for weekday, start, end in rules.hours.spans
        if weekday == day.weekday()
    ]


def free_starts(
    day: dt.date,
    duration: dt.timedelta,
    busy: Sequence[Busy],
    rules: SlotRules,
    now: dt.datetime,
    part_of_day: str = "any",
) -> list[dt.datetime]:
    """Every start on the grid where `duration` fits inside the hours and clear of `busy`."""
    earliest = now + rules.min_notice
    first_hour, last_hour = PARTS_OF_DAY[part_of_day]
    blocked = sorted((b.start - rules.buffer, b.end + rules.buffer) for b in busy)
    starts: list[dt.datetime] = []
    step_min = int(rules.step.total_seconds() // 60)
    for span_start, span_end in open_spans(day, rules):
        minute = 0
        while True:
            start = _at_minute(span_start, minute)  # wall-clock steps (DST-safe)
            end = start + duration
            if end > span_end:
                break
            minute += step_min
            if start < earliest or not first_hour <= start.hour < last_hour:
                continue
            if not any(b_start < end and start < b_end for b_start, b_end in blocked):
                starts.append(start)
    return sorted(starts)


def a_handful(starts: Sequence[dt.datetime], most: int) -> list[dt.datetime]:
    """At most `most` starts, spread over the day (not the first `most` of the morning)."""
    if len(starts) <= most:
        return list(starts)
    last = len(starts) - 1
    picks = sorted({round(i * last / (most - 1)) for i in range(most)})
    return [starts[i] for i in picks]


def _at_minute(base: dt.datetime, minutes: int) -> dt.datetime:
    """`base`'s wall-clock time plus `minutes`, in `base`'s zone (offset recomputed)."""
    wall = base.replace(tzinfo=None) + dt.timedelta(minutes=minutes)
    return wall.replace(tzinfo=base.tzinfo)
