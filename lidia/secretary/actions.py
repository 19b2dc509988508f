"""The actions Лидия can take on a call, as both services know them (no LLM imports here:
the phone service reads this module, and it never imports the engines).

An action is `{"name": <one of the names below>, "arguments": {...}}`: the orchestrator's
streamed turn sends one event per action, the phone service carries it out.
"""

from __future__ import annotations

import datetime as dt

from lidia.core.clock import SYSTEM_CLOCK
from lidia.core.opening_hours import parse_hours
from lidia.core.settings import Settings

TRANSFER_CALL = "transfer_call"
END_CALL = "end_call"
TAKE_MESSAGE = "take_message"

# Said before a transfer (by Лидия when the model said nothing, or played on DTMF 0).
TRANSFER_NOTICE = "Соединяю вас с сотрудником, оставайтесь, пожалуйста, на линии."


def transfer_available(settings: Settings, now: dt.datetime | None = None) -> bool:
    """Whether a call may be put through to a person now (number set, inside the hours)."""
    if not settings.transfer_number:
        return False
    if not settings.transfer_hours:
        return True
    moment = now or SYSTEM_CLOCK.now()
    return parse_hours(settings.transfer_hours).open_at(moment, settings.timezone)
