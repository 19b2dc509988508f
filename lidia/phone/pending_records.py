"""Call records written after Twilio already has its answer (a call refused for capacity).

The busy answer must go out at once, so the refused call's record is written in the
background; the webhooks that come later for that call (its message, its final status)
first wait here until that write is done, so they always find the record.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class PendingRecords:
    """Background record writes, by CallSid, until each is done."""

    def __init__(self) -> None:
        self._writes: dict[str, asyncio.Task[Any]] = {}

    def start(self, call_sid: str, write: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `write` now in the background; `settled(call_sid)` waits for it."""
        task = asyncio.ensure_future(write)
        self._writes[call_sid] = task
        task.add_done_callback(lambda done: self._forget(call_sid, done))
        return task

    async def settled(self, call_sid: str) -> None:
        """Return once the call's pending write (if any) has finished, however it ended."""
        task = self._writes.get(call_sid)
        if task is not None:
            with contextlib.suppress(Exception):  # its failure is logged by the writer
                await asyncio.shield(task)

    def __len__(self) -> int:
        return len(self._writes)

    def _forget(self, call_sid: str, task: asyncio.Task[Any]) -> None:
        if self._writes.get(call_sid) is task:
            del self._writes[call_sid]
