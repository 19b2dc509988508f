"""Telephone numbers read as digit groups, the way a secretary dictates them."""

from __future__ import annotations

import re

from lidia.text.numbers import digit_group
from lidia.text.patterns import safe_sub

__all__ = ["expand_phone_numbers"]

_RU_PHONE = re.compile(
    r"(?<![\w+])(\+\s?7|8)[\s-]*\(?(\d{3})\)?[\s-]*(\d{3})[\s-]*(\d{2})[\s-]*(\d{2})(?![\d])"
)
_OTHER_PHONE = re.compile(r"(?<![\w+])\+\d[\d\s()-]{6,}\d(?!\d)")
_LOCAL_PHONE = re.compile(r"(?<![\w.,-])(\d{3})-(\d{2})-(\d{2})(?![\d-])")


def expand_phone_numbers(text: str) -> str:
    """Phones as digit groups.

    "+7 (495) 123-45-67" -> "плюс семь, четыреста девяносто пять, сто двадцать три, ...".
    """

    def russian(m: re.Match[str]) -> str:
        country = "плюс семь" if m.group(1).startswith("+") else "восемь"
        groups = [digit_group(g) for g in m.groups()[1:]]
        return ", ".join([country, *groups])

    def other(m: re.Match[str]) -> str:
        groups = [digit_group(g) for g in re.findall(r"\d+", m.group())]
        return "плюс " + ", ".join(groups)

    def local(m: re.Match[str]) -> str:
        return ", ".join(digit_group(g) for g in m.groups())

    text = safe_sub(_RU_PHONE, russian, text)
    text = safe_sub(_OTHER_PHONE, other, text)
    return safe_sub(_LOCAL_PHONE, local, text)
