"""Writes a call starts and does not wait for, but must finish before its record closes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("phone.media")


class BackgroundWrites:
    """Turn rows and the like, written while the call goes on; `done()` waits for them all."""

    def __init__(self, call_sid: Callable[[], str | None]) -> None:
        self._call_sid = call_sid
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    async def done(self) -> None:
        """Wait for every write. `asyncio.wait`, not `gather`: a cancel of the waiter
        (hang-up, barge-in) must never cancel a record's write."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "call %s: background write failed", self._call_sid(), exc_info=task.exception()
            )
