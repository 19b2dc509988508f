"""Retention: calls older than `CALLS_RETENTION_DAYS` go, records and audio files together.

Never one without the other. For each old call its folder `calls_log/<CallSid>/` is first
*renamed* into `calls_log/.trash/` (atomic on one file system, and reversible); then the rows
of every call whose folder moved are deleted in one transaction; only then is the trash
emptied. A folder that cannot be moved keeps its rows (tried again next time); when the
row deletion fails the folders are moved back. A crash between the steps is repaired by the
next run (`recover_trash`): a trashed folder whose call still has rows is restored, one whose
rows are gone is deleted.

`RetentionTask` runs the purge at start-up and then periodically, in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from lidia.phone.call_store import CallStore
from lidia.phone.ids import CALL_SID_PATTERN

log = logging.getLogger("phone.retention")

TRASH_DIR_NAME = ".trash"
DEFAULT_INTERVAL_S = 3600.0


@dataclass
class PurgeResult:
    deleted: list[str] = field(default_factory=list)  # call sids: rows and files gone
    kept: list[str] = field(default_factory=list)  # old calls whose files could not move


def retention_cutoff(days: int, now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(days=days)


async def purge_old_calls(
    store: CallStore, calls_log_dir: Path, retention_days: int, *, now: dt.datetime | None = None
) -> PurgeResult:
    """Delete calls started before `now - retention_days`: files and rows together.
    `now` defaults to the store's clock, the one that stamped the calls' start times."""
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    await recover_trash(store, calls_log_dir)
    cutoff = retention_cutoff(retention_days, now or store.clock.now())
    old = await store.call_sids_started_before(cutoff)
    result = PurgeResult()
    trash = calls_log_dir / TRASH_DIR_NAME
    moved: dict[str, Path | None] = {}  # sid → its folder in the trash (None: it had none)
    for call_sid in old:
        try:
            moved_to = await asyncio.to_thread(_move_to_trash, calls_log_dir, trash, call_sid)
        except OSError as exc:
            log.error("call %s kept: its files could not be moved aside (%s)", call_sid, exc)
            result.kept.append(call_sid)
            continue
        moved[call_sid] = moved_to
    deletable = list(moved)
    try:
        await store.delete_calls(deletable)
    except Exception:
        log.exception("deleting %d old calls failed; restoring their files", len(deletable))
        await asyncio.to_thread(_restore, calls_log_dir, moved)
        raise
    await asyncio.to_thread(_empty_trash, trash)
    result.deleted = deletable
    if deletable or result.kept:
        log.info(
            "retention (%d days): %d calls deleted, %d kept",
            retention_days,
            len(deletable),
            len(result.kept),
        )
    return result


async def recover_trash(store: CallStore, calls_log_dir: Path) -> None:
    """Finish what a crash interrupted: restore folders of calls that still exist."""
    trash = calls_log_dir / TRASH_DIR_NAME
    entries = await asyncio.to_thread(lambda: list(trash.iterdir()) if trash.is_dir() else [])
    for entry in entries:
        call_sid = entry.name.split("-", 1)[0]
        original = calls_log_dir / call_sid
        if await store.get_call(call_sid) is not None and not original.exists():
            log.warning(
                "restoring the files of call %s (an earlier purge was interrupted)", call_sid
            )
            await asyncio.to_thread(entry.rename, original)
        else:
            await asyncio.to_thread(shutil.rmtree, entry, True)


def _move_to_trash(calls_log_dir: Path, trash: Path, call_sid: str) -> Path | None:
    """Rename the call's folder into the trash; None when it has no folder."""
    if not CALL_SID_PATTERN.match(call_sid):
        raise OSError(f"not a CallSid, refusing to touch files for {call_sid!r}")
    folder = calls_log_dir / call_sid
    if not folder.exists():
        return None
    trash.mkdir(exist_ok=True)
    target = trash / f"{call_sid}-{secrets.token_hex(4)}"
    folder.rename(target)
    return target


def _restore(calls_log_dir: Path, moved: dict[str, Path | None]) -> None:
    for call_sid, trashed in moved.items():
        if trashed is not None and trashed.exists():
            trashed.rename(calls_log_dir / call_sid)


def _empty_trash(trash: Path) -> None:
    if trash.is_dir():
        for entry in trash.iterdir():
            shutil.rmtree(entry, ignore_errors=True)


class RetentionTask:
    """Runs `purge_old_calls` now and every `interval_s` until `stop()`; errors are logged."""

    def __init__(
        self,
        store: CallStore,
        calls_log_dir: Path,
        retention_days: int,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        self.store = store
        self.calls_log_dir = calls_log_dir
        self.retention_days = retention_days
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self.runs = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> PurgeResult:
        result = await purge_old_calls(self.store, self.calls_log_dir, self.retention_days)
        self.runs += 1
        return result

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # the next round tries again; calls are never lost by this
                log.exception("retention purge failed")
            await asyncio.sleep(self.interval_s)
