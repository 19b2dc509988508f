"""One deadline per turn for first audio, then a bounded gap between the turn's events.

The load test's failure: the turn timeout counted per event, so a transcript at 14 s reset
the clock and one caller sat 29.5 s in silence. Now, once the caller stops speaking,
something must be heard within `PHONE_FIRST_AUDIO_DEADLINE_S` (the reply, or a filler the
session sent meanwhile), and again within that long of whatever was sent running out (a
filler followed by a long wait is still silence); otherwise `TimeoutError` ends the turn
and the session plays the apology. Each event must also come within `PHONE_TURN_TIMEOUT_S`.

Waiting never cancels the orchestrator's event stream while it is on time: the pending
`anext()` is kept across wake-ups and cancelled only when the turn is given up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

_END = object()


async def _next_or_end(events: AsyncIterator[Any]) -> Any:
    try:
        return await anext(events)
    except StopAsyncIteration:  # a task may not raise it: it would read as a plain error
        return _END


class TurnEvents:
    """Async iterator over a turn's events that enforces the turn's first-audio deadline.

    `playing_until()` is when the audio sent to the caller so far ends playing (reply,
    filler, anything): polled, so the session's sending stays unaware of the deadline.
    """

    def __init__(
        self,
        events: AsyncIterator[dict[str, Any]],
        *,
        spoke_until: float,
        first_audio_s: float,
        gap_s: float,
        playing_until: Callable[[], float],
    ) -> None:
        self._events = events
        self._spoke_until = spoke_until
        self._first_audio_s = first_audio_s
        self._gap_s = gap_s
        self._playing_until = playing_until
        self._queued_before = playing_until()  # audio from before this turn (the greeting)
        self._heard_any = False
        self._last_event = spoke_until
        self._pending: asyncio.Future[Any] | None = None

    def __aiter__(self) -> TurnEvents:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while True:
            wait_s = self._wait_s(time.perf_counter())
            if wait_s <= 0:
                raise TimeoutError(self._overdue())
            if self._pending is None:
                self._pending = asyncio.ensure_future(_next_or_end(self._events))
            done, _ = await asyncio.wait({self._pending}, timeout=min(wait_s, 0.25))
            if done:
                pending, self._pending = self._pending, None
                event = pending.result()
                if event is _END:
                    raise StopAsyncIteration
                self._last_event = time.perf_counter()
                return event

    def _wait_s(self, now: float) -> float:
        """Seconds left before the turn is overdue: the caller's silence (since they spoke,
        or since the audio queued so far ends) stays under the deadline, and no gap between
        events exceeds `gap_s`. Short polls notice a filler sent meanwhile."""
        playing_until = self._playing_until()
        self._heard_any = self._heard_any or playing_until > self._queued_before
        silent_from = max(self._spoke_until, playing_until)
        silence_left = silent_from + self._first_audio_s - now
        return min(silence_left, self._last_event + self._gap_s - now)

    def _overdue(self) -> str:
        now = time.perf_counter()
        if self._last_event + self._gap_s <= now:
            return f"orchestrator silent for {self._gap_s:g} s (PHONE_TURN_TIMEOUT_S)"
        if not self._heard_any:
            return f"no audio {self._first_audio_s:g} s after the caller stopped speaking"
        return f"{self._first_audio_s:g} s of silence after the audio sent so far"

    async def aclose(self) -> None:
        """Stop waiting and close the orchestrator's stream (which stops its synthesis)."""
        if self._pending is not None:
            self._pending.cancel()
            await asyncio.wait({self._pending})
            self._pending = None
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()
