"""Markup, web addresses and whitespace: what a TTS voice must not read as written."""

from __future__ import annotations

import re

__all__ = ["collapse_whitespace", "expand_urls_and_emails", "remove_underscores", "strip_markup"]


def strip_markup(text: str) -> str:
    """Drop markdown leftovers and quotes: **bold**, # headings, `code`, [link](url)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*#`~|\\<>]+", " ", text)
    return re.sub(r"[«»\"“”„]", "", text)


_SEPARATOR_NAMES = {
    "@": " собака ",
    ".": " точка ",
    "/": " слэш ",
    "-": " дефис ",
    "_": " подчёркивание ",
    ":": " двоеточие ",
}


def _spell_address(address: str) -> str:
    """Spell a URL or e-mail with Russian separator names."""
    address = re.sub(r"^(?:https?|ftp)://", "", address, flags=re.IGNORECASE)
    return re.sub(r"[@./\-_:]", lambda m: _SEPARATOR_NAMES[m.group()], address).strip()


_URL_OR_EMAIL = re.compile(
    r"(?:https?://|www\.)\w[^\s<>()\"«»]*"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|\b[\w-]+\.(?:ru|com|рф|org|net|io|su|info|biz)\b(?:/[^\s<>()\"«»]*)?",
    re.IGNORECASE,
)


def expand_urls_and_emails(text: str) -> str:
    """Read URLs and e-mails: "a@b.ru" -> "a собака b точка ru" (scheme dropped)."""

    def repl(m: re.Match[str]) -> str:
        address = m.group()
        trailing = re.search(r"[.,;:!?]+$", address)
        tail = trailing.group() if trailing else ""
        core = address[: len(address) - len(tail)]
        return f" {_spell_address(core)}{tail} "

    return _URL_OR_EMAIL.sub(repl, text)


def remove_underscores(text: str) -> str:
    """Drop markdown underscores (after e-mails, which may legitimately contain them)."""
    return re.sub(r"_+", " ", text)


def collapse_whitespace(text: str) -> str:
    """One space between words, none before punctuation, none at the ends."""
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r" ([,.!?;:…)])", r"\1", text)
    return text.strip()
