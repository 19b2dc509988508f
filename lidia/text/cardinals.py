"""Plain numbers, last: ranges, fractions and cardinals agreeing with the noun they count.

"Нужна 1 подпись" -> "Нужна одна подпись", "Это займёт 1 минуту" -> "одну минуту",
"в течение 3 дней" -> "трёх дней", "№ 45/2" -> "номер сорок пять дробь два".
"""

from __future__ import annotations

import re

from lidia.text.grammar import count_agreement, governed_cases, next_noun, word_before
from lidia.text.numbers import cardinal, decimal, ordinal
from lidia.text.patterns import INT, NO_DIGIT_BEFORE, safe_sub

__all__ = ["expand_cardinals", "expand_fractions", "expand_number_ranges"]

_NUMBER_RANGE = re.compile(
    rf"{NO_DIGIT_BEFORE}(\d+(?:[.,]\d+)?)\s*[–—]\s*(?=[-−]?\d)|(?<=\d)-(?=\d)"
)
_DOTTED = re.compile(r"(?<![\w.,])\d+(?:\.\d+){2,}(?![\w])")


def expand_number_ranges(text: str) -> str:
    """Ranges between numbers read with a pause: "9–18" -> "9 — 18" (the numbers follow)."""
    text = _NUMBER_RANGE.sub(lambda m: f"{m.group(1)} — " if m.group(1) else " — ", text)
    return _DOTTED.sub(lambda m: " точка ".join(m.group().split(".")), text)


_SLASHED = re.compile(r"(?<![\w./])(\d+)/(\d+)(?![\w/])")


def expand_fractions(text: str) -> str:
    """Slashed numbers of documents and houses: "№ 45/2", "д. 5/1" -> "сорок пять дробь два"."""
    return safe_sub(
        _SLASHED, lambda m: f"{cardinal(int(m.group(1)))} дробь {cardinal(int(m.group(2)))}", text
    )


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
_CARDINAL = re.compile(rf"(?:(?<![^\s(\[])([-−]))?(?<![\w.,])({INT})(?:[.,](\d+))?(?!\w)")


def expand_cardinals(text: str) -> str:
    """Remaining numbers, in the gender of their noun and the case their context governs:
    "с 9 до 18" -> "с девяти до восемнадцати", "-5" -> "минус пять",
    "12,5" -> "двенадцать целых пять десятых"."""

    def repl(m: re.Match[str]) -> str:
        sign, integer, fraction = m.groups()
        digits = re.sub(r"\D", "", integer)
        if word_before(m.string, m.start()) in _LABELS and not fraction:
            words = cardinal(int(digits))
            return f"минус {words}" if sign else words
        noun = next_noun(m.string, m.end())
        governed = governed_cases(m.string, m.start())
        if noun and noun[0].lemma == "число" and not fraction:
            # «до 25 числа»: a day of the month is an ordinal agreeing with «число».
            return ordinal(int(digits), noun[0].case or "n", "n", noun[0].plural)
        if fraction:
            # A fraction governs the genitive singular whatever the case around it.
            case, _ = count_agreement(2, (), governed)
            words = decimal(digits, fraction, case)
        else:
            case, gender = count_agreement(int(digits), noun, governed)
            words = cardinal(int(digits), case, gender)
        return f"минус {words}" if sign else words

    return safe_sub(_CARDINAL, repl, text)
