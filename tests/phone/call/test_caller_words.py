"""What a caller's short fragment over Лидия means (issue 11): Russian words as recognised."""

from __future__ import annotations

import pytest

from lidia.phone.call.caller_words import HeardWords, interrupts, is_backchannel, says_stop

SURE, UNSURE = 0.8, 0.3


@pytest.mark.parametrize(
    "text",
    [
        *("Угу.", "АГА!", "да", "Да-да.", "Да, да.", "Так…", "Хорошо.", "понятно", "Ясно!"),
        *("м-м", "М-м-м.", "Хм.", "Хорошо, понятно.", "Угу, ясно", "", " ... "),
        *("дада", "Угуугу", "Д"),  # as a fast recogniser writes «Да-да», «Угу-угу», «Да»
    ],
)
def test_backchannels(text: str) -> None:
    assert is_backchannel(text)


@pytest.mark.parametrize(
    "text",
    [
        *("Нет.", "Стоп!", "Подождите.", "Нет, стоп, я хотела спросить…", "Да, но в субботу."),
        *("Ещё вопрос.", "Всё.", "да да да да", "Хорошо, запишите меня"),
    ],
)
def test_words_that_take_the_turn(text: str) -> None:
    assert not is_backchannel(text)


@pytest.mark.parametrize(
    "text", ["Нет", "Стоп!", "Подожди", "Подождите, пожалуйста", "Извините", "Минуточку", "Алло?"]
)
def test_stop_words_heard_surely_stop_her(text: str) -> None:
    assert says_stop(HeardWords(text, SURE), 0.55)
    assert not says_stop(HeardWords(text, UNSURE), 0.55)  # a word it could not read: a sound


@pytest.mark.parametrize("text", ["Понятно", "Ага", "Да", "Хорошо", "Поня", "Запишите"])
def test_other_words_do_not_stop_her_mid_word(text: str) -> None:
    assert not says_stop(HeardWords(text, SURE), 0.55)


def test_a_finished_fragment_interrupts_only_with_sure_words_that_are_no_backchannel() -> None:
    assert interrupts(HeardWords("Нет.", SURE), 0.55)
    assert interrupts(HeardWords("Ещё вопрос.", SURE), 0.55)
    assert not interrupts(HeardWords("Угу.", SURE), 0.55)
    assert not interrupts(HeardWords("Парашу.", UNSURE), 0.55)  # «Хорошо.» misheard
    assert not interrupts(None, 0.55)  # not recognised in time: the model's verdict stands
