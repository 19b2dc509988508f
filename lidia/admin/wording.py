"""The dashboard's Russian: counts with the right plural form, and the names of the codes the
call store keeps (outcomes, Twilio statuses, event kinds) as an owner reads them.

Codes not listed here are shown as they are: a new outcome is still visible, just in English.
"""

from __future__ import annotations

from lidia.phone.outcomes import OUTCOMES
from lidia.text.normalizer import plural_category

STATUSES = {  # Twilio's CallStatus values
    "queued": "в очереди",
    "ringing": "звонит",
    "in-progress": "идёт разговор",
    "completed": "завершён",
    "busy": "занято",
    "failed": "не удался",
    "no-answer": "нет ответа",
    "canceled": "отменён",
}
EVENTS = {
    "stream_start": "начало разговора в реальном времени",
    "barge_in": "звонящий перебил Лидию",
    "message_offered": "Лидия предложила оставить сообщение",
    "message": "сообщение записано",
    "protocol_error": "ошибка связи с оператором",
    "error": "ошибка",
    "dtmf": "нажата клавиша",
    "prompt": "Лидия произнесла фразу",
    "interrupted": "звонок прерван: служба остановилась",
    "appointment_booked": "Лидия записала на приём",
    "appointment_cancelled": "Лидия отменила запись",
    "message_taken": "Лидия записала сообщение",
}
CHANNELS = {"telegram": "Telegram", "email": "e-mail", "webhook": "вебхук"}
DELIVERY_STATES = {"pending": "ждёт отправки", "sent": "доставлено", "failed": "не доставлено"}
MODES = {"stream": "в реальном времени", "gather": "по репликам (Twilio)"}
CARRIERS = {
    "twilio": "Twilio",
    "asterisk": "Asterisk (chan_websocket)",
    "audiosocket": "Asterisk (AudioSocket)",
}


def plural_ru(count: int, one: str, few: str, many: str) -> str:
    """The form of a noun counted by `count`: (1, 21) → one, (2, 22) → few, (5, 11, 25) → many."""
    return {"one": one, "few": few, "many": many}[plural_category(count)]


def count_ru(count: int, one: str, few: str, many: str) -> str:
    """ "1 звонок", "2 звонка", "5 звонков", "11 звонков", "21 звонок"."""
    return f"{count} {plural_ru(count, one, few, many)}"


def outcome_ru(outcome: str | None, status: str | None = None) -> str:
    """How a call ended, in Russian: its outcome, else its Twilio status."""
    if outcome and outcome in OUTCOMES:
        return OUTCOMES[outcome]
    code = outcome or status or ""
    return STATUSES.get(code, code or "—")


def event_ru(kind: str) -> str:
    return EVENTS.get(kind, kind)


def channel_ru(channel: str) -> str:
    return CHANNELS.get(channel, channel)


def delivery_state_ru(state: str) -> str:
    return DELIVERY_STATES.get(state, state)


def mode_ru(mode: str | None) -> str:
    return MODES.get(mode or "", mode or "—")


def carrier_ru(carrier: str | None) -> str:
    """What carried the call; a record from before carriers were kept is Twilio's."""
    return CARRIERS.get(carrier or "twilio", carrier or "—")
