"""Regular-expression pieces and substitution helpers shared by the normaliser's rules."""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "INT",
    "MONTHS_GEN",
    "NO_DIGIT_BEFORE",
    "NUM",
    "SPACE",
    "THOUSANDS_DOTTED",
    "safe_sub",
    "sentence_end_kept",
]

SPACE = r"[ \u00a0\u202f\u2009]"
# An integer, with optional thousands groups separated by (narrow) spaces: "1 500 000".
# Dots may separate thousands too ("2.300"), as in Russian print; one dot before other than
# three digits is a decimal point ("12.5").
THOUSANDS_DOTTED = r"[1-9]\d{0,2}(?:\.\d{3})+(?![\d.,])"
INT = rf"{THOUSANDS_DOTTED}|\d{{1,3}}(?:{SPACE}\d{{3}})+(?!\d)|\d+"
NUM = rf"(?:{INT})(?:[.,]\d+)?"
NO_DIGIT_BEFORE = r"(?<![\w.,])"

MONTHS_GEN = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip

# The errors spelling a match may raise on garbage (a 40-digit number, day 99).
_SPELLING_ERRORS = (ValueError, KeyError, IndexError, OverflowError, NotImplementedError)


def safe_sub(regex: re.Pattern[str], repl: Callable[[re.Match[str]], str], text: str) -> str:
    """regex.sub that leaves a match as written when spelling it fails."""

    def safe(m: re.Match[str]) -> str:
        try:
            return repl(m)
        except _SPELLING_ERRORS:
            return m.group()

    return regex.sub(safe, text)


def sub_in_order(
    regex: re.Pattern[str], repl: Callable[[re.Match[str], str], str], text: str
) -> str:
    """Like `safe_sub`, but `repl` also gets the text produced so far, already rewritten.

    Lists read left to right need it: in «в сб. и вс.» the second day takes the case of
    the first one, which is only visible once «сб.» has become «субботу».
    """
    out: list[str] = []
    last = 0
    for m in regex.finditer(text):
        out.append(text[last : m.start()])
        try:
            out.append(repl(m, "".join(out)))
        except _SPELLING_ERRORS:
            out.append(m.group())
        last = m.end()
    out.append(text[last:])
    return "".join(out)


def sentence_end_kept(text: str, end: int) -> str:
    """'.' if an abbreviation's dot at text[end-1] also ended the sentence, else ''."""
    return "." if re.match(r"\s+[A-ZА-ЯЁ«\"—–]", text[end:]) else ""
