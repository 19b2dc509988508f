"""`JournaledCallStore`: the `CallStore` that loses nothing when the database is down.

Each write goes first to the local journal (`journal.py`), then to the real store
(`SqlCallStore`), in journal order; an entry leaves the journal once the database has it.
When the database is unreachable the write stays journaled and the call goes on; a background
replayer retries (every `CALL_STORE_RETRY_S`) and drains the journal in order once it is back.
Applying an entry twice changes nothing (`replay.py`), so a crash between the two commits
only means one harmless replay.

Reads go to the real store; while it is down, a live call's own record and turns come from
memory (`recent.py`), and any other read raises `CallStoreUnavailable` (the dashboard shows
a 503 page). `start()` never fails because the database is down: the migrations are retried
in the background, and the phone service answers Twilio meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from lidia.phone.call_store.faults import CallStoreUnavailable, is_outage, outage_reason
from lidia.phone.call_store.journal import Journal, JournalEntry
from lidia.phone.call_store.recent import RecentCalls
from lidia.phone.call_store.records import CallQuery, CallSummary, record_values
from lidia.phone.call_store.replay import STORE_METHODS, apply_entry
from lidia.phone.call_store.schema import (
    CALL_UPDATABLE,
    TURN_UPDATABLE,
    CallRecord,
    DeliveryRecord,
    EventRecord,
    TurnRecord,
)
from lidia.phone.call_store.store import SqlCallStore

log = logging.getLogger("phone.journal")
T = TypeVar("T")


class JournaledCallStore:
    """A `CallStore`: `inner` behind the journal file at `journal_path`."""

    def __init__(self, inner: SqlCallStore, journal_path: Path, *, retry_s: float = 2.0) -> None:
        self.inner = inner
        self.clock = inner.clock
        self.journal = Journal(journal_path, clock=inner.clock)
        self.retry_s = retry_s
        self.database_error: str | None = None  # why the database is unusable; None when fine
        self._recent = RecentCalls()
        self._migrated = False
        self._drain_lock = asyncio.Lock()
        self._awaited: set[str] = set()  # ids of entries whose writer waits for the result
        self._results: dict[str, Any] = {}  # their results, when another drain applied them
        self._wake = asyncio.Event()
        self._replayer: asyncio.Task[None] | None = None
        self._closing = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the journal, migrate the database if it answers, start the replayer."""
        for entry in await asyncio.to_thread(self.journal.open):
            self._recent.note(entry.op, entry.args)
        await self._try_migrate()
        if self._migrated and len(self.journal):
            await self.drain()
        self._replayer = asyncio.create_task(self._replay_forever())

    async def close(self) -> None:
        self._closing = True
        if self._replayer is not None:
            self._replayer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replayer
        with contextlib.suppress(Exception):
            await self.drain()  # a last try: what is left stays in the journal file
        await asyncio.to_thread(self.journal.close)
        await self.inner.close()

    def problems(self) -> dict[str, str]:
        """What /health reports: {"database": reason, "disk": reason}, each only when bad."""
        found: dict[str, str] = {}
        if self.database_error:
            found["database"] = f"{self.database_error}; {len(self.journal)} writes journaled"
        if self.journal.disk_error:
            found["disk"] = self.journal.disk_error
        return found

    async def _try_migrate(self) -> None:
        try:
            await self.inner.start()
        except Exception as exc:
            if not is_outage(exc):
                raise
            self._down(exc)
            return
        self._migrated = True

    async def _replay_forever(self) -> None:
        while not self._closing:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel that lands
            # as its timeout fires, and close() would then wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.retry_s):
                    await self._wake.wait()
            self._wake.clear()
            if self.journal.disk_error:
                await asyncio.to_thread(self.journal.save_unsaved)
            if not self._migrated:
                await self._try_migrate()
            if self._migrated and len(self.journal):
                try:
                    await self.drain()
                except Exception:  # the replayer must outlive any bad entry
                    log.exception("journal replay failed")

    # ------------------------------------------------------------------ applying the journal

    async def drain(self, until: JournalEntry | None = None) -> Any:
        """Apply pending entries in order; stop at the first outage. Returns `until`'s result
        (None when it stays journaled). An entry the database refuses for its content (not an
        outage) is dropped with a log line, or raised when it is `until`."""
        async with self._drain_lock:
            if not self._migrated:
                return None
            for entry in self.journal.pending():
                try:
                    result = await self._apply(entry)
                except Exception as exc:
                    if is_outage(exc):
                        self._down(exc)
                        return None
                    await asyncio.to_thread(self.journal.done, entry)
                    if entry is until:
                        raise
                    log.error("journal entry %s %s refused: %r", entry.op, entry.id, exc)
                    continue
                await asyncio.to_thread(self.journal.done, entry)
                if entry is until:
                    self._up()
                    return result
                if entry.id in self._awaited:  # its writer waits behind this drain
                    self._results[entry.id] = result
            self._up()
            return None

    async def _apply(self, entry: JournalEntry) -> Any:
        if entry.op in STORE_METHODS:
            return await getattr(self.inner, entry.op)(**entry.args)
        return await asyncio.to_thread(apply_entry, self.inner, entry.op, entry.args)

    def _down(self, exc: BaseException) -> None:
        reason = outage_reason(exc)
        if reason != self.database_error:
            log.error("call database unavailable (%s): writes are journaled", reason)
        self.database_error = reason

    def _up(self) -> None:
        if self.database_error:
            log.info("call database is back; the journal is drained")
        self.database_error = None

    async def _write(self, op: str, args: dict[str, Any]) -> Any:
        self._recent.note(op, args)
        entry = await asyncio.to_thread(self.journal.append, op, args)
        if self.database_error is not None:
            self._wake.set()  # the replayer owns the retries while the database is down
            return None
        # Another drain (the replayer, a concurrent write) may apply this entry first: its
        # result is kept for us, so None always means "still journaled" (`claim_stream`).
        self._awaited.add(entry.id)
        try:
            result = await self.drain(until=entry)
            return self._results.pop(entry.id, result)
        finally:
            self._awaited.discard(entry.id)
            self._results.pop(entry.id, None)

    async def _read(self, read: Callable[[], Awaitable[T]], fallback: T | None = None) -> T:
        try:
            return await read()
        except Exception as exc:
            if not is_outage(exc):
                raise
            self._down(exc)
            if fallback is not None:
                return fallback
            raise CallStoreUnavailable(self.database_error or "call database unavailable") from exc

    # ------------------------------------------------------------------ writes

    async def create_call(
        self,
        call_sid: str,
        *,
        from_number: str | None,
        to_number: str | None,
        mode: str | None = None,
        status: str = "in-progress",
        carrier: str | None = None,
    ) -> bool:
        known = self._recent.call(call_sid) is not None
        args = dict(
            call_sid=call_sid,
            from_number=from_number,
            to_number=to_number,
            mode=mode,
            status=status,
            started_at=self.clock.now(),
            carrier=carrier,
        )
        created = await self._write("create_call", args)
        return (not known) if created is None else bool(created)

    async def update_call(self, call_sid: str, **fields: Any) -> None:
        _refuse_unknown("call", fields, CALL_UPDATABLE)
        await self._write("update_call", {"call_sid": call_sid, "fields": fields})

    async def finish_call(
        self,
        call_sid: str,
        *,
        status: str,
        outcome: str | None = None,
        duration_s: float | None = None,
    ) -> None:
        args = dict(
            call_sid=call_sid,
            status=status,
            outcome=outcome,
            duration_s=duration_s,
            ended_at=self.clock.now(),
        )
        await self._write("finish_call", args)

    async def add_turn(self, call_sid: str, turn: TurnRecord) -> None:
        values = record_values(turn)
        values["created_at"] = turn.created_at or self.clock.now()
        await self._write("add_turn", {"call_sid": call_sid, "turn": values})

    async def update_turn(self, call_sid: str, turn_index: int, **fields: Any) -> None:
        _refuse_unknown("turn", fields, TURN_UPDATABLE)
        args = {"call_sid": call_sid, "turn_index": turn_index, "fields": fields}
        await self._write("update_turn", args)

    async def add_dtmf(self, call_sid: str, digit: str) -> None:
        await self._write(
            "add_dtmf", {"call_sid": call_sid, "digit": digit, "at": self.clock.now()}
        )

    async def add_error(self, call_sid: str, message: str) -> None:
        await self._write(
            "add_error", {"call_sid": call_sid, "message": message, "at": self.clock.now()}
        )

    async def add_event(self, call_sid: str, kind: str, data: dict[str, Any]) -> None:
        args = {"call_sid": call_sid, "kind": kind, "data": data, "at": self.clock.now()}
        await self._write("add_event", args)

    async def claim_stream(self, call_sid: str, *, at: dt.datetime) -> bool | None:
        """The database's atomic claim (`SqlCallStore.claim_stream`), after every earlier
        journaled write (the call's own record first). None: the database is down, the claim
        stays journaled and is made when it returns; the caller decides alone meanwhile."""
        return await self._write("claim_stream", {"call_sid": call_sid, "at": at})

    async def enqueue_deliveries(self, call_sid: str, channels: Sequence[str]) -> None:
        await self._write("enqueue_deliveries", {"call_sid": call_sid, "channels": list(channels)})

    async def mark_delivery(self, delivery_id: int, **fields: Any) -> None:
        """`SqlCallStore.mark_delivery` itself (`STORE_METHODS`), journaled: its arguments are
        checked against the store's signature now, and the replay awaits the store's method."""
        args = _store_arguments(self.inner.mark_delivery, delivery_id, **fields)
        await self._write("mark_delivery", args)

    async def delete_calls(self, call_sids: list[str]) -> int:
        # Retention, not a call event: nothing is lost by trying again next hour.
        return await self._read(lambda: self.inner.delete_calls(call_sids))

    # ------------------------------------------------------------------ reads

    async def get_call(self, call_sid: str) -> CallRecord | None:
        record = await self._read(
            lambda: self.inner.get_call(call_sid), self._recent.call(call_sid)
        )
        if record is not None and not self.database_error and not self._pending_for(call_sid):
            self._recent.remember(record)
        recent = self._recent.call(call_sid) if self._pending_for(call_sid) else None
        return recent if recent is not None else record

    async def turns(self, call_sid: str) -> list[TurnRecord]:
        turns = await self._read(lambda: self.inner.turns(call_sid), self._recent.turns(call_sid))
        if self._pending_for(call_sid):
            return self._recent.turns(call_sid) or turns
        return turns

    def _pending_for(self, call_sid: str) -> bool:
        """Journaled writes of this call not yet in the database (memory is then fresher)."""
        return any(e.args.get("call_sid") == call_sid for e in self.journal.pending())

    async def events(self, call_sid: str) -> list[EventRecord]:
        return await self._read(lambda: self.inner.events(call_sid))

    async def recent_calls(self, limit: int = 50) -> list[CallRecord]:
        return await self._read(lambda: self.inner.recent_calls(limit))

    async def search_calls(
        self, query: CallQuery, *, offset: int = 0, limit: int = 50
    ) -> tuple[list[CallSummary], int]:
        return await self._read(lambda: self.inner.search_calls(query, offset=offset, limit=limit))

    async def call_sids_started_before(self, cutoff: dt.datetime) -> list[str]:
        return await self._read(lambda: self.inner.call_sids_started_before(cutoff))

    async def due_deliveries(self, now: dt.datetime, limit: int = 50) -> list[DeliveryRecord]:
        return await self._read(lambda: self.inner.due_deliveries(now, limit))

    async def deliveries(self, call_sid: str) -> list[DeliveryRecord]:
        return await self._read(lambda: self.inner.deliveries(call_sid))


def _store_arguments(method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """A call of the inner store's `method` as the keywords its journal entry replays with; a
    wrong call raises `TypeError` here rather than being refused at replay."""
    return dict(inspect.signature(method).bind(*args, **kwargs).arguments)


def _refuse_unknown(kind: str, fields: dict[str, Any], updatable: frozenset[str]) -> None:
    unknown = set(fields) - updatable
    if unknown:
        raise ValueError(f"cannot update {kind} fields {sorted(unknown)}")
