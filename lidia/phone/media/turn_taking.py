"""When the caller's turn is over, and when speech over Лидия is a real interruption.

The VAD ends speech after a short pause (`END_OF_TURN_PAUSE_MS`); that is only a pause.
The Smart Turn model then judges the utterance so far (in a worker thread): P(complete) at or
above `END_OF_TURN_THRESHOLD` answers at once; below it Лидия waits for more speech, and
answers anyway once the silence reaches `END_OF_TURN_MAX_SILENCE_MS`. Speech that resumes
in the meantime continues the same utterance (one turn, answered once). All times are
stream time (8 kHz samples of the caller's audio), which Twilio sends at real time.

While Лидия speaks, caller speech voiced longer than `BARGE_IN_MIN_SPEECH_MS` stops her at
once (`clear`). A shorter fragment is recognised over the orchestrator's `/stt`: a
backchannel («угу», «да», «понятно») or noise is recorded as a call event and she goes on;
other words interrupt her and become the start of the caller's next turn.

The session owns the sockets and the turns; this module only decides, and calls back.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lidia.audio.codecs import wav_bytes
from lidia.audio.end_of_turn import EndOfTurnModel, shared_model
from lidia.audio.mulaw import MULAW_SAMPLE_RATE, mulaw_frames, mulaw_to_pcm
from lidia.audio.vad import StreamingVad, VadEvent
from lidia.core.settings import Settings
from lidia.phone.call_files import turn_file, write_mulaw_wav
from lidia.phone.call_store import TurnRecord
from lidia.phone.context import PhoneContext
from lidia.phone.media.filler import with_filler
from lidia.phone.media.playback import Playback
from lidia.phone.media.reply import StreamedReply

log = logging.getLogger("phone.turns")

# Short acknowledgements that do not take the turn (normalised: lower case, ё→е, no dashes).
BACKCHANNELS = frozenset(
    {"угу", "ага", "да", "так", "хорошо", "понятно", "ясно", "м", "мм", "ммм", "хм", "ну"}
    | {"ок", "окей", "ладно", "конечно", "верно", "точно", "угум"}
)
MAX_BACKCHANNEL_WORDS = 3
RECOGNITION_TIMEOUT_S = 10.0


def is_backchannel(text: str) -> bool:
    """True for «Угу.», «Да-да», «Хорошо, понятно»; also for nothing at all (noise)."""
    words = re.sub(r"[^\w\s]|_", " ", text.lower().replace("ё", "е")).split()
    return len(words) <= MAX_BACKCHANNEL_WORDS and all(w in BACKCHANNELS for w in words)


def phone_vad(settings: Settings) -> StreamingVad:
    """The call's VAD: it marks pauses; the turn ends when this module says so."""
    pause = settings.end_of_turn_pause_ms if settings.end_of_turn_model else None
    return StreamingVad(
        threshold=settings.vad_threshold,
        min_silence_ms=pause or settings.vad_min_silence_ms,
        min_speech_ms=settings.vad_min_speech_ms,
        speech_pad_ms=settings.vad_speech_pad_ms,
        pre_roll_ms=settings.vad_pre_roll_ms,
        max_speech_s=settings.max_utterance_s,
    )


def load_model(settings: Settings) -> EndOfTurnModel | None:
    """The shared end-of-turn model, or None (turns then end on silence alone)."""
    if not settings.end_of_turn_model:
        return None
    try:
        return shared_model()
    except Exception as exc:  # a missing wheel must not stop calls: fall back to silence
        log.warning("end-of-turn model unavailable (%s); turns end on silence", exc)
        return None


class CallSession(Protocol):
    """What this module needs from `MediaStreamSession`."""

    ctx: PhoneContext
    call_sid: str | None
    call_dir: Path | None
    inbound: bytearray
    message_start: int | None
    vad: StreamingVad
    playback: Playback | None
    turn_task: asyncio.Task[None] | None
    turns_started: int
    _carry_start: int | None

    def _lidia_talking(self) -> bool: ...
    async def barge_in(self) -> None: ...
    def _start_turn(self, work: Awaitable[None]) -> None: ...
    def _conversation_turn(
        self, utterance: bytes, vad_event: VadEvent, detected_at: float, utterance_start: int
    ) -> Awaitable[None]: ...
    def _next_turn_index(self) -> int: ...
    async def _send_frames(self, frames: list[bytes], playback: Playback) -> None: ...


@dataclass
class _Pause:
    """The caller stopped; the turn is not over until the model (or the silence) says so."""

    end: VadEvent
    answer_at: int | None = None  # stream position to answer at anyway (None: model thinking)


@dataclass
class _Overlap:
    """Caller speech while Лидия talks, not yet judged an interruption."""

    start: int  # with pre-roll: where its audio begins
    onset: int  # first voiced sample


