"""Weekday abbreviations and their ranges: "Пн–Пт" -> "с понедельника по пятницу",
"в сб. и вс." -> "в субботу и воскресенье"."""

from __future__ import annotations

import re

from lidia.text.grammar import governed_cases, words_before
from lidia.text.morphology import analyze, inflect
from lidia.text.patterns import sub_in_order

__all__ = ["expand_weekdays"]

_WEEKDAYS = {
    "пн": "понедельник",
    "вт": "вторник",
    "ср": "среда",
    "чт": "четверг",
    "пт": "пятница",
    "сб": "суббота",
    "вс": "воскресенье",
}
_DAY = r"(?:пн|вт|ср|чт|пт|сб|вс)"
_WEEKDAY_RANGE = re.compile(rf"(?<!\w)({_DAY})\.?\s*[-–—]\s*({_DAY})(?!\w)\.?", re.IGNORECASE)
_WEEKDAY_SINGLE = re.compile(rf"(?<!\w)({_DAY})(?!\w)(\.?)", re.IGNORECASE)
# A lone abbreviation is a weekday only in a list, a schedule line or after a preposition.
_LIST_FOLLOWS = re.compile(rf"\s*[,:;–—-]|\s*$|\s+(?:и|или)\s+{_DAY}(?!\w)", re.IGNORECASE)
# «вс. Потом»: the abbreviation's dot also ended the sentence («вс. — выходные»: it did not).
_SENTENCE_FOLLOWS = re.compile(r"\s+[A-ZА-ЯЁ«]")
_PREPOSITIONS = frozenset(["с", "со", "в", "во", "по", "до", "к", "и", "или"])


def _capitalised(words: str, source: str) -> str:
    return words[0].upper() + words[1:] if source[0].isupper() else words


def _day_range(m: re.Match[str], written: str) -> str:
    first = inflect(_WEEKDAYS[m.group(1).lower()], "g", False)
    last = inflect(_WEEKDAYS[m.group(2).lower()], "a", False)
    if words_before(written, len(written), 1) == ["с"]:
        return f"{first} по {last}"
    return _capitalised(f"с {first} по {last}", m.group())


def _case_in_list(written: str, pos: int) -> str:
    """The case of a weekday: its preposition's, or in «X и Y» the case X was given."""
    before = words_before(written, pos, 2)
    if before and before[-1] in ("и", "или") and len(before) == 2:
        forms = [f for f in analyze(before[0]) if f.pos == "NOUN" and f.lemma in _WEEKDAYS.values()]
        if forms:
            return forms[0].case
    if not before or before[-1] not in ("с", "со", "в", "во", "по", "до", "к"):
        return "n"
    return governed_cases(written, pos)[0]


def _single(m: re.Match[str], written: str) -> str:
    day, dot = m.groups()
    before = words_before(written, len(written), 1)
    if not (before and before[0] in _PREPOSITIONS) and not _LIST_FOLLOWS.match(m.string, m.end()):
        return m.group()
    words = inflect(_WEEKDAYS[day.lower()], _case_in_list(written, len(written)), False)
    words = _capitalised(words, day) if not before else words
    return words + ("." if dot and _SENTENCE_FOLLOWS.match(m.string, m.end()) else "")


def expand_weekdays(text: str) -> str:
    """Weekday abbreviations, declined by the preposition before them."""
    text = sub_in_order(_WEEKDAY_RANGE, _day_range, text)
    return sub_in_order(_WEEKDAY_SINGLE, _single, text)
