"""The front desk: what the booking tools do. Finds free slots, books one slot atomically and
idempotently, cancels a caller's booking, and settles bookings a crash left pending.

Free time = `BOOKING_HOURS` − busy events of the busy calendars − Лидия's pending and
confirmed bookings (each widened by `BOOKING_BUFFER_MIN`), on the `BOOKING_SLOT_STEP_MIN`
grid, at least `BOOKING_MIN_NOTICE_MIN` ahead, within `BOOKING_HORIZON_DAYS`.

Booking: only a slot id that `find_free_slots` offered in this conversation (the model cannot
invent times); the calendar is checked again, then `BookingStore.reserve` (the database lock)
inserts a `pending` row, then the CalDAV write under our own UID (a retry after a 504 finds
its own event and succeeds), then `confirmed`. The UID is derived from the conversation, the
slot and the service, so the model calling the tool twice books once.

All calendar and database work runs in worker threads; the clock decides every date.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from lidia.booking.calendar import CalendarAccess, CalendarError, NewEvent, OwnerCalendar
from lidia.booking.catalog import BookableService, find_service, parse_services
from lidia.booking.days import resolve_day
from lidia.booking.slots import PARTS_OF_DAY, Busy, SlotRules, a_handful, free_starts
from lidia.booking.spoken import spoken_day, spoken_slot
from lidia.booking.store import (
    CANCELLED,
    CONFIRMED,
    FAILED,
    Booking,
    BookingStore,
    bookings_url,
)
from lidia.core.clock import Clock, local_now
from lidia.core.opening_hours import parse_hours
from lidia.core.settings import Settings

log = logging.getLogger("booking")

MAX_SLOTS = 6  # a handful: a caller can hold no more in mind
MAX_ALTERNATIVES = 3
WRITE_TRIES = 3  # Yandex throttles writes and sometimes answers 504
WRITE_RETRY_S = 0.5
# A pending row whose event is still absent this long after it was made: the write failed.
PENDING_GIVE_UP = dt.timedelta(minutes=10)
_MAX_SESSIONS = 2000  # conversations whose offered slots are remembered (oldest dropped)
_MAX_OFFERS = 60  # slots remembered per conversation
_MAX_TEXT = 300


@dataclass(frozen=True)
class Offer:
    slot_id: str
    start: dt.datetime  # local
    service: BookableService


@dataclass(frozen=True)
class DeskConfig:
    timezone: str
    services: tuple[BookableService, ...]
    rules: SlotRules
    horizon_days: int
    calendar_key: str  # the booking calendar, as the store's lock key

    @classmethod
    def from_settings(cls, settings: Settings) -> DeskConfig:
        return cls(
            timezone=settings.timezone,
            services=parse_services(settings.booking_services),
            rules=SlotRules(
                hours=parse_hours(settings.booking_hours),
                timezone=settings.timezone,
                step=dt.timedelta(minutes=settings.booking_slot_step_min),
                buffer=dt.timedelta(minutes=settings.booking_buffer_min),
                min_notice=dt.timedelta(minutes=settings.booking_min_notice_min),
            ),
            horizon_days=settings.booking_horizon_days,
            calendar_key=f"{settings.booking_caldav_url}|{settings.booking_calendar or ''}",
        )


def calendar_access(settings: Settings) -> CalendarAccess:
    password = settings.booking_caldav_password
    busy = tuple(n.strip() for n in settings.booking_busy_calendars.split(";") if n.strip())
    return CalendarAccess(
        url=str(settings.booking_caldav_url),
        username=settings.booking_caldav_username,
        password=password.get_secret_value() if password else None,
        calendar=settings.booking_calendar,
        busy_calendars=busy,
    )


class BookingDesk:
    def __init__(
        self, config: DeskConfig, calendar: OwnerCalendar, store: BookingStore, clock: Clock
    ) -> None:
        self.config = config
        self.calendar = calendar
        self.store = store
        self.clock = clock
        self.error: str | None = "not started"
        self._offers: OrderedDict[str, dict[str, Offer]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> BookingDesk | None:
        """The desk, or None while `BOOKING_CALDAV_URL` is unset (booking off). Bad hours or
        services raise `ValueError` (a configuration error, like any bad setting)."""
        if not settings.booking_caldav_url:
            return None
        try:
            config = DeskConfig.from_settings(settings)
        except ValueError as exc:
            raise ValueError(f"BOOKING_SERVICES: {exc}") from exc
        calendar = OwnerCalendar(calendar_access(settings), settings.timezone)
        url = bookings_url(settings.booking_database, settings.database_url, settings.calls_log_dir)
        return cls(config, calendar, BookingStore(url), clock)

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Create the table, log in to the calendar and settle pending bookings. A wrong
        password or unknown calendar leaves booking unavailable with the reason in `/health`
        and the log; it never stops the service."""
        try:
            await asyncio.to_thread(self.store.create)
            await asyncio.to_thread(self.calendar.connect)
        except CalendarError as exc:
            self.error = str(exc)
            log.error("booking unavailable: %s", exc)
            return
        except Exception as exc:  # the database: same rule, the service stays up
            self.error = f"bookings database: {type(exc).__name__}: {exc}"
            log.error("booking unavailable: %s", self.error)
            return
        self.error = None
        log.info("booking ready: calendar %s", self.calendar.access.calendar or "(first)")
        settled = await self.recover()
        if settled:
            log.info("booking: settled %d pending booking(s) left by a stop", settled)

    async def close(self) -> None:
        await asyncio.to_thread(self.store.close)

    @property
    def available(self) -> bool:
        return self.error is None

    def health(self) -> dict[str, Any]:
        if self.error is None:
            return {"status": "ok"}
        return {"status": "unavailable", "reason": self.error}

    async def recover(self) -> int:
        """Settle `pending` rows (a stop between the database and the calendar): the event
        there → confirmed; absent long enough → failed (the slot is free again)."""
        settled = 0
        now = self.clock.now()
        for booking in await asyncio.to_thread(self.store.pending):
            found = await asyncio.to_thread(self.calendar.exists, booking.uid)
            if found:
                await asyncio.to_thread(self.store.set_status, booking.uid, CONFIRMED, now)
                settled += 1
            elif found is False and await self._pending_long(booking, now):
                await asyncio.to_thread(self.store.set_status, booking.uid, FAILED, now)
                settled += 1
        return settled

    async def _pending_long(self, booking: Booking, now: dt.datetime) -> bool:
        made = await asyncio.to_thread(self.store.created_at, booking.uid)
        return made is None or now - made >= PENDING_GIVE_UP

    # --- the tools -----------------------------------------------------------------------

    def offered(self, session_id: str) -> list[Offer]:
        """The slots `find_free_slots` offered in this conversation (for the persona)."""
        return list(self._offers.get(session_id, {}).values())

    async def find_free_slots(
        self, session_id: str, service: str, day: str, part_of_day: str = "any"
    ) -> dict[str, Any]:
        chosen = find_service(self.config.services, service or "")
        if chosen is None:
            names = ", ".join(s.name for s in self.config.services)
            return {"day": day, "slots": [], "reason": f"нет такой услуги; есть: {names}"}
        part = part_of_day if part_of_day in PARTS_OF_DAY else "any"
        now = self.clock.now()
        today = local_now(self.clock, self.config.timezone).date()
        try:
            date = resolve_day(day or "today", today)
        except ValueError as exc:
            return {"day": day, "slots": [], "reason": str(exc)}
        head = {"day": date.isoformat(), "spoken_day": spoken_day(date), "service": chosen.name}
        if date < today:
            return {**head, "slots": [], "reason": "этот день уже прошёл"}
        if (date - today).days > self.config.horizon_days:
            limit = self.config.horizon_days
            return {**head, "slots": [], "reason": f"запись открыта только на {limit} дней вперёд"}
        starts, reason = await self._free(date, chosen, now, part)
        picked = a_handful(starts, MAX_SLOTS)
        offers = self._remember(session_id, [Offer(_slot_id(s, chosen), s, chosen) for s in picked])
        slots = [
            {"id": o.slot_id, "start": o.start.isoformat(), "spoken": spoken_slot(o.start)}
            for o in offers
        ]
        return {**head, "slots": slots, **({"reason": reason} if not slots else {})}

    async def book(
        self,
        session_id: str,
        slot_id: str,
        name: str,
        phone: str | None,
        comment: str | None,
        caller: str | None,
    ) -> dict[str, Any]:
        offer = self._offers.get(session_id, {}).get(str(slot_id or "").strip())
        if offer is None:
            return _refusal(
                "invalid",
                "такого окна нет: бронируй только id из ответа find_free_slots этого разговора",
            )
        if not (name or "").strip():
            return _refusal("invalid", "нужно имя клиента: спроси, как его зовут")
        now = self.clock.now()
        start, end = offer.start, offer.start + offer.service.duration
        rules = self.config.rules
        uid = _booking_uid(session_id, offer)
        earlier = await asyncio.to_thread(self.store.get, uid)
        if earlier is not None and earlier.status == CONFIRMED:
            return self._booked(earlier)  # the model asked twice: booked once
        if start < now + rules.min_notice:
            too_soon = "это время уже прошло или слишком близко"
            return await self._taken(session_id, offer, now, too_soon)
        busy = await self._calendar_busy(start - rules.buffer, end + rules.buffer)
        if busy is None:
            return _refusal("error", "календарь сейчас недоступен, предложи оставить сообщение")
        if any(b.start < end and start < b.end and b.uid != uid for b in busy):
            return await self._taken(session_id, offer, now, "это время уже занято")
        booking = Booking(
            uid=uid,
            calendar=self.config.calendar_key,
            start=start.astimezone(dt.UTC),
            end=end.astimezone(dt.UTC),
            service=offer.service.name,
            name=_clean(name),
            phone=_clean(phone) or _clean(caller),
            comment=_clean(comment),
            call_id=session_id,
        )
        reserved = await asyncio.to_thread(self.store.reserve, booking, rules.buffer, now)
        if reserved is None:
            return await self._taken(session_id, offer, now, "это время только что заняли")
        if reserved.status == CONFIRMED:  # the same booking, asked again
            return self._booked(reserved)
        try:
            url = await self._write(booking)
        except CalendarError as exc:
            log.error("booking %s not written: %s", booking.uid, exc)
            found = await asyncio.to_thread(self.calendar.exists, booking.uid)
            if found:
                url = None
            else:
                if found is False:
                    await asyncio.to_thread(self.store.set_status, booking.uid, FAILED, now)
                return _refusal("error", "не получилось записать в календарь, предложи сообщение")
        await asyncio.to_thread(self.store.set_status, booking.uid, CONFIRMED, now, url)
        return self._booked(booking)

    async def cancel(self, session_id: str, caller: str | None) -> dict[str, Any]:
        """Cancel the caller's next booking (by their number, or one made in this conversation)."""
        now = self.clock.now()
        mine = await asyncio.to_thread(
            self.store.upcoming, now, phone=_clean(caller), call_id=session_id, limit=1
        )
        if not mine:
            return {"status": "not_found", "message": "предстоящих записей на этот номер нет"}
        booking = mine[0]
        try:
            await asyncio.to_thread(self.calendar.delete, booking.uid)
        except CalendarError as exc:
            log.error("booking %s not removed from the calendar: %s", booking.uid, exc)
            return _refusal("error", "не получилось отменить в календаре, предложи сообщение")
        await asyncio.to_thread(self.store.set_status, booking.uid, CANCELLED, now)
        local = booking.start.astimezone(ZoneInfo(self.config.timezone))
        return {
            "status": "cancelled",
            "start": local.isoformat(),
            "spoken": spoken_slot(local),
            "service": booking.service,
            "name": booking.name,
        }

    # --- inside --------------------------------------------------------------------------

    async def _free(
        self, date: dt.date, service: BookableService, now: dt.datetime, part: str
    ) -> tuple[list[dt.datetime], str]:
        zone = ZoneInfo(self.config.timezone)
        day_start = dt.datetime.combine(date, dt.time(), tzinfo=zone)
        day_end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), tzinfo=zone)
        rules = self.config.rules
        if not any(weekday == date.weekday() for weekday, _, _ in rules.hours.spans):
            return [], "в этот день мы не работаем"
        margin = rules.buffer
        busy = await self._calendar_busy(day_start - margin, day_end + margin)
        if busy is None:
            return [], "календарь сейчас недоступен"
        ours = await asyncio.to_thread(
            self.store.active_between,
            self.config.calendar_key,
            day_start - margin,
            day_end + margin,
        )
        busy += [Busy(b.start, b.end) for b in ours]
        starts = free_starts(date, service.duration, busy, rules, now, part)
        if starts:
            return starts, ""
        unbooked = free_starts(date, service.duration, [], rules, now, part)
        return [], "всё время в этот день уже занято" if unbooked else "свободного времени нет"

    async def _calendar_busy(self, start: dt.datetime, end: dt.datetime) -> list[Busy] | None:
        try:
            return await asyncio.to_thread(self.calendar.busy, start, end)
        except CalendarError as exc:
            log.error("calendar busy time unavailable: %s", exc)
            return None

    async def _write(self, booking: Booking) -> str:
        local = self.config.timezone
        event = NewEvent(
            uid=booking.uid,
            start=booking.start.astimezone(ZoneInfo(local)),
            end=booking.end.astimezone(ZoneInfo(local)),
            summary=f"{booking.service}: {booking.name}",
            description="\n".join(
                line
                for line in (
                    f"Услуга: {booking.service}",
                    f"Клиент: {booking.name}",
                    f"Телефон: {booking.phone}" if booking.phone else "",
                    f"Комментарий: {booking.comment}" if booking.comment else "",
                    f"Звонок: {booking.call_id}" if booking.call_id else "",
                    "Записала Лидия",
                )
                if line
            ),
        )
        for attempt in range(1, WRITE_TRIES + 1):
            try:
                return await asyncio.to_thread(self.calendar.write, event)
            except CalendarError:
                if attempt == WRITE_TRIES:
                    raise
                await asyncio.sleep(WRITE_RETRY_S * attempt)
        raise AssertionError("unreachable")

    async def _taken(
        self, session_id: str, offer: Offer, now: dt.datetime, why: str
    ) -> dict[str, Any]:
        starts, _ = await self._free(offer.start.date(), offer.service, now, "any")
        offers = self._remember(
            session_id,
            [Offer(_slot_id(s, offer.service), s, offer.service) for s in starts],
        )
        nearest = sorted(offers, key=lambda o: abs((o.start - offer.start).total_seconds()))
        alternatives = [
            {"id": o.slot_id, "start": o.start.isoformat(), "spoken": spoken_slot(o.start)}
            for o in sorted(nearest[:MAX_ALTERNATIVES], key=lambda o: o.start)
        ]
        return {"status": "taken", "message": why, "alternatives": alternatives}

    def _booked(self, booking: Booking) -> dict[str, Any]:
        local = booking.start.astimezone(ZoneInfo(self.config.timezone))
        return {
            "status": "booked",
            "start": local.isoformat(),
            "spoken": spoken_slot(local),
            "service": booking.service,
            "name": booking.name,
            "phone": booking.phone,
            "booking_id": booking.uid,
        }

    def _remember(self, session_id: str, offers: list[Offer]) -> list[Offer]:
        """Keep what was offered: any of it may be booked later in the conversation."""
        known = self._offers.setdefault(session_id, {})
        self._offers.move_to_end(session_id)
        for offer in offers:
            known.pop(offer.slot_id, None)
            known[offer.slot_id] = offer
        while len(known) > _MAX_OFFERS:
            known.pop(next(iter(known)))
        while len(self._offers) > _MAX_SESSIONS:
            self._offers.popitem(last=False)
        return offers


def _slot_id(start: dt.datetime, service: BookableService) -> str:
    """Readable and stable: "2026-12-10T09:30/Консультация"."""
    return f"{start:%Y-%m-%dT%H:%M}/{service.name}"


def _booking_uid(session_id: str, offer: Offer) -> str:
    key = f"{session_id}|{offer.start.isoformat()}|{offer.service.name}"
    return "lidia-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _clean(value: Any) -> str | None:
    if not isinstance(value, str | int):
        return None
    text = re.sub(r"\s+", " ", str(value)).strip()
    return text[:_MAX_TEXT] or None


def _refusal(status: str, message: str) -> dict[str, Any]:
    return {"status": status, "message": message, "alternatives": []}
