"""The dashboard's Russian: plural forms of counts and the names of stored codes."""

from __future__ import annotations

import pytest

from lidia.admin.wording import count_ru, event_ru, outcome_ru, plural_ru

CALLS = ("звонок", "звонка", "звонков")


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, "0 звонков"),
        (1, "1 звонок"),
        (2, "2 звонка"),
        (5, "5 звонков"),
        (11, "11 звонков"),
        (12, "12 звонков"),
        (14, "14 звонков"),
        (21, "21 звонок"),
        (22, "22 звонка"),
        (25, "25 звонков"),
        (111, "111 звонков"),
        (1001, "1001 звонок"),
    ],
)
def test_counts_take_the_russian_plural_form(count: int, expected: str) -> None:
    assert count_ru(count, *CALLS) == expected


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1, "реплика"),
        (2, "реплики"),
        (5, "реплик"),
        (11, "реплик"),
        (21, "реплика"),
        (22, "реплики"),
        (25, "реплик"),
        (111, "реплик"),
    ],
)
def test_the_bare_form_for_templates(count: int, expected: str) -> None:
    assert plural_ru(count, "реплика", "реплики", "реплик") == expected


def test_outcomes_and_events_are_russian_and_unknown_codes_stay_visible() -> None:
    assert outcome_ru("conversation") == "разговор"
    assert outcome_ru("no_speech").startswith("молчание")
    assert outcome_ru("message") == "оставил(а) сообщение"
    assert outcome_ru(None, "no-answer") == "нет ответа"
    assert outcome_ru("completed") == "завершён"  # the store falls back to the status
    assert outcome_ru("transferred") == "переведён на сотрудника"
    assert outcome_ru("some_future_outcome") == "some_future_outcome"  # unknown: shown as is
    assert outcome_ru(None) == "—"
    assert event_ru("barge_in") == "звонящий перебил Лидию"
    assert event_ru("something_new") == "something_new"
