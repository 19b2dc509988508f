"""What every call shares, typed: the phone service's one piece of state (`app.state.phone`).

`running_context(...)` builds it for the app's lifespan (call store, orchestrator client,
prompts, signature checker, retention) and closes what it opened when the app stops.
Routes reach it only through `lidia.phone.deps`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lidia.core.clock import SYSTEM_CLOCK, Clock
from lidia.core.settings import Settings
from lidia.phone import call_files
from lidia.phone.appointments import UpcomingBookings, appointment_lines
from lidia.phone.audio_cache import AudioCache
from lidia.phone.call.inference import PhoneInference
from lidia.phone.call_store import CallStore, SqlCallStore
from lidia.phone.call_store.journaled import JournaledCallStore
from lidia.phone.capacity import CallCapacity
from lidia.phone.carriers.asterisk.calls import AsteriskCalls
from lidia.phone.ids import is_call_sid
from lidia.phone.notify.channels import build_channels
from lidia.phone.notify.notice import CallNotice, notice_for_call
from lidia.phone.notify.outbox import Outbox
from lidia.phone.orchestrator_client import OrchestratorClient
from lidia.phone.prompts import PromptCache
from lidia.phone.retention import RetentionTask
from lidia.phone.twilio_security import TwilioSignatureChecker

log = logging.getLogger("phone")


class ActiveCall(Protocol):
    """A live media stream, as the rest of the service sees it."""

    finished: asyncio.Event  # set once the call's record is complete


@dataclass
class PhoneContext:
    """Settings, the call store, the orchestrator, the prompts, and the calls in progress."""

    settings: Settings
    store: CallStore
    orchestrator: OrchestratorClient
    prompts: PromptCache
    audio: AudioCache
    checker: TwilioSignatureChecker
    calls_dir: Path
    retention: RetentionTask | None = None
    outbox: Outbox | None = None  # the owner's notices; None while no channel is configured
    active_calls: dict[str, ActiveCall] = field(default_factory=dict)
    capacity: CallCapacity = field(default_factory=CallCapacity)  # MAX_CONCURRENT_CALLS
    background: set[asyncio.Task[Any]] = field(default_factory=set)  # awaited at shutdown
    # VAD and end-of-turn inference: its own bounded pool, shut down with the app.
    inference: PhoneInference = field(default_factory=PhoneInference)
    clock: Clock = SYSTEM_CLOCK  # calendar time: hours, backoff, retention, the dashboard
    bookings: UpcomingBookings | None = None  # the dashboard's upcoming appointments
    asterisk: AsteriskCalls = field(default_factory=AsteriskCalls)  # each call's next step

    def in_background(self, work: Awaitable[Any]) -> None:
        """Run `work` after the response (e.g. message extraction after a status callback)."""
        task = asyncio.ensure_future(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def wait_background(self) -> None:
        if self.background:
            await asyncio.gather(*self.background, return_exceptions=True)

    def call_dir(self, call_sid: str) -> Path:
        if not is_call_sid(call_sid):
            raise ValueError(f"not a call id: {call_sid!r}")
        path = self.calls_dir / call_sid
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # read-only or full disk: the call goes on, audio waits in memory
            log.error("call folder %s cannot be made: %s", path, exc)
        return path


@asynccontextmanager
async def running_context(
    settings: Settings,
    *,
    orchestrator_url: str | None = None,
    call_store: CallStore | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[PhoneContext]:
    """The context for one app lifetime. A `call_store` passed in is started, never closed."""
    with contextlib.suppress(OSError):  # a read-only calls disk must not stop the service
        settings.calls_log_dir.mkdir(parents=True, exist_ok=True)
    clock = clock or SYSTEM_CLOCK
    store = call_store or journaled_store(settings, clock)
    await store.start()
    call_files.unsaved.limit_bytes = settings.call_audio_memory_mb * 1024 * 1024
    flushing = asyncio.create_task(call_files.keep_flushing(settings.call_store_retry_s))
    orchestrator = orchestrator_client(settings, orchestrator_url)
    try:
        ctx = PhoneContext(
            settings,
            store,
            orchestrator,
            await ready_prompts(settings, orchestrator),
            AudioCache.from_settings(settings),  # shared by the replicas: a folder
            signature_checker(settings),
            settings.calls_log_dir,
            retention=start_retention(settings, store),
            outbox=start_outbox(settings, store),
            capacity=CallCapacity.from_settings(settings),
            inference=PhoneInference(settings.phone_inference_threads),
            clock=clock,
            bookings=UpcomingBookings.from_settings(settings),
        )
        try:
            yield ctx
        finally:
            if ctx.retention is not None:
                await ctx.retention.stop()
            await ctx.wait_background()
            if ctx.outbox is not None:
                await ctx.outbox.stop()
            await asyncio.to_thread(ctx.inference.shutdown)
            if ctx.bookings is not None:
                await ctx.bookings.close()
    finally:
        flushing.cancel()
        await asyncio.to_thread(call_files.unsaved.flush)
        await orchestrator.aclose()
        if call_store is None:
            await store.close()


def journaled_store(settings: Settings, clock: Clock = SYSTEM_CLOCK) -> JournaledCallStore:
    """The database (SQLite file by default) behind the local journal (`calls_log/journal.db`)."""
    with contextlib.suppress(OSError):
        settings.calls_log_dir.mkdir(parents=True, exist_ok=True)
    url = settings.database_url or f"sqlite:///{(settings.calls_log_dir / 'calls.db').resolve()}"
    journal = settings.call_journal_path or settings.calls_log_dir / "journal.db"
    return JournaledCallStore(
        SqlCallStore(url, clock=clock), journal, retry_s=settings.call_store_retry_s
    )


def orchestrator_client(settings: Settings, url: str | None) -> OrchestratorClient:
    api_key = settings.orchestrator_api_key
    return OrchestratorClient(
        url or settings.orchestrator_url,
        api_key=api_key.get_secret_value() if api_key else None,
        timeout_s=settings.phone_turn_timeout_s,
    )


def signature_checker(settings: Settings) -> TwilioSignatureChecker:
    checker = TwilioSignatureChecker.from_settings(settings)
    checker.log_configuration()
    return checker


async def ready_prompts(settings: Settings, orchestrator: OrchestratorClient) -> PromptCache:
    """Greeting and apology synthesized before the first call (espeak-ng if need be)."""
    prompts = PromptCache(
        orchestrator, language=settings.tts_language, espeak_voice=settings.espeak_voice
    )
    apology = await prompts.load_apology(settings.apology_text)
    greeting = await prompts.get(settings.greeting_text)
    for text in (settings.busy_text, settings.message_ack_text):  # ready before overload
        await prompts.get(text)
    await prompts.load_fillers(settings.filler_texts)  # «Секундочку…» while a reply is slow
    log.info("prompts ready (apology: %s, greeting: %s)", apology.source, greeting.source)
    return prompts


def start_retention(settings: Settings, store: CallStore) -> RetentionTask | None:
    """With `CALLS_RETENTION_DAYS` set: purge old calls now and every hour, in the background."""
    if settings.calls_retention_days is None:
        return None
    task = RetentionTask(store, settings.calls_log_dir, settings.calls_retention_days)
    task.start()
    return task


def start_outbox(settings: Settings, store: CallStore) -> Outbox | None:
    """The owner's notices: sent by a background worker, resumed from the store at start."""
    channels = build_channels(settings)
    if not channels:
        return None

    async def notice_for(call_sid: str) -> CallNotice | None:
        record = await store.get_call(call_sid)
        if record is None:
            return None
        booked = appointment_lines(await store.events(call_sid))
        return notice_for_call(record, settings.public_base_url, booked)

    outbox = Outbox(store, channels, notice_for)
    outbox.start()
    log.info("owner notices go to: %s", ", ".join(outbox.channel_names))
    return outbox
