"""No dead air: a short filler («Секундочку…») when a reply's first audio is slow to come."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any


async def with_filler(
    events: AsyncIterator[dict[str, Any]], deadline: float, play: Callable[[], Awaitable[None]]
) -> AsyncIterator[dict[str, Any]]:
    """`events` unchanged; if no `audio` event has come by `deadline` (perf_counter), `play()`
    runs once first. The wait never cancels `anext(events)` (that would break the stream):
    the next event is awaited in a task, and the filler plays while it is pending.
    """
    waiting_for_audio = True
    pending: asyncio.Future[dict[str, Any]] | None = None
    try:
        while True:
            pending = asyncio.ensure_future(anext(events))
            if waiting_for_audio:
                remaining = deadline - time.perf_counter()
                done, _ = await asyncio.wait({pending}, timeout=max(remaining, 0.0))
                if not done:
                    waiting_for_audio = False
                    await play()
            try:
                event = await pending
            except StopAsyncIteration:
                return
            pending = None
            if event.get("type") == "audio":
                waiting_for_audio = False
            yield event
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]  # stops the synthesis
