"""Abbreviations, acronyms and symbols read as words: "т.е." -> "то есть", "ул." -> "улица",
"ООО" -> "о-о-о", "№" -> "номер", "&" -> "и"."""

from __future__ import annotations

import re
from collections.abc import Callable

from lidia.text.grammar import words_before
from lidia.text.morphology import analyze
from lidia.text.patterns import safe_sub, sentence_end_kept

__all__ = ["expand_abbreviations", "expand_symbols"]

# Abbreviation -> expansion, matched case-insensitively; a capitalised abbreviation
# ("Т.е.") gets a capitalised expansion ("То есть").
_ABBREVIATIONS: list[tuple[str, str]] = [
    (r"и\s?т\.\s?д\.", "и так далее"),
    (r"и\s?т\.\s?п\.", "и тому подобное"),
    (r"т\.\s?е\.", "то есть"),
    (r"т\.\s?к\.", "так как"),
    (r"т\.\s?д\.", "так далее"),
    (r"т\.\s?п\.", "тому подобное"),
    (r"т\.\s?ч\.", "том числе"),
    (r"и\s?др\.", "и другие"),
    (r"др\.", "другие"),
    (r"ул\.", "улица"),
    (r"пр-т\.?", "проспект"),
    (r"просп\.", "проспект"),
    (r"пер\.", "переулок"),
    (r"д\.(?=\s*\d)", "дом"),
    (r"кв\.(?=\s*\d)", "квартира"),
    (r"корп\.(?=\s*\d)", "корпус"),
    (r"стр\.(?=\s*\d)", "строение"),
    (r"оф\.(?=\s*\d)", "офис"),
    (r"каб\.(?=\s*\d)", "кабинет"),
    (r"тел\.", "телефон"),
    (r"им\.", "имени"),
    (r"проф\.", "профессор"),
    (r"акад\.", "академик"),
    (r"см\.", "смотри"),
    (r"г\.(?=\s*(?-i:[А-ЯЁ]))", "город"),
    (r"гг\.", "годы"),
    (r"руб\.", "рублей"),
    (r"коп\.", "копеек"),
    (r"тыс\.", "тысяч"),
    (r"млн\.?", "миллионов"),
    (r"млрд\.?", "миллиардов"),
    (r"мин\.", "минут"),
    (r"сек\.", "секунд"),
]
_ACRONYMS = {
    "ООО": "о-о-о",
    "ОАО": "о-а-о",
    "ЗАО": "зао",
    "ПАО": "пао",
    "АО": "а-о",
    "ИП": "и-пэ",
    "НДС": "эн-дэ-эс",
    "ИНН": "и-эн-эн",
    "РФ": "эр-эф",
    "СМС": "эсэмэс",
    "США": "сэ-шэ-а",
    "SMS": "эсэмэс",
}


# Abbreviations that may end a sentence; the others always precede a name or a number.
_FINAL_ABBREVIATIONS = frozenset(
    ["и так далее", "и тому подобное", "так далее", "тому подобное", "и другие", "другие",
     "годы", "рублей", "копеек", "тысяч", "миллионов", "миллиардов", "минут", "секунд"]
)  # fmt: skip


def _abbreviation_rule(pattern: str, expansion: str) -> Callable[[str], str]:
    regex = re.compile(rf"(?<![\w.]){pattern}(?!\w)", re.IGNORECASE)

    def repl(m: re.Match[str]) -> str:
        words = expansion[0].upper() + expansion[1:] if m.group()[0].isupper() else expansion
        if expansion in _FINAL_ABBREVIATIONS and m.group().endswith("."):
            words += sentence_end_kept(m.string, m.end())
        return words

    return lambda text: safe_sub(regex, repl, text)


_ABBREVIATION_RULES = [_abbreviation_rule(p, e) for p, e in _ABBREVIATIONS]
_ACRONYM = re.compile(rf"\b({'|'.join(_ACRONYMS)})\b")


def expand_abbreviations(text: str) -> str:
    """Common abbreviations and acronyms: "т.е." -> "то есть", "ул." -> "улица", "ООО" -> "о-о-о".

    A dot that both ends the abbreviation and the sentence is kept ("и т.д. Далее" keeps
    "и так далее. Далее").
    """
    for rule in _ABBREVIATION_RULES:
        text = rule(text)
    return _ACRONYM.sub(lambda m: _ACRONYMS[m.group()], text)


_SYMBOLS = {
    "&": " и ",
    "+": " плюс ",
    "=": " равно ",
    "%": " процентов ",
    "№": " номер ",
    "°": " градусов ",
    "₽": " рублей ",
    "€": " евро ",
    "$": " долларов ",
    "@": " собака ",
}
_SYMBOL = re.compile(f"[{re.escape(''.join(_SYMBOLS))}]")
# A unit sign with no digits before it is named in the singular («%» — «процент») unless a
# quantity word counts it («сколько %»).
_NAMED_SIGNS = {"%": " процент ", "°": " градус "}
_QUANTITY_WORDS = frozenset(["сколько", "несколько", "много", "мало", "столько"])


def expand_symbols(text: str) -> str:
    """Leftover symbols: "&" -> "и", "+" -> "плюс", "№" -> "номер", "%" -> "процент"."""
    text = re.sub(r"№\s*№", " номера ", text)

    def repl(m: re.Match[str]) -> str:
        sign = m.group()
        if sign in _NAMED_SIGNS:
            before = words_before(m.string, m.start(), 1)
            counted = before and (
                before[0] in _QUANTITY_WORDS or any(f.pos == "NUMR" for f in analyze(before[0]))
            )
            if not counted:
                return _NAMED_SIGNS[sign]
        return _SYMBOLS[sign]

    return _SYMBOL.sub(repl, text)
