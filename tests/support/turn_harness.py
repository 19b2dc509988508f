"""The turn-taking policy on its own: caller audio in, its decisions out (tests and the bench).

`PolicyCall` is the `CallSession` that `lidia.phone.call.turn_taking` declares it needs,
without the WebSocket: the real `TurnTaking`, the phone's real Silero VAD (`phone_vad`), the
real Smart Turn model, a real `PhoneContext` (its inference pool, call store and orchestrator
client; `/stt` for short fragments goes to whatever orchestrator the context points at).
What the policy does to the call (start a turn, `clear`) is recorded with the stream
position and the wall clock, so a test or the bench can say when and why.

`feed(..., realtime=False)` lets stream time stand still while the policy thinks (every
judgement finishes before the next frame): deterministic decisions for tests.
`realtime=True` paces frames at 20 ms as Twilio does: the bench's honest timing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lidia.audio.mulaw import MULAW_SAMPLE_RATE, mulaw_to_pcm
from lidia.audio.vad import StreamingVad, VadEvent
from lidia.core.settings import Settings
from lidia.phone.call.background import BackgroundWrites
from lidia.phone.call.playback import Playback
from lidia.phone.call.turn_taking import TurnTaking, phone_vad
from lidia.phone.call_store import SqlCallStore
from lidia.phone.context import PhoneContext, running_context

FRAME = 160  # 20 ms of 8 kHz μ-law
NO_ORCHESTRATOR = "http://127.0.0.1:9"  # nothing listens: connection refused at once


@dataclass
class Decision:
    """One thing the policy did: `kind` is "turn" (it answered) or "clear" (barge-in)."""

    kind: str
    position: int  # stream samples fed when it happened
    at: float  # perf_counter
    utterance: bytes = b""  # "turn": the caller audio it answers
    vad_wait_s: float = 0.0  # "turn": caller's last voiced sample → decision, stream time
    transcript: str | None = None  # "turn": the words recognised during the pause, if any


@dataclass
class PolicyCall:
    """One call's turn-taking, with Лидия's side reduced to a `talking` flag."""

    ctx: PhoneContext
    call_sid: str | None = None
    # What a started turn does: (caller audio, words recognised in the pause, its release).
    reply: Callable[[bytes, str | None, asyncio.Event | None], Awaitable[None]] | None = None
    call_dir: Path | None = None
    inbound: bytearray = field(default_factory=bytearray)
    message_start: int | None = None
    playback: Playback | None = None
    turn_task: asyncio.Task[None] | None = None
    turns_started: int = 0
    talking: bool = False  # Лидия's reply is playing
    decisions: list[Decision] = field(default_factory=list)
    background: BackgroundWrites = field(default_factory=lambda: BackgroundWrites(lambda: None))
    _carry_start: int | None = None

    def __post_init__(self) -> None:
        self.vad: StreamingVad = phone_vad(self.ctx.settings)
        self.turn_taking = TurnTaking(self)

    # ------------------------------------------------------------ the caller speaks

    async def feed(self, mulaw: bytes, *, realtime: bool = False) -> None:
        started = time.perf_counter()
        for index, offset in enumerate(range(0, len(mulaw), FRAME)):
            frame = mulaw[offset : offset + FRAME]
            self.inbound += frame
            for event in await self.ctx.inference.run(self.vad.feed, mulaw_to_pcm(frame)):
                await self.turn_taking.on_vad(event)
            await self.turn_taking.on_audio()
            if realtime:
                await asyncio.sleep(max(0.0, started + (index + 1) * 0.02 - time.perf_counter()))
            else:
                await self.settle()

    async def settle(self) -> None:
        """Let every pending judgement (model, `/stt`) finish before stream time moves on."""
        while pending := list(self.turn_taking._tasks):
            await asyncio.wait(pending)

    def kinds(self) -> list[str]:
        return [d.kind for d in self.decisions]

    def turns(self) -> list[Decision]:
        return [d for d in self.decisions if d.kind == "turn"]

    # ------------------------------------------------------------ CallSession

    def _lidia_talking(self) -> bool:
        busy = self.turn_task is not None and not self.turn_task.done()
        return busy or self.talking

    async def barge_in(self) -> None:
        self.decisions.append(Decision("clear", len(self.inbound), time.perf_counter()))
        self.talking = False
        if self.turn_task is not None and not self.turn_task.done():
            self.turn_task.cancel()

    def _start_turn(self, work: Awaitable[None]) -> None:
        self.turn_task = asyncio.ensure_future(work)

    async def _conversation_turn(
        self,
        utterance: bytes,
        vad_event: VadEvent,
        detected_at: float,
        utterance_start: int,
        transcript: Awaitable[str | None] | None = None,
        release: asyncio.Event | None = None,
    ) -> None:
        """A turn, as the session runs it: a speculative one (`release`) is prepared at once
        and counts as answered (a "turn" decision) only once released, when it is heard."""
        index = self._next_turn_index()
        work = asyncio.ensure_future(self._reply(utterance, transcript, release))
        try:
            if release is not None:
                await release.wait()
                detected_at = time.perf_counter()
            position = self.vad.position if release is not None else vad_event.decided
            wait = (position - vad_event.voiced_end) / MULAW_SAMPLE_RATE
            decision = Decision("turn", len(self.inbound), detected_at, utterance, vad_wait_s=wait)
            self.decisions.append(decision)
            decision.transcript = await work
        finally:
            if not work.done():
                work.cancel()
            if release is not None and not release.is_set():
                self.turn_taking.drop_turn(index)  # never heard: as the session drops it

    async def _reply(
        self,
        utterance: bytes,
        transcript: Awaitable[str | None] | None,
        release: asyncio.Event | None,
    ) -> str | None:
        words = await transcript if transcript is not None else None
        if self.reply is not None:
            await self.reply(utterance, words, release)
        return words

    def _next_turn_index(self) -> int:
        self.turns_started += 1
        return self.turns_started

    async def _send_frames(self, frames: list[bytes], playback: Playback) -> None:
        playback.sent_ms += 20 * len(frames)


@asynccontextmanager
async def policy_context(
    settings: Settings, orchestrator_url: str = NO_ORCHESTRATOR
) -> AsyncIterator[PhoneContext]:
    """A real phone context (SQLite store under `settings.calls_log_dir`) for `PolicyCall`s."""
    store = SqlCallStore(f"sqlite:///{settings.calls_log_dir / 'calls.db'}")
    settings.calls_log_dir.mkdir(parents=True, exist_ok=True)
    try:
        async with running_context(
            settings, orchestrator_url=orchestrator_url, call_store=store
        ) as ctx:
            yield ctx
    finally:
        await store.close()


async def recorded_call(ctx: PhoneContext, call_sid: str, **fields: Any) -> PolicyCall:
    """A `PolicyCall` whose call exists in the store (so backchannel events are kept)."""
    await ctx.store.create_call(call_sid, from_number="+79160000000", to_number="+74950000000")
    return PolicyCall(ctx, call_sid=call_sid, **fields)
