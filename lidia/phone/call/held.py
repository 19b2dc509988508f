"""A reply started before the caller's turn is surely over, held until it is.

While the caller pauses, the phone starts the reply (LLM and synthesis) speculatively; it
plays only once the pause is confirmed (`release` set). Meanwhile the events are read ahead,
so the orchestrator keeps generating instead of waiting on a full socket. A held reply that is
never released is dropped by its caller, which closes the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

_END = object()


async def held_until(
    events: AsyncIterator[dict[str, Any]], release: asyncio.Event | None
) -> AsyncIterator[dict[str, Any]]:
    """`events` unchanged, none of them before `release` is set (no `release`: no hold)."""
    if release is None or release.is_set():
        async for event in events:
            yield event
        return
    ahead: asyncio.Queue[Any] = asyncio.Queue()

    async def read_ahead() -> None:
        try:
            async for event in events:
                await ahead.put(event)
        except Exception as exc:  # handed over in order: the turn handles it as usual
            await ahead.put(exc)
        await ahead.put(_END)

    reader = asyncio.create_task(read_ahead())
    try:
        await release.wait()
        while (item := await ahead.get()) is not _END:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]  # stops the synthesis
