"""Stop a request's work when its client goes away.

A client that gives up on a request (the phone service drops a speculative `/stt` when the
caller goes on speaking) would otherwise still hold a place in an engine's queue. Starlette
does not cancel a plain endpoint on disconnect; this races the work against the client's
`http.disconnect`, and cancelling the work also drops its job from an engine's queue if it
has not started (`EngineExecutor.run` awaits a wrapped future, which cancels it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before the work finished: nobody is left to answer."""


async def unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """`await work`, cancelled (raising `ClientGone`) if the client disconnects first."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watcher.cancel()
        with contextlib.suppress(BaseException):
            await watcher
    if not task.done():
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise ClientGone("the client disconnected")
    return task.result()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
