"""Numbers in words: cardinals, ordinals and decimals in any case and gender, and nouns counted.

Numerals come from num2words (it declines them); the counted nouns from pymorphy3, through
`morphology.inflect`. Case letters: n g d a i p; genders: m f n.
"""

from __future__ import annotations

import re
from functools import lru_cache

from num2words import num2words

from lidia.text.morphology import inflect, lemma_gender, lemma_plural_only

__all__ = [
    "CASES",
    "cardinal",
    "cardinal_readings",
    "counted",
    "counting_numeral",
    "decimal",
    "digit_group",
    "fraction",
    "noun_form",
    "ordinal",
    "ordinal_readings",
    "plural_category",
]

CASES = ("n", "g", "d", "a", "i", "p")
GENDERS = ("m", "f", "n")


@lru_cache(maxsize=8192)
def cardinal(n: int, case: str = "n", gender: str = "m") -> str:
    """Cardinal numeral in words; 1000–1999 read as "тысяча ...", not "одна тысяча ..."."""
    words = num2words(n, lang="ru", case=case, gender=gender, animate=False)
    return re.sub(r"^(минус )?одн\w* (тысяч)", r"\1\2", words)


# Collective numerals, said with plural-only nouns in the nominative and accusative:
# «двое суток», «трое ножниц», «четверо саней».
_COLLECTIVE = {2: "двое", 3: "трое", 4: "четверо"}
# «один» before a plural-only noun: «одни сутки», «одних суток».
_ONE_PLURAL = {"n": "одни", "g": "одних", "d": "одним", "a": "одни", "i": "одними", "p": "одних"}


def counting_numeral(n: int, case: str, gender: str, plural_only: bool = False) -> str:
    """The cardinal that counts a noun; before a plural-only noun («сутки», «ножницы») the
    collective «двое/трое/четверо» and the plural «одни», as Russian says them."""
    if plural_only:
        if case in ("n", "a") and n in _COLLECTIVE:
            return _COLLECTIVE[n]
        if plural_category(n) == "one":
            words = cardinal(n, case, gender).split()
            return " ".join([*words[:-1], _ONE_PLURAL[case]])
    return cardinal(n, case, gender)


@lru_cache(maxsize=4096)
def cardinal_readings(n: int, suffix: str) -> tuple[str, ...]:
    """Cases whose cardinal of `n` ends in `suffix` ("3-х": трёх, genitive or prepositional)."""
    return tuple(case for case in CASES if cardinal(n, case).replace("ё", "е").endswith(suffix))


@lru_cache(maxsize=8192)
def ordinal(n: int, case: str = "n", gender: str = "m", plural: bool = False) -> str:
    """Ordinal numeral in words ("двадцать четвёртое", "две тысячи двадцать пятом")."""
    words = num2words(
        n, lang="ru", to="ordinal", case=case, gender=gender, plural=plural, animate=False
    )
    return re.sub(r"^одн\w* (тысяч)", r"\1", words)


@lru_cache(maxsize=4096)
def ordinal_readings(n: int, suffix: str) -> tuple[tuple[str, str, bool], ...]:
    """Every (case, gender, plural) whose ordinal of `n` ends in `suffix` ("2-м": вторым, втором).

    The written suffix is the ordinal's own ending, so matching it against the real words
    decides the candidates; the noun beside it then picks one. Nominative singular first.
    """
    readings = []
    for plural in (False, True):
        for case in CASES:
            for gender in GENDERS if not plural else ("m",):
                if ordinal(n, case, gender, plural).endswith(suffix):
                    readings.append((case, gender, plural))
    return tuple(readings)


def plural_category(n: int) -> str:
    """Russian count category of `n`: "one" (1, 21), "few" (2–4, 22) or "many" (5, 11–14)."""
    n = abs(n)
    if 11 <= n % 100 <= 14:
        return "many"
    if n % 10 == 1:
        return "one"
    if 2 <= n % 10 <= 4:
        return "few"
    return "many"


