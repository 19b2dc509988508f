"""Dates, years and clock times, with the case their preposition asks for.

"24.11.2026" -> "двадцать четвёртое ноября две тысячи двадцать шестого года",
"с 1 янв." -> "с первого января", "в 2025 году" -> "в две тысячи двадцать пятом году",
"до 18:00" -> "до восемнадцати ноль-ноль".
"""

from __future__ import annotations

import re

from lidia.text.grammar import case_after, date_case, word_before
from lidia.text.numbers import cardinal, ordinal
from lidia.text.patterns import MONTHS_GEN, safe_sub, sentence_end_kept

__all__ = ["expand_dates", "expand_month_abbreviations", "expand_times", "expand_years"]

_MONTH_ABBREVIATIONS = {
    "янв": "января", "фев": "февраля", "февр": "февраля", "мар": "марта", "апр": "апреля",
    "май": "мая", "июн": "июня", "июл": "июля", "авг": "августа", "сен": "сентября",
    "сент": "сентября",
    "окт": "октября", "ноя": "ноября", "нояб": "ноября", "дек": "декабря",
}  # fmt: skip
# "5 янв.", and between dashes "03-фев-2002" (the year after it joins the date).
_MONTH_ABBREVIATION = re.compile(
    rf"(?<=\d)(\s+|\s?-\s?)({'|'.join(sorted(_MONTH_ABBREVIATIONS, key=len, reverse=True))})"
    r"(\.?)(?!\w)(?:(\s?-\s?|\.)(?=\d{2,4}(?!\d)))?",
    re.IGNORECASE,
)


def expand_month_abbreviations(text: str) -> str:
    """A month abbreviated after a day: "5 янв." -> "5 января", "14-мар-1999" ->
    "14 марта 1999" (the date rule reads it)."""

    def repl(m: re.Match[str]) -> str:
        month = _MONTH_ABBREVIATIONS[m.group(2).lower()]
        if m.group(4) is not None:  # a year follows: "03-фев-2002", "5 янв. 2026"
            return f" {month} "
        dot = m.group(3) == "."
        return " " + month + (sentence_end_kept(m.string, m.end()) if dot else "")

    return safe_sub(_MONTH_ABBREVIATION, repl, text)


_YEAR_SUFFIX = r"(?:\s*(?:г\.|года?\b|году\b))?"
# "24.11.2026", "31.01.06", "01-01-86", "2/3/1906": day, month, year (two or four digits),
# one separator throughout.
_NUMERIC_DATE = re.compile(
    rf"(?<![\w.,/-])(\d{{1,2}})([./-])(\d{{1,2}})\2(\d{{4}}|\d{{2}})(?!\d|[./-]\d){_YEAR_SUFFIX}",
    re.IGNORECASE,
)
_ISO_DATE = re.compile(r"(?<![\w.-])(\d{4})-(\d{2})-(\d{2})(?![\w-])")
_MONTH = "|".join(MONTHS_GEN)
_DATE_RANGE = re.compile(
    rf"(?<![\w.,])(\d{{1,2}})(\s*[–—-]\s*|\s+(?:по|до)\s+)(\d{{1,2}})\s+({_MONTH})\b"
    rf"(?:\s+(\d{{4}})(?!\d){_YEAR_SUFFIX})?",
    re.IGNORECASE,
)
_WORD_DATE = re.compile(
    rf"(?<![\w.,])(\d{{1,2}})\s+({_MONTH})\b(?:\s+(\d{{4}})(?!\d){_YEAR_SUFFIX})?",
    re.IGNORECASE,
)


def _spoken_date(day: int, month_gen: str, year: str | None, case: str) -> str:
    """Day as a neuter ordinal in `case`, month in the genitive, year as "... года"."""
    if not 1 <= day <= 31:
        raise ValueError(day)
    words = f"{ordinal(day, case, 'n')} {month_gen}"
    if year is not None:
        words += f" {_spoken_year(year)} года"
    return words


def _spoken_year(year: str) -> str:
    """A date's year in the genitive; two digits read as written: "86" -> "восемьдесят
    шестого", "06" -> "ноль шестого" (the century is the reader's guess, not ours)."""
    if len(year) == 2 and year.startswith("0") and year != "00":
        return f"ноль {ordinal(int(year), 'g')}"
    return ordinal(int(year), "g")


