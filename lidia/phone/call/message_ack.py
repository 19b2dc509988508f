"""While a caller leaves a message, a short «Записала. Что-нибудь ещё?» after each part.

Without it a caller who stops talking into a message hears nothing at all and cannot
tell whether anyone is listening. A pause of `ACK_PAUSE_S` after the VAD's end of speech
counts as "finished" (shorter pauses are breaths between phrases); speech before it
cancels the acknowledgement. The caller hears it well within 3 s of stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("phone.media")

ACK_PAUSE_S = 1.0


class MessageAcknowledger:
    """Schedules `play()` after each finished part of a message; one pending at a time."""

    def __init__(self, play: Callable[[], Awaitable[None]], pause_s: float = ACK_PAUSE_S) -> None:
        self._play = play
        self._pause_s = pause_s
        self._pending: asyncio.Task[None] | None = None
        self.said = 0  # acknowledgements played, for the call's record and tests

    def on_vad(self, kind: str) -> None:
        """A VAD event while a message is being left: "speech_start" or "speech_end"."""
        self._cancel()
        if kind == "speech_end":
            self._pending = asyncio.create_task(self._after_pause())

    async def _after_pause(self) -> None:
        await asyncio.sleep(self._pause_s)
        try:
            await self._play()
            self.said += 1
        except Exception:  # an acknowledgement lost is no reason to drop the message
            log.exception("message acknowledgement not played")

    def _cancel(self) -> None:
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
        self._pending = None

    async def close(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
