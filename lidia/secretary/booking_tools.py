"""The booking tools (issue 21): `find_free_slots`, `book_appointment`, `cancel_appointment`.

Unlike the phone tools, these run here, in the orchestrator: the desk (`lidia.booking`)
answers, the answer goes back to the model as the tool's result (JSON), and the model goes
on talking from it. A booking or cancellation also becomes an action streamed to the phone
service (`appointment_booked` / `appointment_cancelled`), so the owner's notice says it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from lidia.booking.desk import BookingDesk
from lidia.booking.spoken import spoken_slot
from lidia.llm.base import ToolCall, ToolSpec
from lidia.secretary.actions import APPOINTMENT_BOOKED, APPOINTMENT_CANCELLED
from lidia.secretary.channel import TurnChannel
from lidia.text.patterns import MONTHS_GEN

log = logging.getLogger(__name__)

_WEEKDAYS = ("понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье")

FIND_FREE_SLOTS = "find_free_slots"
BOOK_APPOINTMENT = "book_appointment"
CANCEL_APPOINTMENT = "cancel_appointment"
BOOKING_TOOL_NAMES = (FIND_FREE_SLOTS, BOOK_APPOINTMENT, CANCEL_APPOINTMENT)


def booking_tool_specs(services: list[str]) -> list[ToolSpec]:
    return [
        ToolSpec(
            FIND_FREE_SLOTS,
            "Найти свободное время для записи на услугу в указанный день. Называй клиенту "
            "только время из ответа этого инструмента.",
            {
                "type": "object",
                "properties": {
                    "service": {"type": "string", "enum": services, "description": "Услуга"},
                    "day": {
                        "type": "string",
                        "description": "День: today, tomorrow, название дня недели "
                        "(по-русски или по-английски) или дата YYYY-MM-DD",
                    },
                    "part_of_day": {
                        "type": "string",
                        "enum": ["morning", "afternoon", "evening", "any"],
                        "description": "Утро, день, вечер или любое время",
                    },
                },
                "required": ["service", "day"],
            },
        ),
        ToolSpec(
            BOOK_APPOINTMENT,
            "Записать клиента на окно, которое вернул find_free_slots (по его id), после того "
            "как клиент подтвердил дату и время.",
            {
                "type": "object",
                "properties": {
                    "slot_id": {"type": "string", "description": "id окна из find_free_slots"},
                    "name": {"type": "string", "description": "Имя клиента"},
                    "phone": {
                        "type": "string",
                        "description": "Телефон клиента цифрами (по умолчанию номер звонящего)",
                    },
                    "comment": {"type": "string", "description": "Комментарий к записи"},
                },
                "required": ["slot_id", "name"],
            },
        ),
        ToolSpec(
            CANCEL_APPOINTMENT,
            "Отменить предстоящую запись этого клиента (по номеру телефона, с которого он "
            "звонит). Вызывай, только когда клиент сам просит отменить запись.",
            {"type": "object", "properties": {}},
        ),
    ]


def booking_instructions(
    desk: BookingDesk, now: dt.datetime, timezone: str, session_id: str | None
) -> list[str]:
    """The persona's booking lines: today's date and time, and how to book."""
    local = now.astimezone(desk.calendar.zone)
    lines = [
        f"Сегодня {_WEEKDAYS[local.weekday()]}, {local.day} {MONTHS_GEN[local.month - 1]} "
        f"{local.year} года ({local:%Y-%m-%d}), сейчас {local:%H:%M} по времени {timezone}.",
        "Чтобы записать клиента, узнай услугу и удобный день, вызови find_free_slots и "
        "предложи клиенту только то время, которое он вернул: никогда не придумывай время.",
        "Перед записью назови клиенту услугу, день и время и спроси, верно ли, например: "
        "«Записываю вас на консультацию в четверг, 10 декабря, в 9:30, верно?». Только после "
        "его согласия и когда знаешь его имя вызови book_appointment с id этого окна.",
        "Если окно заняли, предложи другое время из ответа. Если клиент хочет отменить свою "
        "запись, вызови cancel_appointment.",
    ]
    offered = desk.offered(session_id) if session_id else []
    if offered:
        found = "; ".join(f"{o.slot_id} — {spoken_slot(o.start)}" for o in offered[-12:])
        lines.append(f"Окна, которые ты уже нашла в этом разговоре (id — время): {found}.")
    return lines


async def run_booking_tool(
    desk: BookingDesk, call: ToolCall, session_id: str, channel: TurnChannel
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The tool's result for the model, and the action it becomes (None: no action). Never
    raises: a failure is an `error` result the model can apologise from."""
    args = call.arguments
    try:
        if call.name == FIND_FREE_SLOTS:
            result = await desk.find_free_slots(
                session_id,
                str(args.get("service", "")),
                str(args.get("day", "")),
                str(args.get("part_of_day") or "any"),
            )
            return result, None
        if call.name == BOOK_APPOINTMENT:
            result = await desk.book(
                session_id,
                str(args.get("slot_id", "")),
                str(args.get("name", "")),
                _text(args.get("phone")),
                _text(args.get("comment")),
                channel.caller,
            )
            booked = result.get("status") == "booked"
            return result, _action(APPOINTMENT_BOOKED, result) if booked else None
        result = await desk.cancel(session_id, channel.caller)
        cancelled = result.get("status") == "cancelled"
        return result, _action(APPOINTMENT_CANCELLED, result) if cancelled else None
    except Exception as exc:  # the conversation goes on: the model hears what went wrong
        log.exception("booking tool %s failed", call.name)
        message = f"внутренняя ошибка: {type(exc).__name__}"
        return {"status": "error", "message": message, "alternatives": []}, None


def result_json(result: dict[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False)


def _action(name: str, result: dict[str, Any]) -> dict[str, Any]:
    keys = ("start", "spoken", "service", "name", "phone", "booking_id")
    return {"name": name, "arguments": {k: result[k] for k in keys if result.get(k)}}


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value).strip() else None
