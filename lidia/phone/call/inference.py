"""The phone service's own small pool for call-side inference (Silero VAD, Smart Turn).

Every live call runs the VAD on each 20 ms frame and the end-of-turn model on each pause.
In asyncio's default pool (what `asyncio.to_thread` uses) that work queues behind file
writes, WAV encoding and whatever else the process does, and twenty calls starve each other
(design.md §2). One bounded executor per app, made in the context and shut down with it,
keeps the frames flowing; `PHONE_INFERENCE_THREADS` sizes it (the ONNX sessions use one
thread per run, so a worker is about one core).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class PhoneInference:
    """A bounded thread pool for blocking per-call inference. Create once per app."""

    def __init__(self, threads: int = 2) -> None:
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="phone-infer")

    async def run(self, func: Callable[..., T], *args: object) -> T:
        """`func(*args)` in the pool; the event loop stays free meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)

    def shutdown(self) -> None:
        """The app stops: queued work is dropped, running work is waited for."""
        self._pool.shutdown(wait=True, cancel_futures=True)
