"""The durable outbox: every call's notice reaches every channel once, whatever fails.

When a call ends, one delivery row per configured channel is written to the call store
(`enqueue`, idempotent: a second status callback for the same call adds nothing). A worker
task sends due deliveries; a failure is retried with backoff (seconds at first, then
minutes), a permanent failure (wrong token, refused login) stops and shows on the dashboard.
Rows live in the database, so a restart resumes where the last process stopped.

Exactly once is not possible with Telegram or SMTP: a process killed after the channel took
the notice but before `mark_sent` sends it again on restart. The window is one request
long; the webhook's `X-Lidia-Delivery` header and the e-mail's Message-ID let receivers
drop such a repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence

from lidia.phone.call_store import CallStore
from lidia.phone.call_store import DeliveryRecord as Delivery
from lidia.phone.notify.channels import Channel, DeliveryError
from lidia.phone.notify.notice import CallNotice

log = logging.getLogger("phone.notify")

# Seconds before attempt 2, 3, ...; the last value repeats until `GIVE_UP_AFTER`.
BACKOFF_S = (2.0, 5.0, 15.0, 60.0, 300.0, 900.0)
GIVE_UP_AFTER = dt.timedelta(days=2)


def next_attempt_delay(attempts: int) -> float:
    """Delay after the `attempts`-th failed attempt (1-based)."""
    return BACKOFF_S[min(attempts, len(BACKOFF_S)) - 1]


class Outbox:
    """Sends due deliveries; `wake()` after enqueueing so a new call's notice goes at once."""

    def __init__(
        self,
        store: CallStore,
        channels: Sequence[Channel],
        notice_for: Callable[[str], Awaitable[CallNotice | None]],
        *,
        poll_s: float = 5.0,
    ) -> None:
        self._store = store
        self._channels = {channel.name: channel for channel in channels}
        self._notice_for = notice_for
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def channel_names(self) -> list[str]:
        return list(self._channels)

    async def call_ended(self, call_sid: str) -> None:
        """Queue the call's notice on every channel and send it soon."""
        if self._channels:
            await self._store.enqueue_deliveries(call_sid, self.channel_names)
            self.wake()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._channels and self._task is None:
            self._task = asyncio.create_task(self._run(), name="notify-outbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def send_due(self, now: dt.datetime | None = None) -> int:
        """One pass over the due deliveries; returns how many were attempted."""
        now = now or self._store.clock.now()
        due = await self._store.due_deliveries(now, limit=50)
        for delivery in due:
            await self._attempt(delivery, now)
        return len(due)

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before the pass: a wake() during it starts the next one
            try:
                await self.send_due()
            except Exception:  # the database may be down: try again on the next round
                log.exception("notification outbox pass failed")
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow the stop's cancel.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await self._wake.wait()

    async def _attempt(self, delivery: Delivery, now: dt.datetime) -> None:
        channel = self._channels.get(delivery.channel)
        notice = await self._notice_for(delivery.call_sid)
        attempts = delivery.attempts + 1
        if channel is None or notice is None:
            reason = "channel not configured" if channel is None else "call record missing"
            await self._finish(delivery, "failed", attempts, now, reason)
            return
        try:
            await channel.send(notice)
        except DeliveryError as exc:
            await self._failed(delivery, attempts, now, exc)
            return
        await self._finish(delivery, "sent", attempts, now, None, sent_at=now)
        log.info("call %s: notice sent by %s", delivery.call_sid, delivery.channel)

    async def _failed(
        self, delivery: Delivery, attempts: int, now: dt.datetime, exc: DeliveryError
    ) -> None:
        gave_up = exc.permanent or now - delivery.created_at > GIVE_UP_AFTER
        log.warning(
            "call %s: %s delivery attempt %d failed: %s",
            delivery.call_sid,
            delivery.channel,
            attempts,
            exc,
        )
        if gave_up:
            await self._finish(delivery, "failed", attempts, now, str(exc))
            return
        retry_at = now + dt.timedelta(seconds=next_attempt_delay(attempts))
        await self._store.mark_delivery(
            delivery.id,
            state="pending",
            attempts=attempts,
            next_attempt_at=retry_at,
            last_error=str(exc),
            sent_at=None,
        )

    async def _finish(
        self,
        delivery: Delivery,
        state: str,
        attempts: int,
        now: dt.datetime,
        error: str | None,
        *,
        sent_at: dt.datetime | None = None,
    ) -> None:
        await self._store.mark_delivery(
            delivery.id,
            state=state,
            attempts=attempts,
            next_attempt_at=now,
            last_error=error,
            sent_at=sent_at,
        )
