"""The owner's notice about one call: the facts, as Russian text and as JSON.

Built from the call record once the call has ended (and its message has been extracted),
so every channel says the same thing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from zoneinfo import ZoneInfo

from lidia.phone.call_store import CallRecord
from lidia.phone.outcomes import outcome_words


@dataclass(frozen=True)
class CallNotice:
    """What the owner learns about a call. Times are aware datetimes (UTC in the store)."""

    call_sid: str
    from_number: str | None
    started_at: dt.datetime
    duration_s: float | None
    outcome: str | None
    caller_name: str | None = None
    callback_number: str | None = None
    reason: str | None = None
    summary: str | None = None
    dashboard_url: str | None = None
    appointments: tuple[str, ...] = ()  # what was booked or cancelled (appointments.py)

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["appointments"] = list(self.appointments)
        return data


def dashboard_link(public_base_url: str | None, call_sid: str) -> str | None:
    """The call's page on the dashboard, when the service knows its public address."""
    if not public_base_url:
        return None
    return f"{public_base_url.rstrip('/')}/admin/calls/{call_sid}"


def notice_text(notice: CallNotice, timezone: str) -> str:
    """Plain Russian text, a fact a line, for a chat message or an e-mail body."""
    local = notice.started_at.astimezone(ZoneInfo(timezone))
    lines = [
        f"Звонок от {notice.from_number or 'скрытого номера'}",
        f"Время: {local:%d.%m.%Y %H:%M} ({timezone})",
    ]
    if notice.duration_s is not None:
        lines.append(f"Длительность: {_duration(notice.duration_s)}")
    if notice.outcome:
        lines.append(f"Итог: {outcome_words(notice.outcome)}")
    lines.extend(_message_lines(notice))
    lines.extend(notice.appointments)
    if notice.dashboard_url:
        lines.append(f"Подробнее: {notice.dashboard_url}")
    return "\n".join(lines)


def notice_subject(notice: CallNotice) -> str:
    who = notice.caller_name or notice.from_number or "скрытый номер"
    return f"Лидия: звонок — {who}"


def _message_lines(notice: CallNotice) -> list[str]:
    fields = (
        ("Имя", notice.caller_name),
        ("Перезвонить", notice.callback_number),
        ("Причина", notice.reason),
        ("Кратко", notice.summary),
    )
    return [f"{label}: {value}" for label, value in fields if value]


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} мин {secs} с" if minutes else f"{secs} с"


def notice_for_call(
    record: CallRecord, public_base_url: str | None, appointments: Sequence[str] = ()
) -> CallNotice:
    """The notice of a finished call, from its record (message fields included) and the
    lines of what it booked or cancelled."""
    return CallNotice(
        call_sid=record.call_sid,
        from_number=record.from_number,
        started_at=record.started_at,
        duration_s=record.duration_s,
        outcome=record.outcome,
        caller_name=record.message_name,
        callback_number=record.message_phone,
        reason=record.message_reason,
        summary=record.message_summary,
        dashboard_url=dashboard_link(public_base_url, record.call_sid),
        appointments=tuple(appointments),
    )
