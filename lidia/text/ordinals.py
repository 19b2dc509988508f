"""Ordinals: numbers with a case suffix ("на 2-м этаже" -> "на втором этаже") and Roman
numerals beside a noun or a name ("XXI век", "глава V", "Пётр I").

An ordinal is an adjective: it takes the case, gender and number of its noun. The written
suffix narrows the choice ("-м": вторым or втором), the noun's own form settles it.
"""

from __future__ import annotations

import re

from lidia.text.grammar import governed_cases, next_noun
from lidia.text.morphology import WordForm, analyze, gender_of
from lidia.text.numbers import cardinal, cardinal_readings, ordinal, ordinal_readings
from lidia.text.patterns import safe_sub

__all__ = ["expand_ordinals", "expand_roman_numerals"]

_SUFFIXES = [
    "ый",
    "ий",
    "ой",
    "ая",
    "яя",
    "ое",
    "ее",
    "ого",
    "его",
    "ому",
    "ему",
    "ым",
    "им",
    "ом",
    "ем",
    "ую",
    "юю",
    "ей",
    "ых",
    "их",
    "ыми",
    "ими",
    "й",
    "я",
    "е",
    "го",
    "му",
    "м",
    "ю",
    "х",
    "ми",
]
# Endings of a declined cardinal: "в 2-х", "5-ти", "с 2-мя", "8-ми", "3-ёх", "5-ью". After
# 2, 3 or 4 «-х» is the cardinal more often than the ordinal: «в 3-х экземплярах».
_CARDINAL_SUFFIXES = frozenset(["х", "ти", "мя", "ью", "ми", "ух", "ех", "ёх"])
_ALL_SUFFIXES = sorted({*_SUFFIXES, *_CARDINAL_SUFFIXES, "ю"}, key=len, reverse=True)
# The hyphen may be left out: "в 2х", "3й"; «гг.» after decades: "1990-х гг.".
_ORDINAL = re.compile(
    rf"(?<![\w.,])(\d+)(?:\s?-\s?)?({'|'.join(_ALL_SUFFIXES)})(?!\w)(\s*гг\.)?",
    re.IGNORECASE,
)
_YEARS = {"n": "годы", "g": "годов", "d": "годам", "a": "годы", "i": "годами", "p": "годах"}
# With nothing to agree with, the most frequent case of an ending («в 84-м»: prepositional).
_USUAL_CASES = ("n", "g", "p", "a", "d", "i")


def _agreeing(
    readings: tuple[tuple[str, str, bool], ...], noun: tuple[WordForm, ...]
) -> list[tuple[str, str, bool]]:
    """The readings that agree with the noun in case, number and gender."""
    return [
        (case, gender, plural)
        for form in noun
        for case, gender, plural in readings
        if form.case == case and form.plural == plural and (plural or form.gender == gender)
    ]


def _first_in(
    readings: list[tuple[str, str, bool]], cases: tuple[str, ...]
) -> tuple[str, str, bool] | None:
    for case in cases:
        for reading in readings:
            if reading[0] == case:
                return reading
    return None


def _is_decade(n: int, suffix: str) -> bool:
    """«1950-е», «90-е»: a decade, said in the plural («пятидесятые»)."""
    return n % 10 == 0 and n >= 20 and suffix in ("е", "ые", "ие")


def _cardinal_case(
    cases: tuple[str, ...], noun: tuple[WordForm, ...], governed: tuple[str, ...]
) -> str:
    """The case of a declined cardinal: its noun's, else its context's, else its ending's."""
    for case in (*(form.case for form in noun), *governed):
        if case in cases:
            return case
    return cases[0]


def _is_cardinal(
    n: int,
    suffix: str,
    noun: tuple[WordForm, ...],
    governed: tuple[str, ...],
    agreeing: list[tuple[str, str, bool]],
) -> bool:
    """Whether a suffixed number is a declined cardinal rather than an ordinal."""
    if suffix in _CARDINAL_SUFFIXES:
        return not (suffix == "х" and n % 10 == 0)  # «90-х», «2000-х» are decades
    if suffix == "ю":  # «с 5-ю сотрудниками», not «на 5-ю улицу»
        return "i" in (*governed, *(form.case for form in noun)) and not agreeing
    if suffix == "м":  # «к 2-м часам», not «на 2-м этаже»
        return any(form.plural and form.case == "d" for form in noun)
    return False


