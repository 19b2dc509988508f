"""Language codes as clients write them reduce to the base code the engines know."""

from __future__ import annotations

import pytest

from lidia.text.language import base_language


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("ru", "ru"),
        ("RU", "ru"),
        (" ru-RU ", "ru"),
        ("ru_RU", "ru"),
        ("en-GB", "en"),
        ("auto", "auto"),
        ("", ""),
    ],
)
def test_base_language(given: str, expected: str) -> None:
    assert base_language(given) == expected
