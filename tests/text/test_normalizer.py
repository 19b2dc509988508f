"""Russian text normalisation: exact spoken forms, idempotence, robustness."""

from __future__ import annotations

import random
import re

import pytest

from lidia.text.normalizer import normalize_ru, plural_category
from tests.text.cases_ru import CASES


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_normalize_ru_spells_out(text: str, expected: str) -> None:
    assert normalize_ru(text) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_normalize_ru_is_idempotent(text: str, expected: str) -> None:
    assert normalize_ru(expected) == expected


def test_normalized_text_has_no_digits_left() -> None:
    text = " ".join(source for source, _ in CASES)
    assert not re.search(r"\d", normalize_ru(text))


@pytest.mark.parametrize(
    ("n", "category"),
    [(1, "one"), (21, "one"), (101, "one"), (2, "few"), (34, "few"), (5, "many"),
     (11, "many"), (12, "many"), (14, "many"), (111, "many"), (0, "many")],
)  # fmt: skip
def test_plural_category_handles_the_11_to_14_exception(n: int, category: str) -> None:
    assert plural_category(n) == category


def test_spoken_numbers_agree_with_counted_nouns_for_a_range() -> None:
    # The noun the writer chose decides the numeral's gender for every count ending in 1 or 2.
    for n in range(1, 200):
        spoken = normalize_ru(f"{n} минута").split()
        if n % 10 == 1 and n % 100 != 11:
            assert spoken[-2] == "одна"
        if n % 10 == 2 and n % 100 != 12:
            assert spoken[-2] == "две"


_ALPHABET = (
    "0123456789 .,:;!?-–—+()%$€₽№@&*#_`/\\\"'«»°\n\tабвгдеёжзийклмнопрстуфхцчшщъыьэюя"
    "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯabcxyzXYZ\u00a0\u202f\u200b😀漢ʼ"
)
_FRAGMENTS = [
    "т.е.", "руб.", "г.", "с 9 до 18", "15:30", "24.11.2026", "+7", "1 500 ₽", "-", "5%",
    "1-й", "пн–пт", "99:99", "31.02.2020", "0000000000000000000000000000000000000000", "1.2.3",
    "ул.", "ООО", "$", "€", "2,", ",5", "°C", "№", "@", "http://", "8 800",
]  # fmt: skip


def _random_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 12)):
        if rng.random() < 0.4:
            parts.append(rng.choice(_FRAGMENTS))
        else:
            parts.append("".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 10))))
    return rng.choice(["", " ", ""]).join(parts)


def test_never_raises_and_returns_collapsed_idempotent_text() -> None:
    rng = random.Random(1234)
    for _ in range(3000):
        text = _random_text(rng)
        out = normalize_ru(text)
        assert isinstance(out, str)
        assert out == out.strip()
        assert "  " not in out and "\n" not in out
        assert normalize_ru(out) == out, text


def test_huge_numbers_are_left_as_digits_rather_than_crashing() -> None:
    digits = "9" * 60
    assert normalize_ru(f"{digits} и 5 рублей") == f"{digits} и пять рублей"


def test_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        normalize_ru(None)  # type: ignore[arg-type]