def expand_ordinals(text: str) -> str:
    """Numbers with a case suffix: "1-й" -> "первый", "к 3-му числу" -> "к третьему числу",
    "в 84-м" -> "в восемьдесят четвёртом", "1950-е" -> "тысяча девятьсот пятидесятые",
    "в 90-х" -> "в девяностых", "в 2-х экземплярах" -> "в двух экземплярах"."""

    def repl(m: re.Match[str]) -> str:
        n, suffix, years = int(m.group(1)), m.group(2).lower(), m.group(3)
        noun = () if years else next_noun(m.string, m.end())
        governed = governed_cases(m.string, m.start())
        readings = ordinal_readings(n, suffix)
        agreeing = _agreeing(readings, noun)
        cardinal_cases = cardinal_readings(n, suffix.replace("ё", "е"))
        if cardinal_cases and not years and _is_cardinal(n, suffix, noun, governed, agreeing):
            return cardinal(n, _cardinal_case(cardinal_cases, noun, governed), gender_of(noun))
        if not readings:
            return m.group()
        if agreeing:
            candidates = agreeing
        elif years or _is_decade(n, suffix):
            candidates = [r for r in readings if r[2]] or list(readings)
        else:
            candidates = list(readings)
        case, gender, plural = (
            _first_in(candidates, governed) or _first_in(candidates, _USUAL_CASES) or candidates[0]
        )
        words = ordinal(n, case, gender, plural)
        return f"{words} {_YEARS[case]}" if years else words

    return safe_sub(_ORDINAL, repl, text)


_ROMAN = re.compile(
    r"(?<![\w.])(M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3}))(?![\w.])"
)
_ROMAN_VALUES = {"M": 1000, "D": 500, "C": 100, "L": 50, "X": 10, "V": 5, "I": 1}
# Nouns a Roman numeral stands before («XXI век») or after («глава V»).
_NOUNS_AFTER_ROMAN = frozenset(
    [
        "век",
        "тысячелетие",
        "съезд",
        "созыв",
        "олимпиада",
        "конференция",
        "чемпионат",
        "пленум",
        "форум",
        "фестиваль",
        "квартал",
        "полугодие",
        "сессия",
        "собор",
        "конгресс",
    ]
)
_NOUNS_BEFORE_ROMAN = frozenset(
    [
        "глава",
        "том",
        "часть",
        "раздел",
        "книга",
        "приложение",
        "пункт",
        "группа",
        "категория",
        "степень",
        "этап",
        "фаза",
        "уровень",
        "класс",
        "акт",
        "сезон",
        "выпуск",
        "серия",
        "период",
        "квартал",
        "съезд",
    ]
)


def _roman_value(numeral: str) -> int:
    values = [_ROMAN_VALUES[c] for c in numeral]
    return sum(-v if v < nxt else v for v, nxt in zip(values, [*values[1:], 0], strict=True))


def _roman_noun(text: str, start: int, end: int) -> tuple[tuple[WordForm, ...], bool]:
    """The noun a Roman numeral belongs to, and whether that noun is a first name."""
    after = [f for f in next_noun(text, end) if f.lemma in _NOUNS_AFTER_ROMAN]
    if after:
        return tuple(after), False
    m = re.search(r"([А-ЯЁа-яё]+)[ \u00a0]+$", text[max(0, start - 40) : start])
    if not m:
        return (), False
    forms = [f for f in analyze(m.group(1).lower()) if f.pos == "NOUN"]
    if m.group(1)[0].isupper() and any(f.name for f in forms):
        return tuple(f for f in forms if f.name), True
    return tuple(f for f in forms if f.lemma in _NOUNS_BEFORE_ROMAN), False


def expand_roman_numerals(text: str) -> str:
    """Roman numerals read as ordinals agreeing with their noun or name:
    "в XXI веке" -> "в двадцать первом веке", "Екатерины II" -> "Екатерины Второй"."""

    def repl(m: re.Match[str]) -> str:
        numeral = m.group(1)
        if not numeral:
            return m.group()
        noun, is_name = _roman_noun(m.string, m.start(), m.end())
        if not noun:
            return m.group()
        form = next((f for f in noun if f.gender or f.plural), noun[0])
        words = ordinal(_roman_value(numeral), form.case or "n", form.gender or "m", form.plural)
        return words.capitalize() if is_name else words

    return safe_sub(_ROMAN, repl, text)
