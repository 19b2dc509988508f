"""What Лидия can do besides talk: the tools offered to the LLM, and the actions they become.

The channel decides the phone tools (`secretary.channel`): a phone turn names the actions its
call can carry out (the phone service decides `transfer_call` by its `TRANSFER_NUMBER` and
`TRANSFER_HOURS`), a text chat gets none. A call the model makes to one becomes an action
(`{"name", "arguments"}`) that the orchestrator streams to the phone service, which carries it
out (Twilio REST or TwiML). The booking tools (`secretary.booking_tools`) run here instead.
The persona gets one Russian line per offered tool saying when to use it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from lidia.llm.base import ToolCall, ToolSpec
from lidia.secretary.actions import (
    END_CALL,
    TAKE_MESSAGE,
    TRANSFER_CALL,
    TRANSFER_NOTICE,
)

log = logging.getLogger(__name__)

# Said when the model called a tool without saying anything itself.
GOODBYE = "Спасибо за звонок! До свидания."
MESSAGE_TAKEN = "Спасибо, я записала ваше сообщение и передам его. С вами обязательно свяжутся."
# What the model hears back from `take_message` (the result it continues from).
MESSAGE_SAVED_RESULT = {"status": "saved", "note": "Сообщение записано и будет передано."}

_NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}
_MESSAGE_FIELDS = ("name", "callback_number", "reason")
_MAX_FIELD_CHARS = 1000

TOOL_SPECS = {
    TRANSFER_CALL: ToolSpec(
        TRANSFER_CALL,
        "Перевести звонок на живого сотрудника компании. Вызывай, когда звонящий просит "
        "соединить его с человеком, менеджером или сотрудником.",
        _NO_PARAMETERS,
    ),
    END_CALL: ToolSpec(
        END_CALL,
        "Завершить звонок. Вызывай после того, как вы со звонящим попрощались.",
        _NO_PARAMETERS,
    ),
    TAKE_MESSAGE: ToolSpec(
        TAKE_MESSAGE,
        "Записать сообщение для сотрудников: имя звонящего, номер для обратного звонка и "
        "причину звонка. Вызывай, когда звонящий назвал всё это (или отказался назвать).",
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "Имя звонящего"},
                "callback_number": {
                    "type": "string",
                    "description": "Номер телефона для обратного звонка, цифрами",
                },
                "reason": {"type": "string", "description": "Зачем звонил, что передать"},
            },
            "required": ["reason"],
        },
    ),
}

_WHEN_TO_USE = {
    TRANSFER_CALL: "Если звонящий просит соединить его с сотрудником или человеком, коротко "
    "скажи, что соединяешь, и вызови инструмент transfer_call.",
    END_CALL: "Когда вы со звонящим попрощались, скажи короткое «До свидания» и вызови "
    "инструмент end_call.",
    TAKE_MESSAGE: "Когда ты узнала имя, номер для обратного звонка и причину звонка, вызови "
    "инструмент take_message с этими сведениями.",
}
_NO_TRANSFER = (
    "Соединить звонящего с сотрудником сейчас нельзя: если он об этом просит, предложи "
    "оставить сообщение."
)


PHONE_TOOL_ORDER = (TRANSFER_CALL, TAKE_MESSAGE, END_CALL)


def phone_tools(actions: Sequence[str]) -> list[ToolSpec]:
    """The phone tools for the actions a call can carry out, in a stable order."""
    return [TOOL_SPECS[name] for name in PHONE_TOOL_ORDER if name in actions]


def tool_instructions(
    tools: Sequence[ToolSpec], *, phone: bool = True, extra: Sequence[str] = ()
) -> str:
    """The persona's lines on when to use each offered tool (and, on the phone, that no
    transfer is possible when `transfer_call` is not offered); `extra`: more lines (booking)."""
    names = {tool.name for tool in tools}
    lines = [_WHEN_TO_USE[name] for name in PHONE_TOOL_ORDER if name in names]
    if phone and TRANSFER_CALL not in names:
        lines.insert(0, _NO_TRANSFER)
    lines.extend(extra)
    if names:
        lines.insert(0, "Что ты умеешь делать, кроме разговора:")
    return "\n".join(lines)


def action_for(call: ToolCall, offered: Sequence[ToolSpec]) -> dict[str, Any] | None:
    """The action a tool call asks for, with clean arguments; None for a tool not offered."""
    if call.name not in {tool.name for tool in offered} or call.name not in TOOL_SPECS:
        log.warning("the LLM called a tool it was not offered: %r", call.name[:64])
        return None
    arguments: dict[str, Any] = {}
    if call.name == TAKE_MESSAGE:
        for key in _MESSAGE_FIELDS:
            value = call.arguments.get(key)
            if isinstance(value, str | int) and str(value).strip():
                arguments[key] = str(value).strip()[:_MAX_FIELD_CHARS]
    return {"name": call.name, "arguments": arguments}


def spoken_for_silent(actions: Sequence[dict[str, Any]]) -> str:
    """What to say when the model acted without a word (the caller must never hear silence)."""
    names = {action["name"] for action in actions}
    if TRANSFER_CALL in names:
        return TRANSFER_NOTICE
    if END_CALL in names:
        return GOODBYE
    return MESSAGE_TAKEN
