"""The owner's calendar over CalDAV (python-caldav): busy spans, and writing one booking.

One client covers Yandex, Mail.ru, Nextcloud, iCloud and self-hosted servers with a URL, a
login and an app password. Busy time comes from an expanded `REPORT` search over the exact
range asked (recurring events expanded), never the free/busy query (Google and iCloud lack
it). Blocking: callers run these methods in a worker thread.

Events marked free (`TRANSP:TRANSPARENT`) and cancelled ones do not block; an all-day event
blocks its whole day(s) in `TIMEZONE`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import caldav
from caldav.lib import error as caldav_error

from lidia.booking.slots import Busy

log = logging.getLogger("booking.calendar")


class CalendarError(Exception):
    """The calendar cannot be used: wrong password, unknown calendar, server down."""


@dataclass(frozen=True)
class CalendarAccess:
    url: str
    username: str | None
    password: str | None
    calendar: str | None  # display name; None: the account's first calendar
    busy_calendars: tuple[str, ...] = ()
    timeout_s: float = 10.0


@dataclass(frozen=True)
class NewEvent:
    uid: str
    start: dt.datetime
    end: dt.datetime
    summary: str
    description: str


class OwnerCalendar:
    """The booking calendar and the calendars whose events block time. Thread-safe (one lock:
    python-caldav's client is not meant to be shared between threads)."""

    def __init__(self, access: CalendarAccess, timezone: str) -> None:
        self.access = access
        self.zone = ZoneInfo(timezone)
        self._lock = threading.Lock()
        self._client: caldav.DAVClient | None = None
        self._booking: Any = None
        self._busy: list[Any] = []

    def connect(self) -> None:
        """Log in and find the calendars; `CalendarError` says what is wrong, plainly."""
        with self._lock:
            self._connect()

    def busy(self, start: dt.datetime, end: dt.datetime) -> list[Busy]:
        """Every blocking span that overlaps [start, end), from all busy calendars."""
        with self._lock:
            calendars = self._calendars()
            spans: list[Busy] = []
            for calendar in calendars:
                found = _guarded(lambda c=calendar: _search(c, start, end), "search")
                for item in found:  # an object holds every occurrence expanded in the range
                    for component in item.icalendar_instance.walk("VEVENT"):
                        spans.extend(self._blocking(component))
            return spans

    def write(self, event: NewEvent) -> str:
        """Create the event under our own UID. Already there (a retry after a 504, or a
        "precondition failed" for our own UID) is success. Returns the event's URL."""
        with self._lock:
            calendar = self._calendars()[0]
            try:
                saved = calendar.add_event(
                    dtstart=event.start,
                    dtend=event.end,
                    summary=event.summary,
                    description=event.description,
                    uid=event.uid,
                    no_overwrite=True,
                )
                return str(saved.url)
            except (caldav_error.ConsistencyError, caldav_error.PutError) as exc:
                existing = self._find(calendar, event.uid)
                if existing is None:
                    raise CalendarError(f"the calendar refused the booking: {exc}") from exc
                return str(existing.url)  # ours, written by an earlier try
            except caldav_error.AuthorizationError as exc:
                raise CalendarError("the calendar refused the login (password?)") from exc
            except caldav_error.DAVError as exc:
                raise CalendarError(f"calendar write failed: {exc}") from exc
            except OSError as exc:
                raise CalendarError(f"calendar unreachable: {exc}") from exc

    def exists(self, uid: str) -> bool | None:
        """Whether the event `uid` is in the booking calendar (None: cannot tell now)."""
        with self._lock:
            try:
                return self._find(self._calendars()[0], uid) is not None
            except (CalendarError, caldav_error.DAVError, OSError) as exc:
                log.warning("cannot look up booking %s: %s", uid, exc)
                return None

    def delete(self, uid: str) -> bool:
        """Remove our event `uid`; False when it is not there."""
        with self._lock:
            calendar = self._calendars()[0]
            existing = self._find(calendar, uid)
            if existing is None:
                return False
            _guarded(existing.delete, "delete")
            return True

    def _find(self, calendar: Any, uid: str) -> Any | None:
        try:
            return calendar.get_event_by_uid(uid)
        except caldav_error.NotFoundError:
            return None

    def _calendars(self) -> list[Any]:
        if self._booking is None:
            self._connect()
        return [self._booking, *self._busy]

    def _connect(self) -> None:
        access = self.access
        self._client = caldav.DAVClient(
            url=access.url,
            username=access.username,
            password=access.password,
            timeout=access.timeout_s,
        )
        principal = _guarded(self._client.principal, "login")
        calendars = _guarded(principal.calendars, "listing calendars")
        by_name = {str(c.get_display_name() or ""): c for c in calendars}
        if not calendars:
            raise CalendarError("the account has no calendars")
        wanted = access.calendar
        if wanted and wanted not in by_name:
            known = ", ".join(sorted(by_name)) or "none"
            raise CalendarError(f"no calendar named {wanted!r} (the account has: {known})")
        self._booking = by_name[wanted] if wanted else calendars[0]
        missing = [name for name in access.busy_calendars if name not in by_name]
        if missing:
            raise CalendarError(f"BOOKING_BUSY_CALENDARS names unknown calendars: {missing}")
        self._busy = [
            by_name[name]
            for name in dict.fromkeys(access.busy_calendars)
            if by_name[name] is not self._booking
        ]

    def _blocking(self, component: Any) -> list[Busy]:
        if str(component.get("status", "")).upper() == "CANCELLED":
            return []
        if str(component.get("transp", "")).upper() == "TRANSPARENT":
            return []
        start = component.get("dtstart")
        if start is None:
            return []
        start_value = start.dt
        end_prop = component.get("dtend")
        if end_prop is not None:
            end_value = end_prop.dt
        elif component.get("duration") is not None:
            end_value = start_value + component.get("duration").dt
        else:
            end_value = start_value + (
                dt.timedelta(days=1) if not isinstance(start_value, dt.datetime) else dt.timedelta()
            )
        uid = str(component.get("uid", "")) or None
        return [Busy(self._aware(start_value), self._aware(end_value), uid)]

    def _aware(self, value: dt.date | dt.datetime) -> dt.datetime:
        """An event time as an aware datetime: a date is local midnight (all-day events);
        a floating time is local time."""
        if not isinstance(value, dt.datetime):
            return dt.datetime.combine(value, dt.time(), tzinfo=self.zone)
        return value if value.tzinfo is not None else value.replace(tzinfo=self.zone)


def _search(calendar: Any, start: dt.datetime, end: dt.datetime) -> list[Any]:
    """Events overlapping [start, end), recurring ones expanded. The server's time-range
    filter is trusted (`post_filter=False`): python-caldav's client-side re-check parses every
    event again and doubled the search's time (bench_booking), and a stray event outside the
    range overlaps no slot of it anyway; occurrences stay together in their object."""
    return list(
        calendar.search(
            start=start, end=end, event=True, expand=True, post_filter=False, split_expanded=False
        )
    )


def _guarded(call: Any, what: str) -> Any:
    """Run one CalDAV request; failures become a `CalendarError` that says what failed."""
    try:
        return call()
    except caldav_error.AuthorizationError as exc:
        raise CalendarError(
            f"{what}: the calendar server refused the login (wrong username or app password)"
        ) from exc
    except caldav_error.DAVError as exc:
        raise CalendarError(f"{what}: {type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        raise CalendarError(f"{what}: calendar server unreachable: {exc}") from exc
