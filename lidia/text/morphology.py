"""Russian morphology for the normaliser: pymorphy3 (OpenCorpora dictionaries) behind a cache.

The analyzer takes ~0.15 s and ~15 MB to load, so it is loaded once, lazily, behind a lock
(TTS worker threads may normalise concurrently). Word analyses and inflections are cached:
a secretary's speech reuses a small vocabulary, so after warm-up nearly every lookup is a
dictionary hit.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import NamedTuple

import pymorphy3

__all__ = [
    "WordForm",
    "analyze",
    "gender_of",
    "inflect",
    "inflect_adjective",
    "lemma_gender",
    "lemma_plural_only",
    "morph",
]

# OpenCorpora case -> the one-letter case names num2words and our rules use.
_CASE_LETTER = {
    "nomn": "n", "gent": "g", "gen2": "g", "datv": "d", "accs": "a", "acc2": "a",
    "ablt": "i", "loct": "p", "loc2": "p", "voct": "n",
}  # fmt: skip
_CASE_TAG = {"n": "nomn", "g": "gent", "d": "datv", "a": "accs", "i": "ablt", "p": "loct"}
_GENDER_LETTER = {"masc": "m", "femn": "f", "neut": "n"}
# Counted genitive plurals that differ from the ordinary one ("пять лет", not "годов").
_COUNTED_GENITIVE_PLURAL = {
    "год": "лет", "человек": "человек", "грамм": "граммов", "килограмм": "килограммов",
}  # fmt: skip

_lock = threading.Lock()
_analyzer: pymorphy3.MorphAnalyzer | None = None


def morph() -> pymorphy3.MorphAnalyzer:
    """The process-wide analyzer, loaded on first use (double-checked under a lock)."""
    global _analyzer
    if _analyzer is None:
        with _lock:
            if _analyzer is None:
                _analyzer = pymorphy3.MorphAnalyzer()
    return _analyzer


class WordForm(NamedTuple):
    """One reading of a word form: part of speech, case, number and gender as letters."""

    pos: str  # "NOUN", "ADJF", "VERB", "PREP"... ("" when unknown)
    case: str  # "n" "g" "d" "a" "i" "p", or ""
    plural: bool
    gender: str  # "m" "f" "n", or "" (plural-only nouns, adjectives in the plural)
    lemma: str
    score: float
    fixed: bool  # indeclinable ("евро", "км"): its form says nothing about the case
    name: bool  # a first name ("Пётр", "Екатерина")
    transitive: bool
    plural_only: bool  # «сутки», «ножницы»: counted by «двое», «трое», «одни»
    animate: bool  # «детей», «пациентов»: «двое детей» with no word governing them


@lru_cache(maxsize=65536)
def analyze(word: str) -> tuple[WordForm, ...]:
    """Every dictionary reading of `word`, most probable first."""
    forms = []
    for parse in morph().parse(word):
        tag = parse.tag
        forms.append(
            WordForm(
                pos=str(tag.POS or ""),
                case=_CASE_LETTER.get(str(tag.case), ""),
                plural=tag.number == "plur",
                gender=_GENDER_LETTER.get(str(tag.gender), ""),
                lemma=parse.normal_form,
                score=parse.score,
                fixed="Fixd" in tag,
                name="Name" in tag,
                transitive="tran" in tag,
                plural_only="Pltm" in tag,
                animate="anim" in tag,
            )
        )
    return tuple(forms)


@lru_cache(maxsize=4096)
def _lemma_parse(lemma: str) -> pymorphy3.analyzer.Parse:
    """The noun reading of a dictionary form ("минута" the noun, not a verb's form)."""
    parses = morph().parse(lemma)
    for parse in parses:
        if parse.tag.POS == "NOUN" and parse.normal_form == lemma:
            return parse
    return parses[0]


def lemma_gender(lemma: str) -> str:
    """Grammatical gender of a noun given in its dictionary form ("m" when unknown)."""
    return _GENDER_LETTER.get(str(_lemma_parse(lemma).tag.gender), "m")


def lemma_plural_only(lemma: str) -> bool:
    """Whether a noun has no singular: «сутки», «ножницы», «очки»."""
    return "Pltm" in _lemma_parse(lemma).tag


def gender_of(forms: tuple[WordForm, ...]) -> str:
    """Gender of the first noun reading that has one ("m" by default, as Russian counts)."""
    for form in forms:
        if form.pos == "NOUN" and form.gender:
            return form.gender
    return "m"


@lru_cache(maxsize=16384)
def inflect(lemma: str, case: str, plural: bool) -> str:
    """`lemma` in `case` and number; the counted genitive plural where it differs."""
    if plural and case == "g" and lemma in _COUNTED_GENITIVE_PLURAL:
        return _COUNTED_GENITIVE_PLURAL[lemma]
    grammemes = {_CASE_TAG[case], "plur" if plural else "sing"}
    form = _lemma_parse(lemma).inflect(grammemes)
    return form.word if form is not None else lemma


@lru_cache(maxsize=4096)
def inflect_adjective(lemma: str, case: str, plural: bool, gender: str) -> str:
    """The adjective `lemma` in `case`, number and gender (inanimate); "" stays ""."""
    if not lemma:
        return ""
    parse = next((p for p in morph().parse(lemma) if p.tag.POS == "ADJF"), morph().parse(lemma)[0])
    grammemes = {_CASE_TAG[case], "plur" if plural else "sing"}
    if not plural:
        grammemes.add({"m": "masc", "f": "femn", "n": "neut"}.get(gender, "masc"))
    if case == "a":
        grammemes.add("inan")
    form = parse.inflect(grammemes)
    return form.word if form is not None else lemma
