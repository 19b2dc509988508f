"""Backoff for guessing: failed credentials counted per client address in a sliding window.

After `max_failures` wrong passwords or API keys from one address within `window_s`, that
address gets 429 with `Retry-After` (until its oldest failure leaves the window) before its
credentials are even looked at; other addresses are not affected. A success clears the
address's count.

Hand-written rather than a library: `slowapi`/`limits` count *requests* per route via a
decorator, while this counts *failures* decided deep inside two ASGI middlewares (the
orchestrator's key check, the dashboard's Basic auth), which a ~60-line sliding window does
with no new dependency. State is per process (one limiter per app), bounded to `max_clients`
addresses (least recently failed dropped first) so a spray from many addresses cannot grow it.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from starlette.types import Scope

from lidia.core.errors import error_body
from lidia.core.settings import Settings

RATE_LIMITED_CODE = "rate_limited"


class FailureLimiter:
    """Failures per client address in a sliding window of `window_s` seconds."""

    def __init__(
        self,
        max_failures: int,
        window_s: float,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window_s <= 0:
            raise ValueError("max_failures must be >= 1 and window_s > 0")
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_clients = max_clients
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> FailureLimiter:
        return cls(settings.auth_max_failures, settings.auth_failure_window_s)

    def retry_after(self, client: str) -> int | None:
        """Whole seconds this address must wait, or None when it may try now."""
        failures = self._recent(client)
        if failures is None or len(failures) < self.max_failures:
            return None
        wait = failures[0] + self.window_s - self._clock()
        return max(1, math.ceil(wait))

    def record_failure(self, client: str) -> None:
        failures = self._recent(client)
        if failures is None:
            failures = self._failures[client] = deque(maxlen=self.max_failures)
        failures.append(self._clock())
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)

    def record_success(self, client: str) -> None:
        self._failures.pop(client, None)

    def _recent(self, client: str) -> deque[float] | None:
        failures = self._failures.get(client)
        if failures is None:
            return None
        horizon = self._clock() - self.window_s
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return None
        return failures


def client_address(scope: Scope) -> str:
    """The peer's address (uvicorn's `--proxy-headers` puts the real one here behind a proxy)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def rate_limited_body(retry_after: int) -> dict:
    return error_body(
        f"too many failed attempts from this address; retry in {retry_after} s",
        error_type="rate_limit_error",
        code=RATE_LIMITED_CODE,
    )
