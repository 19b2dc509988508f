"""What the orchestrator's booking tools did on a call, as the owner reads it.

The orchestrator streams `appointment_booked` / `appointment_cancelled` actions with each
turn; the phone service keeps them as call events (`transfer.CallActions.note`). The owner's
notice and the call's dashboard page read them from there: the phone service needs no access
to the orchestrator's bookings database for the call's own bookings. Only the dashboard's list
of all upcoming bookings reads that table (`UpcomingBookings`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from lidia.booking.spoken import spoken_slot
from lidia.booking.store import Booking, BookingStore, bookings_url
from lidia.core.settings import Settings
from lidia.secretary.actions import APPOINTMENT_BOOKED, APPOINTMENT_CANCELLED

log = logging.getLogger("phone.appointments")

_HEADINGS = {APPOINTMENT_BOOKED: "Запись", APPOINTMENT_CANCELLED: "Отмена записи"}


def appointment_line(kind: str, data: dict[str, Any]) -> str:
    """«Запись: Консультация, в четверг, 10 декабря, в 9:30 — Анна, +79161234567»."""
    what = ", ".join(str(data[k]) for k in ("service", "spoken") if data.get(k))
    who = ", ".join(str(data[k]) for k in ("name", "phone") if data.get(k))
    return f"{_HEADINGS[kind]}: {what or data.get('start', '?')}" + (f" — {who}" if who else "")


def appointment_lines(events: Iterable[Any]) -> list[str]:
    """The lines of a call's appointment events (objects with `kind` and `data`), in order."""
    return [
        appointment_line(event.kind, dict(event.data or {}))
        for event in events
        if event.kind in _HEADINGS
    ]


class UpcomingBookings:
    """The dashboard's list of upcoming bookings, read from the orchestrator's bookings
    table (`BOOKING_DATABASE`, else `DATABASE_URL`, else `calls_log/bookings.db`: both
    services resolve it from the same settings). Never raises: no table yet is no bookings."""

    def __init__(self, settings: Settings) -> None:
        url = bookings_url(settings.booking_database, settings.database_url, settings.calls_log_dir)
        self.store = BookingStore(url)
        self.zone = ZoneInfo(settings.timezone)

    @classmethod
    def from_settings(cls, settings: Settings) -> UpcomingBookings | None:
        return cls(settings) if settings.booking_caldav_url else None

    async def rows(self, now: dt.datetime, limit: int = 20) -> list[dict[str, str]]:
        try:
            found = await asyncio.to_thread(self.store.upcoming, now, limit=limit)
        except SQLAlchemyError as exc:
            log.warning("upcoming bookings unavailable: %s", exc)
            return []
        return [self._row(booking) for booking in found]

    async def close(self) -> None:
        await asyncio.to_thread(self.store.close)

    def _row(self, booking: Booking) -> dict[str, str]:
        local = booking.start.astimezone(self.zone)
        return {
            "when": spoken_slot(local).removeprefix("в ").removeprefix("во "),
            "service": booking.service,
            "name": booking.name,
            "phone": booking.phone or "",
            "call_id": booking.call_id or "",
        }