class TurnTaking:
    """One call's turn-taking state. Every method runs on the event loop."""

    def __init__(self, session: CallSession) -> None:
        self.session = session
        self.settings = session.ctx.settings
        self.model = load_model(self.settings)
        self.utterance_start: int | None = None  # the caller's unanswered words begin here
        self._pause: _Pause | None = None
        self._overlap: _Overlap | None = None
        self._latest_start: int | None = None
        self._generation = 0  # bumped by every speech start: older judgements are stale
        self._tasks: set[asyncio.Task[Any]] = set()

    # --------------------------------------------------------------- VAD events

    async def on_vad(self, event: VadEvent) -> None:
        if event.kind == "speech_start":
            await self._speech_started(event)
        else:
            await self._speech_ended(event)

    async def on_audio(self) -> None:
        """After each media frame: interruptions that have lasted, pauses that have lasted."""
        session = self.session
        if self._overlap is not None:
            if not session._lidia_talking():
                self._overlap = None  # she finished first: this is just the caller's turn
            elif session.vad.voiced_run() >= self._samples(self.settings.barge_in_min_speech_ms):
                self._overlap = None
                await session.barge_in()
                self._take_carry()
        pause = self._pause
        if pause is not None and session.vad.position >= (pause.answer_at or 1 << 62):
            self._answer(pause)  # the silence has lasted: answer anyway

    async def _speech_started(self, event: VadEvent) -> None:
        session = self.session
        self._generation += 1
        self._pause = None  # the caller goes on: the same utterance continues
        self._latest_start = event.sample
        if self.utterance_start is None:
            self.utterance_start = event.sample
        if session.message_start is not None or not session._lidia_talking():
            return
        if self._answering_silently():
            # A turn started on a fragment the caller is continuing: drop it, keep the words.
            await session.barge_in()
            self._take_carry()
        else:
            self._overlap = _Overlap(event.sample, event.voiced_start)

    async def _speech_ended(self, event: VadEvent) -> None:
        if self.session.message_start is not None:
            self.utterance_start = None  # the message is recorded whole at the end
            return
        if self._overlap is not None:
            overlap, self._overlap = self._overlap, None
            self._spawn(self._judge_overlap(overlap, event, self._generation))
            return
        self._judge_pause(event)

    # --------------------------------------------------------------- end of turn

    def _judge_pause(self, end: VadEvent) -> None:
        pause = self._pause = _Pause(end)
        if self.model is None:
            pause.answer_at = end.voiced_end + self._samples(self.settings.vad_min_silence_ms)
            return
        self._spawn(self._ask_model(pause, self._generation))

    async def _ask_model(self, pause: _Pause, generation: int) -> None:
        start = self.utterance_start if self.utterance_start is not None else 0
        # Up to where the VAD decided: the model reads the silence after the last word too.
        complete = await self._complete(bytes(self.session.inbound[start : pause.end.decided]))
        if generation != self._generation or self._pause is not pause:
            return  # the caller went on meanwhile
        log.debug("call %s: P(turn complete)=%.2f", self.session.call_sid, complete)
        if complete >= self.settings.end_of_turn_threshold:
            self._answer(pause)
        else:
            wait = self.settings.end_of_turn_max_silence_ms
            pause.answer_at = pause.end.voiced_end + self._samples(wait)

    def _answer(self, pause: _Pause) -> None:
        session = self.session
        self._pause = None
        end = pause.end
        start = self.utterance_start if self.utterance_start is not None else end.voiced_end
        self.utterance_start = None
        decided = VadEvent(
            "speech_end", end.sample, voiced_end=end.voiced_end, decided=session.vad.position
        )
        utterance = bytes(session.inbound[start : end.sample])
        session._start_turn(
            session._conversation_turn(utterance, decided, time.perf_counter(), start)
        )

    # --------------------------------------------------------------- backchannels

    async def _judge_overlap(self, overlap: _Overlap, end: VadEvent, generation: int) -> None:
        """A short fragment over Лидия: a backchannel (she goes on) or words (she stops)?

        The end-of-turn model first (~10-80 ms): a fragment that sounds finished on its own
        («угу», «да», «понятно») may be a backchannel; one that does not is the start of an
        interruption. Then a quick recognition, bounded by `BACKCHANNEL_RECOGNITION_S`,
        catches short words that are not backchannels («Нет», «Стоп»); a late answer is
        not waited for (the model's verdict stands).
        """
        session = self.session
        fragment = bytes(session.inbound[overlap.start : end.sample])
        voiced = end.voiced_end - overlap.onset
        heard = bytes(session.inbound[overlap.start : end.decided])
        finished = await self._complete(heard) >= self.settings.end_of_turn_threshold
        text = await self._recognise(fragment) if finished else None
        if finished and (text is None or is_backchannel(text)):
            await self._record_backchannel(text, voiced)
            if self.utterance_start == overlap.start:
                newer = self._latest_start if self._latest_start != overlap.start else None
                self.utterance_start = newer if session.vad.in_speech else None
            return
        if session._lidia_talking() and not self._answering_silently():
            await session.barge_in()  # short, but words: «Нет», «Подождите»
            self._take_carry()
        if generation == self._generation:
            self._judge_pause(end)  # nothing said since: is this fragment a whole turn?

    async def _complete(self, mulaw: bytes) -> float:
        """P(complete) of this audio; 1.0 without a model (a short fragment: a backchannel)."""
        if self.model is None:
            return 1.0
        try:
            # The phone's own inference pool: never queued behind asyncio's default one.
            return await self.session.ctx.inference.run(
                self.model.probability, mulaw_to_pcm(mulaw), MULAW_SAMPLE_RATE
            )
        except Exception:
            log.exception("end-of-turn model failed")
            return 0.0

    async def _recognise(self, mulaw: bytes) -> str | None:
        """The fragment's words, or None when recognition is off, failed or was too slow."""
        limit = self.settings.backchannel_recognition_s
        if limit <= 0:
            return None
        wav = wav_bytes(mulaw_to_pcm(mulaw), MULAW_SAMPLE_RATE)
        try:
            return await asyncio.wait_for(self.session.ctx.orchestrator.transcribe(wav), limit)
        except Exception as exc:
            log.info("call %s: fragment not recognised in time (%r)", self.session.call_sid, exc)
            return None

    async def _record_backchannel(self, text: str | None, voiced: int) -> None:
        if self.session.call_sid:
            data = {"text": text, "voiced_ms": voiced * 1000 // MULAW_SAMPLE_RATE}
            await self.session.ctx.store.add_event(self.session.call_sid, "backchannel", data)

    # --------------------------------------------------------------- the record

    def turn_continued(self, playback: Playback) -> bool:
        """Whether a cancelled turn answered a fragment the caller went on with (drop it)."""
        return playback.turn_index is not None and playback.sent_ms == 0 and playback.continued

    def drop_turn(self, turn_index: int) -> None:
        """The dropped turn's number is reused: the record has no gap, no empty turn."""
        if turn_index == self.session.turns_started:
            self.session.turns_started -= 1

    async def transcript_of(self, turn: TurnRecord) -> None:
        """A turn cut off before its transcript came (the call ended): recognise its audio."""
        if turn.transcript or turn.error or not turn.caller_audio_path:
            return
        data = await asyncio.to_thread(Path(turn.caller_audio_path).read_bytes)
        try:
            coro = self.session.ctx.orchestrator.transcribe(data)
            turn.transcript = await asyncio.wait_for(coro, RECOGNITION_TIMEOUT_S)
        except Exception as exc:
            turn.error = f"not transcribed: {exc}"

    async def close(self) -> None:
        """The call is over: stop judging, and keep words the caller said but got no reply to."""
        for task in list(self._tasks):
            task.cancel()
        self._pause = self._overlap = None
        try:
            await self._record_unanswered()
        except Exception:  # the rest of the record must still be closed
            log.exception("call %s: unanswered words not recorded", self.session.call_sid)

    async def _record_unanswered(self) -> None:
        start, self.utterance_start = self.utterance_start, None
        session = self.session
        if start is None or session.message_start is not None or not session.call_sid:
            return
        if session.call_dir is None or len(session.inbound) - start < self._samples(200):
            return
        index = session._next_turn_index()
        path = session.call_dir / turn_file(index, "caller")
        turn = TurnRecord(
            turn_index=index,
            caller_audio_path=await write_mulaw_wav(path, bytes(session.inbound[start:])),
            latencies={"unanswered": True},
        )
        await self.transcript_of(turn)
        await session.ctx.store.add_turn(session.call_sid, turn)

    # --------------------------------------------------------------- fillers

    def with_filler(
        self, events: AsyncIterator[dict[str, Any]], reply: StreamedReply
    ) -> AsyncIterator[dict[str, Any]]:
        """The reply's events, with a filler played if its audio is slow to come."""
        waited = float(reply.latencies.get("vad_wait_s", 0.0))
        deadline = reply.detected_at + self.settings.filler_delay_s - waited

        async def play() -> None:
            prompt = self.session.ctx.prompts.next_filler()
            if prompt is None:
                return  # no filler in the cloned voice yet: silence beats a robot voice
            reply.latencies["filler_s"] = round(time.perf_counter() - reply.detected_at, 4)
            await self.session._send_frames(mulaw_frames(prompt.mulaw), reply.playback)
            if self.session.call_sid:
                data = {"text": prompt.text, "turn": reply.record.turn_index}
                await self.session.ctx.store.add_event(self.session.call_sid, "filler", data)

        return with_filler(events, deadline, play)

    # --------------------------------------------------------------- helpers

    def _answering_silently(self) -> bool:
        """A turn is running but has not said a word of its reply yet."""
        session = self.session
        busy = session.turn_task is not None and not session.turn_task.done()
        playback = session.playback
        fresh = playback is None or (playback.turn_index is not None and playback.sent_ms == 0)
        return busy and fresh

    def _take_carry(self) -> None:
        carry, self.session._carry_start = self.session._carry_start, None
        if carry is not None:
            current = self.utterance_start
            self.utterance_start = carry if current is None else min(carry, current)

    @staticmethod
    def _samples(ms: int) -> int:
        return ms * MULAW_SAMPLE_RATE // 1000

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
