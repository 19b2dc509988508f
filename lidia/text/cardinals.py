"""Plain numbers, last: ranges, fractions and cardinals agreeing with the noun they count.

"Нужна 1 подпись" -> "Нужна одна подпись", "Это займёт 1 минуту" -> "одну минуту",
"в течение 3 дней" -> "трёх дней", "№ 45/2" -> "номер сорок пять дробь два".
"""

from __future__ import annotations

import re

from lidia.text.grammar import count_agreement, counted_noun, governed_cases, word_before
from lidia.text.morphology import WordForm, gender_of
from lidia.text.numbers import (
    cardinal,
    counting_numeral,
    decimal,
    fraction,
    ordinal,
    plural_category,
    split_number,
)
from lidia.text.patterns import INT, NO_DIGIT_BEFORE, THOUSANDS_DOTTED, safe_sub

__all__ = [
    "expand_cardinals",
    "expand_dimensions",
    "expand_fractions",
    "expand_number_ranges",
    "separate_glued_numbers",
]

# Sizes: "3х4", "2 x 3 м", "10×15" (Cyrillic х, Latin x or the sign ×).
_DIMENSION = re.compile(r"(?<![\w.,])(\d+(?:[.,]\d+)?)\s?[хx×]\s?(?=\d+(?:[.,]\d+)?(?![A-Za-z\d]))")


def expand_dimensions(text: str) -> str:
    """Sizes read with «на»: "фото 3х4" -> "фото 3 на 4" (the numbers follow)."""
    return _DIMENSION.sub(r"\1 на ", text)


# A number glued to a Russian word: «тест2», «30код» (units and suffixes are read before).
_GLUED = re.compile(r"(?<=[а-яё])(?=\d)|(?<=\d)(?=[а-яё])", re.IGNORECASE)


def separate_glued_numbers(text: str) -> str:
    """A space between a number and a word written against it: "тест2" -> "тест 2"."""
    return _GLUED.sub(" ", text)


_NUMBER_RANGE = re.compile(
    rf"{NO_DIGIT_BEFORE}(\d+(?:[.,]\d+)?)\s*[–—]\s*(?=[-−]?\d)|(?<=\d)-(?=\d)"
)
_DOTTED = re.compile(rf"(?<![\w.,])(?!{THOUSANDS_DOTTED})\d+(?:\.\d+){{2,}}(?![\w])")


def expand_number_ranges(text: str) -> str:
    """Ranges between numbers read with a pause: "9–18" -> "9 — 18" (the numbers follow)."""
    text = _NUMBER_RANGE.sub(lambda m: f"{m.group(1)} — " if m.group(1) else " — ", text)
    return _DOTTED.sub(lambda m: " точка ".join(m.group().split(".")), text)


_SLASHED = re.compile(r"(?<![\w./])(\d+)/(\d+)(?![\w/])")
# Words a slashed pair is a ratio after: «в соотношении 1/3» is «один к трём».
_NUMBER_SIGN_BEFORE = re.compile(r"№\s*$")
_RATIO_WORDS = frozenset(["соотношение", "соотношении", "пропорции", "пропорция", "отношении"])


def expand_fractions(text: str) -> str:
    """Numbers with a slash: a common fraction "2/3" -> "две третьих" (in the case its
    context asks for); "24/7", "50/50" -> "двадцать четыре на семь"; a ratio after
    «соотношение» -> "один к трём"; numbers of documents and houses ("№ 45/2", "д. 5/1",
    anything else) -> "сорок пять дробь два"."""

    def repl(m: re.Match[str]) -> str:
        first, second = int(m.group(1)), int(m.group(2))
        before = word_before(m.string, m.start())
        sign = _NUMBER_SIGN_BEFORE.search(m.string, max(0, m.start() - 4), m.start())
        label = before in _LABELS or sign
        if before in _RATIO_WORDS:
            return f"{cardinal(first)} к {cardinal(second, 'd')}"
        if not label and (first == second or (first, second) == (24, 7)):
            return f"{cardinal(first)} на {cardinal(second)}"
        if not label and 0 < first < second <= 100:
            # «по 1/2 таблетки»: a distributive «по» puts «одна» in the dative, not «три»
            case = governed_cases(m.string, m.start())[0]
            if before == "по" and plural_category(first) == "one":
                case = "d"
            return fraction(first, second, case)
        return f"{cardinal(first)} дробь {cardinal(second)}"

    return safe_sub(_SLASHED, repl, text)


# After these a number is a label, said in the nominative: «заказ номер сто двадцать три».
_LABELS = frozenset(
    [
        "номер",
        "дом",
        "квартира",
        "офис",
        "кабинет",
        "корпус",
        "строение",
        "комната",
        "код",
        "пункт",
        "статья",
        "глава",
        "том",
        "часть",
        "подъезд",
        "этаж",
        "линия",
    ]
)


def _people_counted_collectively(
    n: int, case: str, noun: tuple[WordForm, ...], governed: tuple[str, ...]
) -> bool:
    """«2 детей», «3 пациентов» with nothing governing them: the writer meant «двое детей»,
    a collective numeral with people in the genitive plural."""
    people = any(form.animate and form.plural and form.case == "g" for form in noun)
    return people and n in (2, 3, 4) and case == "g" and governed == ("n",)


_CARDINAL = re.compile(rf"(?:(?<![^\s(\[])([-−]))?(?<![\w.,])({INT})(?:[.,](\d+))?(?!\w)")


def expand_cardinals(text: str) -> str:
    """Remaining numbers, in the gender of their noun and the case their context governs:
    "с 9 до 18" -> "с девяти до восемнадцати", "-5" -> "минус пять",
    "12,5" -> "двенадцать целых пять десятых"."""

    def repl(m: re.Match[str]) -> str:
        sign, integer, decimals = m.groups()
        digits, _ = split_number(integer)
        if word_before(m.string, m.start()) in _LABELS and not decimals:
            words = cardinal(int(digits))
            return f"минус {words}" if sign else words
        noun, past_a_number = counted_noun(m.string, m.end())
        governed = governed_cases(m.string, m.start())
        if past_a_number == "из" and word_before(m.string, m.start()) in ("в", "во"):
            governed = ("p",)  # «в 2 из 5 случаев»: «в двух из пяти»
        if noun and noun[0].lemma == "число" and not decimals:
            # «до 25 числа», «с 1 по 5 число»: a day of the month is an ordinal, neuter.
            if past_a_number:
                return ordinal(int(digits), governed[0], "n")
            return ordinal(int(digits), noun[0].case or "n", "n", noun[0].plural)
        if decimals:
            # A fraction governs the genitive singular whatever the case around it.
            words = decimal(digits, decimals, governed[0])
        elif past_a_number:
            # «от 1 до 2 недель»: the far noun gives the gender, the context the case.
            case, _ = count_agreement(int(digits), (), governed)
            plural_only = any(form.plural_only for form in noun)
            words = counting_numeral(int(digits), case, gender_of(noun), plural_only)
        else:
            case, gender = count_agreement(int(digits), noun, governed)
            collective = any(form.plural_only for form in noun)
            if _people_counted_collectively(int(digits), case, noun, governed):
                case, collective = "n", True  # «У меня 2 детей»: «двое детей», not «двух»
            words = counting_numeral(int(digits), case, gender, collective)
        return f"минус {words}" if sign else words

    return safe_sub(_CARDINAL, repl, text)
