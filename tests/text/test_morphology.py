"""The pymorphy3 wrapper: one analyzer per process, inflections and agreement it decides."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from lidia.text.grammar import count_agreement, governed_cases, next_noun
from lidia.text.morphology import inflect, lemma_gender, morph
from lidia.text.normalizer import normalize_ru
from lidia.text.numbers import noun_form, ordinal_readings


def test_the_analyzer_is_loaded_once_even_from_many_threads() -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        analyzers = list(pool.map(lambda _: morph(), range(32)))
    assert all(a is analyzers[0] for a in analyzers)


def test_concurrent_normalisation_reads_like_a_single_thread() -> None:
    texts = ["Это займёт 1 минуту", "в течение 3 дней", "на 2-м этаже", "Пн–Пт с 9 до 18"] * 25
    expected = [normalize_ru(t) for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(normalize_ru, texts)) == expected


@pytest.mark.parametrize(
    ("n", "case", "lemma", "form"),
    [(1, "n", "минута", "минута"), (2, "n", "минута", "минуты"), (5, "n", "минута", "минут"),
     (1, "a", "минута", "минуту"), (3, "g", "день", "дней"), (2, "i", "коллега", "коллегами"),
     (5, "n", "год", "лет"), (2, "n", "год", "года"), (21, "p", "рубль", "рубле"),
     (5, "n", "килограмм", "килограммов"), (3, "d", "неделя", "неделям")],
)  # fmt: skip
def test_counted_noun_forms(n: int, case: str, lemma: str, form: str) -> None:
    assert noun_form(n, case, lemma) == form


def test_gender_comes_from_the_dictionary() -> None:
    assert [lemma_gender(w) for w in ("подпись", "счёт", "место", "тонна")] == list("fmnf")
    assert inflect("суббота", "a", False) == "субботу"


def test_the_written_noun_decides_case_over_the_preposition() -> None:
    text = "в 3 комнатах"
    noun = next_noun(text, len("в 3"))
    assert count_agreement(3, noun, governed_cases(text, len("в "))) == ("p", "f")


def test_a_compound_preposition_governs_the_genitive() -> None:
    assert governed_cases("в течение 3 дней", len("в течение ")) == ("g",)


def test_ordinal_suffix_narrows_the_readings() -> None:
    cases = {case for case, _, plural in ordinal_readings(2, "м") if not plural}
    assert cases == {"i", "p"}