def noun_form(n: int, case: str, lemma: str) -> str:
    """The noun `lemma` counted by the integer `n`, the whole phrase being in `case`.

    In the nominative and accusative the number governs the noun (два часа, пять часов);
    in the other cases the noun takes the phrase's case, plural above one (трёх часов).
    """
    category = plural_category(n)
    if lemma_plural_only(lemma):
        # «одни сутки», «двое суток», «пяти суток»: a plural-only noun is never singular.
        one_nominative = category == "one" and case in ("n", "a")
        return inflect(lemma, case if one_nominative or case not in ("n", "a") else "g", True)
    if case in ("n", "a"):
        if category == "one":
            return inflect(lemma, case, False)
        return inflect(lemma, "g", category == "many")
    return inflect(lemma, case, category != "one")


# "целая" declines as an adjective: its forms after a count, by case (singular, plural).
_WHOLE = {
    "n": ("целая", "целых"), "g": ("целой", "целых"), "d": ("целой", "целым"),
    "a": ("целую", "целых"), "i": ("целой", "целыми"), "p": ("целой", "целых"),
}  # fmt: skip


def decimal(whole: str, fraction: str, case: str = "n") -> str:
    """A decimal number in words: ("12", "5") -> "двенадцать целых пять десятых"."""
    w, f = int(whole), int(fraction)
    whole_noun = _WHOLE[case][plural_category(w) != "one"]
    tenths = _tenths(f, len(fraction), case)
    return f"{cardinal(w, case, 'f')} {whole_noun} {cardinal(f, case, 'f')} {tenths}"


def _tenths(count: int, places: int, case: str) -> str:
    """The fraction's denominator counted by `count`: "десятая", "пяти десятых", "сотых"."""
    many = plural_category(count) != "one"
    governed = "g" if case in ("n", "a") and many else case
    return ordinal(10**places, governed, "f", many)


def fraction(numerator: int, denominator: int, case: str = "n") -> str:
    """A common fraction: 1/2 -> "одна вторая", 2/3 -> "две третьих", "к двум третьим"."""
    words = cardinal(numerator, case, "f")
    if plural_category(numerator) == "one":
        return f"{words} {ordinal(denominator, case, 'f')}"
    governed = "g" if case in ("n", "a") else case
    return f"{words} {ordinal(denominator, governed, 'f', True)}"


_THOUSANDS_DOTS = re.compile(r"[1-9]\d{0,2}(?:\.\d{3})+")


def split_number(number: str) -> tuple[str, str]:
    """ "1 234,56" -> ("1234", "56"): digits of the whole and the fractional part.

    Dots between groups of three digits separate thousands ("2.300" is 2300), as in
    Russian print; one dot before fewer or more digits is a decimal point ("12.5").
    """
    digits = re.sub(r"[\s\u00a0\u202f\u2009]", "", number)
    if _THOUSANDS_DOTS.fullmatch(digits):
        digits = digits.replace(".", "")
    digits = digits.replace(",", ".")
    whole, _, fraction = digits.partition(".")
    return whole, fraction


def counted(number: str, case: str, lemma: str) -> str:
    """Number (digits, maybe with a decimal part) followed by the noun `lemma` in agreement."""
    whole, fraction = split_number(number)
    if fraction:
        # A fractional count always takes the genitive singular: "2,5 процента".
        return f"{decimal(whole, fraction, case)} {inflect(lemma, 'g', False)}"
    n = int(whole)
    numeral = counting_numeral(n, case, lemma_gender(lemma), lemma_plural_only(lemma))
    return f"{numeral} {noun_form(n, case, lemma)}"


def digit_group(group: str) -> str:
    """Read a phone digit group: "045" -> "ноль сорок пять", "00" -> "ноль ноль"."""
    zeros = len(group) - len(group.lstrip("0"))
    if zeros == len(group):
        return " ".join(["ноль"] * len(group))
    return " ".join(["ноль"] * zeros + [cardinal(int(group))])
