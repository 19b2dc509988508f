"""Units of measure after a number, in agreement with it: "5 км" -> "пять километров",
"1,5 кг" -> "одна целая пять десятых килограмма", "-5 °C" -> "минус пять градусов Цельсия"."""

from __future__ import annotations

import re

from lidia.text.grammar import governed_cases
from lidia.text.numbers import counted
from lidia.text.patterns import NO_DIGIT_BEFORE, NUM, safe_sub, sentence_end_kept

__all__ = ["expand_units"]

# symbol (no dot, no spaces) -> (noun in its dictionary form, words said after it)
_UNITS: dict[str, tuple[str, str]] = {
    "%": ("процент", ""),
    "°C": ("градус", " Цельсия"),
    "°С": ("градус", " Цельсия"),
    "°": ("градус", ""),
    "тыс": ("тысяча", ""),
    "млн": ("миллион", ""),
    "млрд": ("миллиард", ""),
    "ч": ("час", ""),
    "мин": ("минута", ""),
    "сек": ("секунда", ""),
    "с": ("секунда", ""),
    "коп": ("копейка", ""),
    "км": ("километр", ""),
    "м": ("метр", ""),
    "см": ("сантиметр", ""),
    "мм": ("миллиметр", ""),
    "кг": ("килограмм", ""),
    "г": ("грамм", ""),
    "т": ("тонна", ""),
    "л": ("литр", ""),
    "мл": ("миллилитр", ""),
    "шт": ("штука", ""),
}
_WORD_UNITS = "тыс|млн|млрд|мин|сек|ч|коп|км|см|мм|м|кг|г|т|мл|л|шт"
_UNIT = re.compile(
    rf"(?:(?<![^\s(\[])([-−+]))?{NO_DIGIT_BEFORE}({NUM})\s*"
    rf"(%|°\s*[CС]|°|(?:{_WORD_UNITS})\.?(?!\w)|с(?=\s*(?:[.,;:!?)]|$)))"
)
_SIGNS = {"-": "минус ", "−": "минус ", "+": "плюс "}


def expand_units(text: str) -> str:
    """Counted units and their abbreviations, in the case their context asks for.

    "5%" -> "пять процентов", "5 тыс." -> "пять тысяч", "через 10 мин." -> "через десять
    минут"; a lone «с» is seconds only at the end of a phrase ("20 с", not "5 с половиной").
    """

    def repl(m: re.Match[str]) -> str:
        sign, number, symbol = m.groups()
        lemma, suffix = _UNITS[re.sub(r"[\s.]", "", symbol)]
        case = governed_cases(m.string, m.start())[0]
        words = f"{_SIGNS.get(sign or '', '')}{counted(number, case, lemma)}{suffix}"
        if symbol.endswith("."):
            words += sentence_end_kept(m.string, m.end())
        return words

    return safe_sub(_UNIT, repl, text)
