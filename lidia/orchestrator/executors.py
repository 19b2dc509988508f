"""A bounded executor of its own for each blocking engine, with its queue depth visible.

asyncio's default pool (what `asyncio.to_thread` uses) is shared by everything: under 20
concurrent calls speech-to-text waited behind unrelated work and first audio behind every
caller's transcription. Each engine kind therefore gets its own few threads; work beyond
them waits in that engine's queue, which `/health` and `/metrics` show.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class EngineExecutor:
    """`workers` threads for one engine; `run()` awaits a blocking call on one of them."""

    def __init__(self, name: str, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"an executor needs at least one worker, got {workers}")
        self.name = name
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{name}-engine")
        self._lock = threading.Lock()
        self._pending = 0  # submitted, not yet ended
        self._running = 0

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(*args, **kwargs)` on this engine's threads, in the caller's context
        (context variables, like `route_fields`, reach the worker as with `to_thread`)."""
        context = contextvars.copy_context()
        call = functools.partial(context.run, self._counted, fn, *args, **kwargs)
        with self._lock:
            self._pending += 1
        try:
            future = self._pool.submit(call)
        except BaseException:
            self._finished(None)
            raise
        # Counted when the job itself ends (or is dropped), not when an awaiting turn gives up.
        future.add_done_callback(self._finished)
        return await asyncio.wrap_future(future)

    def _finished(self, _future: Future | None) -> None:
        with self._lock:
            self._pending -= 1

    def _counted(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        with self._lock:
            self._running += 1
        try:
            return fn(*args, **kwargs)
        finally:
            with self._lock:
                self._running -= 1

    @property
    def running(self) -> int:
        """Jobs a worker is executing right now."""
        return self._running

    @property
    def queued(self) -> int:
        """Jobs waiting for a free worker."""
        with self._lock:
            return max(0, self._pending - self._running)

    @property
    def depth(self) -> int:
        """Jobs waiting for or holding a worker (what `lidia_tts_queue_depth` counts too)."""
        with self._lock:
            return self._pending

    def snapshot(self) -> dict:
        return {"workers": self.workers, "running": self.running, "queued": self.queued}

    def shutdown(self) -> None:
        """Blocking until running jobs end; queued ones are dropped."""
        self._pool.shutdown(wait=True, cancel_futures=True)