def _month_gen(month: int) -> str:
    if not 1 <= month <= 12:
        raise ValueError(month)
    return MONTHS_GEN[month - 1]


def _date_case(m: re.Match[str]) -> str:
    return date_case(m.string, m.start())


def expand_dates(text: str) -> str:
    """Dates: "24.11.2026" -> "двадцать четвёртое ноября две тысячи двадцать шестого года";
    the day follows the preposition: "с 1 января" -> "с первого января"."""

    def numeric(m: re.Match[str]) -> str:
        day, month = int(m.group(1)), int(m.group(3))
        return _spoken_date(day, _month_gen(month), m.group(4), _date_case(m))

    def iso(m: re.Match[str]) -> str:
        year, month, day = m.groups()
        return _spoken_date(int(day), _month_gen(int(month)), year, _date_case(m))

    def worded(m: re.Match[str]) -> str:
        return _spoken_date(int(m.group(1)), m.group(2).lower(), m.group(3), _date_case(m))

    def day_and_month(m: re.Match[str]) -> str:
        dated = word_before(m.string, m.start()) in _DAY_MONTH_PREPOSITIONS
        if not dated and not _TIME_FOLLOWS.match(m.string, m.end()):
            return m.group()  # «12.05» alone is a decimal
        return _spoken_date(int(m.group(1)), _month_gen(int(m.group(2))), None, _date_case(m))

    text = safe_sub(_ISO_DATE, iso, text)
    text = safe_sub(_DATE_RANGE, _day_range, text)
    text = safe_sub(_NUMERIC_DATE, numeric, text)
    text = safe_sub(_DAY_MONTH, day_and_month, text)
    return safe_sub(_WORD_DATE, worded, text)


# "с 12.05 по 15.05", "на 14.03": a day and a month without a year are a date only after a
# preposition of dates, and only with two-digit months (not "до 12.5", not "с 9.30").
# Not a date or a time: a decimal before a unit or a currency ("на 2.10 руб.", "в 1.50 м").
_NOT_A_MEASURE = (
    r"(?![\d.,]\d|\d|\s*(?:[%₽$€]|(?:руб|р|коп|тыс|млн|млрд|ч|мин|кг|г|км|м|см|мм|л|мл|т|шт"
    r"|раза?)(?![а-яё])))"
)
_DAY_MONTH = re.compile(rf"(?<![\w.,/-])(\d{{1,2}})\.(0[1-9]|1[0-2]){_NOT_A_MEASURE}")
_TIME_FOLLOWS = re.compile(r"\s+(?:в|к|с|до)\s+\d{1,2}[:.]\d{2}(?!\d)")  # «15.08 в 11:00»
_DAY_MONTH_PREPOSITIONS = frozenset(["с", "со", "по", "до", "на", "к", "ко", "от", "после"])


def _day_range(m: re.Match[str]) -> str:
    """ "5–10 мая" -> "с пятого по десятое мая"; "с 5 по 10 мая" keeps the writer's words."""
    first, middle, last = int(m.group(1)), m.group(2).strip().lower(), int(m.group(3))
    if not (1 <= first <= 31 and 1 <= last <= 31):
        return m.group()
    before = word_before(m.string, m.start())
    month = m.group(4).lower()
    year = f" {_spoken_year(m.group(5))} года" if m.group(5) else ""
    if middle in ("по", "до"):
        start = ordinal(first, case_after(before), "n")
        return f"{start} {middle} {ordinal(last, case_after(middle), 'n')} {month}{year}"
    opening = "" if before in ("с", "со") else "с "
    return f"{opening}{ordinal(first, 'g', 'n')} по {ordinal(last, 'a', 'n')} {month}{year}"


_YEAR = re.compile(
    r"(?<![\w.,])(\d{3,4})\s*(?:-?(?:м|й|го|х))?\s*(год|года|году|годом|годе|г\.)(?!\w)",
    re.IGNORECASE,
)
_YEAR_NOUN_CASE = {"год": "n", "года": "g", "годом": "i", "годе": "p"}
# «в 2025 году», not «годе»: the locative of «год» after «в» and «на».
_YEAR_NOUN = {"n": "год", "g": "года", "d": "году", "a": "год", "i": "годом", "p": "году"}


