"""How a slot is said: «в четверг, 10 декабря, в 9:30». Digits on purpose: the reply goes
through the Russian normaliser (lidia.text) on its way to the voice, which reads the date and
time in the right case; the model copies this phrase into its read-back."""

from __future__ import annotations

import datetime as dt

from lidia.text.patterns import MONTHS_GEN

# Accusative after «в»: «в среду», «во вторник».
_ON_WEEKDAY = (
    "в понедельник",
    "во вторник",
    "в среду",
    "в четверг",
    "в пятницу",
    "в субботу",
    "в воскресенье",
)


def spoken_day(day: dt.date) -> str:
    """«в четверг, 10 декабря»."""
    return f"{_ON_WEEKDAY[day.weekday()]}, {day.day} {MONTHS_GEN[day.month - 1]}"


def spoken_slot(start: dt.datetime) -> str:
    """«в четверг, 10 декабря, в 9:30» for a local `start`."""
    return f"{spoken_day(start.date())}, в {start.hour}:{start.minute:02d}"
