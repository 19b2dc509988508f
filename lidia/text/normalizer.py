"""Russian text normalisation for speech synthesis: the pipeline.

XTTS reads digits through num2words without case agreement ("12.5 секунды" becomes
"двенадцать запятая пять секунды"), so every number, date, time, sum of money, unit, phone
number, Roman numeral and common abbreviation is spelled out here first, with the case and
gender the surrounding phrase decides (pymorphy3 knows the nouns; see `grammar`).

`normalize_ru` applies small rules in a fixed order: the more specific patterns (phones,
dates, times, money, units) run before plain numbers so that the generic rules never see
their digits. Every rule emits only words, so a second pass changes nothing (idempotent).
"""

from __future__ import annotations

from collections.abc import Callable

from lidia.text.abbreviations import expand_abbreviations, expand_symbols
from lidia.text.cardinals import (
    expand_cardinals,
    expand_dimensions,
    expand_fractions,
    expand_number_ranges,
    separate_glued_numbers,
)
from lidia.text.dates import expand_dates, expand_month_abbreviations, expand_times, expand_years
from lidia.text.markup import (
    collapse_whitespace,
    expand_urls_and_emails,
    remove_underscores,
    strip_markup,
)
from lidia.text.money import expand_money
from lidia.text.numbers import cardinal, noun_form, ordinal, plural_category
from lidia.text.ordinals import expand_ordinals, expand_roman_numerals
from lidia.text.phones import expand_phone_numbers
from lidia.text.units import expand_units
from lidia.text.weekdays import expand_weekdays

__all__ = ["cardinal", "normalize_ru", "noun_form", "ordinal", "plural_category"]

# Order matters: specific patterns consume their digits before the generic number rule.
_RULES: tuple[Callable[[str], str], ...] = (
    strip_markup,
    expand_urls_and_emails,
    remove_underscores,
    expand_phone_numbers,
    expand_month_abbreviations,
    expand_dates,
    expand_years,
    expand_times,
    expand_dimensions,
    expand_money,
    expand_units,
    expand_ordinals,
    expand_roman_numerals,
    expand_weekdays,
    expand_abbreviations,
    separate_glued_numbers,
    expand_number_ranges,
    expand_fractions,
    expand_symbols,
    expand_cardinals,
    collapse_whitespace,
)
# Ordinary text is stable after one pass. Garbage can produce new matches when a rule
# joins two fragments ("г" + "." + "Ъ"), so passes repeat until stable, at most this often.
_MAX_PASSES = 4


def normalize_ru(text: str) -> str:
    """Spell out numbers, dates, times, money, units, phones and abbreviations in Russian text.

    Returns text a TTS engine reads correctly; Latin words are left as they are, «ё» is kept.
    Never raises on any string, and normalising twice gives the same result. Pure CPU,
    well under a millisecond per sentence once the morphology dictionary is loaded (the
    first call loads it, ~0.15 s).
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize_ru expects str, got {type(text).__name__}")
    for _ in range(_MAX_PASSES):
        normalized = _apply_rules(text)
        if normalized == text:
            break
        text = normalized
    return text


def _apply_rules(text: str) -> str:
    for rule in _RULES:
        text = rule(text)
    return text