def expand_years(text: str) -> str:
    """Years before год/г.: "в 2025 году" -> "в две тысячи двадцать пятом году"."""

    def repl(m: re.Match[str]) -> str:
        noun = m.group(2).lower()
        preposition = word_before(m.string, m.start())
        prep_case = case_after(preposition)
        if noun == "году":
            case = "d" if prep_case == "d" else "p"
        elif noun == "г.":
            # "в 2025 г." is "в ... году"; "на 2025 г." is "на ... год".
            case = "p" if preposition in ("в", "во") else prep_case
        else:
            case = _YEAR_NOUN_CASE[noun]
        words = f"{ordinal(int(m.group(1)), case)} {_YEAR_NOUN[case]}"
        if noun == "г.":
            words += sentence_end_kept(m.string, m.end())
        return words

    return safe_sub(_YEAR, repl, text)


_TIME = r"(?:[01]?\d|2[0-3]):[0-5]\d"
_TIME_RANGE = re.compile(rf"(?<![\d:])({_TIME})\s*[–—-]\s*({_TIME})(?![\d:])")
_TIME_SINGLE = re.compile(rf"(?<![\d:.,])({_TIME})(?![\d:])")
# Times written with a dot ("с 9.30 до 18.00", "9.00–18.00"): only as a range or after a
# preposition of time, never before a unit or a currency ("до 12.50 руб." is money).
_DOT_TIME = r"(?:[01]?\d|2[0-3])\.[0-5]\d"
_DOT_TIME_RANGE = re.compile(rf"(?<![\w.,])({_DOT_TIME})\s*[–—-]\s*({_DOT_TIME}){_NOT_A_MEASURE}")
_DOT_TIME_SINGLE = re.compile(rf"(?<![\w.,])({_DOT_TIME}){_NOT_A_MEASURE}")
_TIME_PREPOSITIONS = frozenset(["в", "во", "с", "со", "до", "к", "ко", "после", "около", "от"])


def _spoken_time(hh_mm: str, case: str) -> str:
    """ "15:30" -> "пятнадцать тридцать", "18:00" -> "восемнадцать ноль-ноль" (in `case`)."""
    hours, minutes = (int(x) for x in re.split(r"[:.]", hh_mm))
    case = "n" if case == "a" else case
    words = cardinal(hours, case)
    if minutes == 0:
        return f"{words} ноль-ноль"
    minute_words = cardinal(minutes, case, "f")
    return f"{words} ноль {minute_words}" if minutes < 10 else f"{words} {minute_words}"


def expand_times(text: str) -> str:
    """Clock times HH:MM, the hour in the case the preposition asks for.

    "в 15:30" -> "в пятнадцать тридцать", "до 18:00" -> "до восемнадцати ноль-ноль";
    a range "9:00–18:00" -> "с девяти ноль-ноль до восемнадцати ноль-ноль".
    """

    def time_range(m: re.Match[str]) -> str:
        case = case_after(word_before(m.string, m.start()))
        if case != "n":  # "в 9:00–18:00": keep the writer's preposition
            return f"{_spoken_time(m.group(1), case)} — {_spoken_time(m.group(2), 'n')}"
        return f"с {_spoken_time(m.group(1), 'g')} до {_spoken_time(m.group(2), 'g')}"

    def single(m: re.Match[str]) -> str:
        return _spoken_time(m.group(1), case_after(word_before(m.string, m.start())))

    def dotted(m: re.Match[str]) -> str:
        if word_before(m.string, m.start()) not in _TIME_PREPOSITIONS:
            return m.group()  # «12.30» alone is a decimal
        return single(m)

    text = safe_sub(_TIME_RANGE, time_range, text)
    text = safe_sub(_DOT_TIME_RANGE, time_range, text)
    text = safe_sub(_DOT_TIME_SINGLE, dotted, text)
    return safe_sub(_TIME_SINGLE, single, text)
