"""How a call ended (`calls.outcome`), with the Russian an owner reads, in one place for the
dashboard and the owner's notices. Codes not listed are shown as they are."""

from __future__ import annotations

OUTCOMES = {
    "conversation": "разговор",
    "message": "оставил(а) сообщение",
    "no_speech": "молчание: звонящий ничего не сказал",
    "interrupted": "прерван: служба остановилась во время звонка",
    "transferred": "переведён на сотрудника",
    "transfer_unanswered": "перевод на сотрудника: никто не ответил",
}


def outcome_words(outcome: str) -> str:
    return OUTCOMES.get(outcome, outcome)
