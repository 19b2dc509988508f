"""Sums of money: "1 500 ₽" -> "тысяча пятьсот рублей", "$3.99" -> "три доллара девяносто
девять центов", "5 тыс. руб." -> "пять тысяч рублей"."""

from __future__ import annotations

import re

from lidia.text.grammar import governed_cases
from lidia.text.morphology import inflect
from lidia.text.numbers import counted, split_number
from lidia.text.patterns import NO_DIGIT_BEFORE, NUM, safe_sub, sentence_end_kept
from lidia.text.units import PER_UNIT, RANGE_START, per_unit_words, range_start_words

__all__ = ["MULTIPLIERS", "expand_money"]

# currency code -> (unit, subunit), nouns in their dictionary form
_CURRENCIES = {"rub": ("рубль", "копейка"), "usd": ("доллар", "цент"), "eur": ("евро", "цент")}
_CURRENCY_AFTER = {
    r"₽": "rub",
    r"руб\.?": "rub",
    r"р\.": "rub",
    r"RUB\b": "rub",
    r"\$": "usd",
    r"USD\b": "usd",
    r"долл\.(?:\s*США)?": "usd",
    r"€": "eur",
    r"EUR\b": "eur",
}
MULTIPLIERS = {"тыс": "тысяча", "млн": "миллион", "млрд": "миллиард"}
_MULT = r"(?:\s*(тыс|млн|млрд)\.?)?"
_MONEY_AFTER = re.compile(
    rf"{NO_DIGIT_BEFORE}{RANGE_START}({NUM}){_MULT}\s*({'|'.join(_CURRENCY_AFTER)})(?!\w){PER_UNIT}?"
)
_MONEY_BEFORE = re.compile(rf"([$€])\s*({NUM}){_MULT}(?!\w){PER_UNIT}?")


def _currency_code(symbol: str) -> str:
    for pattern, code in _CURRENCY_AFTER.items():
        if re.fullmatch(pattern, symbol):
            return code
    return "rub"


def _spoken_money(amount: str, multiplier: str | None, code: str, case: str) -> str:
    """ "2,50" EUR -> "два евро пятьдесят центов"; "1,5" млн RUB -> "... миллиона рублей"."""
    unit, subunit = _CURRENCIES[code]
    if multiplier:
        # "5 тыс. руб.": the currency after a multiplier is always genitive plural.
        return f"{counted(amount, case, MULTIPLIERS[multiplier])} {inflect(unit, 'g', True)}"
    whole, cents = split_number(amount)
    words = counted(whole, case, unit)
    if cents and int(cents[:2].ljust(2, "0")):
        words += " " + counted(cents[:2].ljust(2, "0"), case, subunit)
    return words


def _case_before(m: re.Match[str]) -> str:
    return governed_cases(m.string, m.start())[0]


def expand_money(text: str) -> str:
    """Sums of money in the case their context asks for: "до 1 000 ₽" -> "до тысячи рублей"."""

    def after(m: re.Match[str]) -> str:
        first, amount, multiplier, symbol, per = m.groups()
        code = _currency_code(symbol)
        words = _spoken_money(amount, multiplier, code, _case_before(m))
        if first:  # "100-200 руб.": "сто — двести рублей"
            noun = MULTIPLIERS[multiplier] if multiplier else _CURRENCIES[code][0]
            words = f"{range_start_words(first, _case_before(m), noun)} — {words}"
        if symbol.endswith("США"):
            words += " США"
        if per:
            words += " " + per_unit_words(per)
        return words + (sentence_end_kept(m.string, m.end()) if m.group().endswith(".") else "")

    def before(m: re.Match[str]) -> str:
        symbol, amount, multiplier, per = m.groups()
        words = _spoken_money(amount, multiplier, _currency_code(symbol), _case_before(m))
        return words + (" " + per_unit_words(per) if per else "")

    return safe_sub(_MONEY_BEFORE, before, safe_sub(_MONEY_AFTER, after, text))
