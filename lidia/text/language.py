"""Language codes as clients send them, reduced to the base code the engines use."""

from __future__ import annotations


def base_language(language: str) -> str:
    """ "ru", "RU", " ru-RU ", "ru_RU" → "ru"; "auto" stays "auto"; "" stays ""."""
    return language.strip().lower().replace("_", "-").split("-")[0]
