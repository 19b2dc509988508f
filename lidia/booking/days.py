"""The day a caller asked for, resolved on the server (models miscount "next Tuesday").

`today`, `tomorrow`, a weekday (Russian or English, any case form: «четверг», «в среду»,
"Thursday") or `YYYY-MM-DD`. A weekday means its next occurrence, today included: «в четверг»
said on a Thursday morning is today (the slot search then says what is left of it).
"""

from __future__ import annotations

import datetime as dt
import re

_RELATIVE = {
    "today": 0,
    "сегодня": 0,
    "tomorrow": 1,
    "завтра": 1,
    "day after tomorrow": 2,
    "послезавтра": 2,
}
# Stems: any case form of the Russian names matches («среда», «среду», «субботу»).
_WEEKDAY_STEMS = (
    ("понедельн", "mon"),
    ("вторн", "tue"),
    ("сред", "wed"),
    ("четверг", "thu"),
    ("пятниц", "fri"),
    ("суббот", "sat"),
    ("воскресен", "sun"),
)
_FILLER = re.compile(r"^(?:в|во|on|this|эт[аоу]т?|ближайш\w*)\s+")
_NEXT = re.compile(r"^(?:next|следующ\w*)\s+")


def resolve_day(text: str, today: dt.date) -> dt.date:
    """The date `text` names, seen from `today` (the local date in `TIMEZONE`).
    `ValueError` says what is accepted."""
    asked = " ".join(text.strip().lower().replace("ё", "е").split())
    try:
        return dt.date.fromisoformat(asked)
    except ValueError:
        pass
    if asked in _RELATIVE:
        return today + dt.timedelta(days=_RELATIVE[asked])
    asked = _FILLER.sub("", asked)  # «в следующую субботу»
    skip_this_week = bool(_NEXT.match(asked))
    asked = _FILLER.sub("", _NEXT.sub("", asked))
    weekday = _weekday(asked)
    if weekday is None:
        raise ValueError(f"unknown day {text!r}: use today, tomorrow, a weekday name or YYYY-MM-DD")
    ahead = (weekday - today.weekday()) % 7
    if skip_this_week and ahead == 0:
        ahead = 7
    return today + dt.timedelta(days=ahead)


def _weekday(word: str) -> int | None:
    for index, (russian, english) in enumerate(_WEEKDAY_STEMS):
        if word.startswith(russian) or (len(word) >= 3 and word[:3] == english):
            return index
    return None
