"""Reading a carrier's WebSocket with a time limit, without ever losing a message.

The conversation polls its line every 0.25 s (turn-taking goes on by the wall clock when the
carrier's frames stop). Cancelling a `receive()` that the time limit interrupted could drop
the frame it was reading, so the interrupted read stays pending and is the next one awaited.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import WebSocket


class WebSocketMessages:
    """The ASGI messages of one WebSocket, each read once, in order."""

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws
        self._pending: asyncio.Future[Any] | None = None

    async def next(self, deadline: float) -> dict[str, Any] | None:
        """The next message, or None when the monotonic `deadline` passes first."""
        self._pending = self._pending or asyncio.ensure_future(self._ws.receive())
        left = max(0.0, deadline - time.monotonic())
        if not (await asyncio.wait({self._pending}, timeout=left))[0]:
            return None
        message, self._pending = self._pending.result(), None
        return message

    def release(self) -> None:
        """Stop waiting: the conversation is over."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
