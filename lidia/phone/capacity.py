"""How many calls the phone service takes at once (`MAX_CONCURRENT_CALLS`), and the answer a
call beyond that gets: «все линии заняты» in Лидия's voice, a beep, then a message.

Why a message and not Twilio `<Enqueue>`/hold music: a queue needs someone to dequeue it
(TaskRouter or a `waitUrl` loop) and still leaves the caller waiting an unknown time,
while a message goes through the path every call already has (`<Record>` → message
extraction → the owner's notice), so the owner can call back. The caller hears the
prompt at once: it is synthesized at startup and served from the audio cache.

A call counts from `POST /twilio/voice` (admitted) until its media stream ends (it is then
in `PhoneContext.active_calls`; a stream refused at `start` is there too, marked
`over_capacity`, and does not count: it only records a message); an admitted call whose
stream never comes is dropped after `STREAM_CONNECT_S`, or at Twilio's final status
callback. In gather mode a call counts until that final status (at most `MAX_CALL_S`).

The gate is checked before anything touches the database: the busy answer goes out at once,
and the refused call's record is written after it (`records_pending`), so a slow or busy
database never delays «все линии заняты».
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping

from lidia.core.settings import Settings
from lidia.phone.pending_records import PendingRecords
from lidia.phone.twiml import busy_twiml

__all__ = ["STREAM_CONNECT_S", "CallCapacity", "busy_twiml"]  # busy_twiml: built in twiml.py

STREAM_CONNECT_S = 30.0  # Twilio opens the media stream within a second or two of the answer


class CallCapacity:
    """Admits calls up to `limit`; counts the ones turned away, by where."""

    def __init__(self, limit: int | None = None, *, hold_s: float = STREAM_CONNECT_S) -> None:
        self.limit = limit  # None: no limit (a context built without settings)
        self.hold_s = hold_s
        self._admitted: dict[str, float] = {}  # CallSid → when its webhook was answered
        self._lock = threading.Lock()
        self.refused: dict[str, int] = {"webhook": 0, "stream": 0}
        # A refused call is answered first and recorded after (its later webhooks wait here).
        self.records_pending = PendingRecords()

    @classmethod
    def from_settings(cls, settings: Settings) -> CallCapacity:
        hold_s = STREAM_CONNECT_S if settings.phone_mode == "stream" else settings.max_call_s
        return cls(settings.max_concurrent_calls, hold_s=hold_s)

    def admit(self, call_sid: str, active: Mapping[str, object]) -> bool:
        """`POST /twilio/voice`: True when the call may talk to Лидия (it is then counted)."""
        with self._lock:
            self._expire(time.monotonic())
            if call_sid in self._admitted or call_sid in active:
                return True  # Twilio retried the webhook: the same call, counted once
            if self._in_progress(active) >= self._limit():
                self.refused["webhook"] += 1
                return False
            self._admitted[call_sid] = time.monotonic()
            return True

    def admit_stream(self, call_sid: str, active: Mapping[str, object]) -> bool:
        """The media stream's `start`: an admitted call passes (and from now on counts as an
        active stream); one that was never admitted must find room like a new call."""
        with self._lock:
            if self._admitted.pop(call_sid, None) is not None:
                return True
            self._expire(time.monotonic())
            if call_sid in active or self._in_progress(active) < self._limit():
                return True
            self.refused["stream"] += 1
            return False

    def release(self, call_sid: str) -> None:
        """Twilio's final status: an admitted call that never streamed stops counting."""
        with self._lock:
            self._admitted.pop(call_sid, None)

    def in_progress(self, active: Mapping[str, object]) -> int:
        with self._lock:
            self._expire(time.monotonic())
            return self._in_progress(active)

    def snapshot(self, active: Mapping[str, object]) -> dict:
        """For `/health`: the limit, calls in progress, calls answered but not yet streaming."""
        with self._lock:
            self._expire(time.monotonic())
            return {
                "max_concurrent_calls": self.limit,
                "calls_in_progress": self._in_progress(active),
                "calls_connecting": len(self._admitted.keys() - set(active)),
                "leaving_busy_messages": len(active) - len(_talking(active)),
                "refused": dict(self.refused),
            }

    def _in_progress(self, active: Mapping[str, object]) -> int:
        return len(_talking(active) | self._admitted.keys())

    def _limit(self) -> float:
        return math.inf if self.limit is None else self.limit

    def _expire(self, now: float) -> None:
        stale = [sid for sid, at in self._admitted.items() if now - at > self.hold_s]
        for call_sid in stale:
            del self._admitted[call_sid]


def _talking(active: Mapping[str, object]) -> set[str]:
    """Streams that talk to Лидия: one refused at `start` only records a message."""
    return {sid for sid, call in active.items() if not getattr(call, "over_capacity", False)}
