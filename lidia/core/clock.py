"""The one clock that code deciding by calendar time reads.

Retention, notice backoff, transfer hours, the dashboard's "today" and appointment booking
all ask a `Clock` for the time instead of calling `datetime.now()` themselves. Services get
`SystemClock()`; tests pass a `FixedClock` at a date of their choosing and move it by hand,
so no test mixes a fixed date with the wall clock (such a test passes only the week it was
written).

Durations and timeouts (rate limits, caches, playback deadlines) keep `time.monotonic()`:
they measure elapsed time, not the date, and are unaffected by what day it is.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo


@runtime_checkable
class Clock(Protocol):
    """Tells the current moment as an aware UTC datetime."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock that stands still until moved: `advance()` or `set()`. Thread-safe."""

    def __init__(self, moment: dt.datetime) -> None:
        self._moment = _aware_utc(moment)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._moment

    def set(self, moment: dt.datetime) -> None:
        with self._lock:
            self._moment = _aware_utc(moment)

    def advance(self, delta: dt.timedelta | None = None, **units: float) -> dt.datetime:
        """Move forward by `delta` or by keyword units (`days=1`, `seconds=30`)."""
        step = delta if delta is not None else dt.timedelta(**units)
        with self._lock:
            self._moment += step
            return self._moment


def local_now(clock: Clock, timezone: str) -> dt.datetime:
    """The clock's moment in the IANA zone `timezone`."""
    return clock.now().astimezone(ZoneInfo(timezone))


def _aware_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("a clock needs an aware datetime (with a time zone)")
    return moment.astimezone(dt.UTC)


SYSTEM_CLOCK = SystemClock()
