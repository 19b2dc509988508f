"""When the caller's turn is over, and when speech over Лидия is a real interruption.

The VAD ends speech after a short pause (`END_OF_TURN_PAUSE_MS`); that is only a pause.
The Smart Turn model then judges the utterance so far (in a worker thread). P(complete) at
or above `END_OF_TURN_THRESHOLD`: the orchestrator's `/stt` recognises it speculatively, the
reply is prepared at once from those words (LLM and synthesis, held), and it is heard
once the silence reaches `END_OF_TURN_CONFIRM_MS` (a breath mid-sentence is 0.4-0.8 s; the
reply takes longer than that to prepare on a CPU, so the wait costs nothing). Below it she
waits for more speech and answers anyway once the silence reaches
`END_OF_TURN_MAX_SILENCE_MS`. She never answers while the VAD hears something like speech.
Speech that resumes in the meantime continues the same utterance (one turn, answered once):
the speculative words and the held reply are dropped without trace (the orchestrator forgets
the reply's `turn_id`). All times are stream time (8 kHz samples of the caller's audio),
which Twilio sends at real time.

While Лидия speaks, caller speech voiced longer than `BARGE_IN_MIN_SPEECH_MS` stops her at
once (`clear`); fragments a short gap apart count together («Нет, | стоп, …»). After
`BARGE_IN_QUICK_MS` its first words are recognised fast (`/stt` with `fragment`): a sure
«Нет», «Подождите», «Извините» stops her before that. A fragment that ends sooner is judged on
its own: a backchannel («угу», «да», «понятно») or a sound is recorded as a call event and she
goes on; sure words interrupt her and become the start of the caller's next turn.

The session owns the sockets and the turns; this module only decides, and calls back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from lidia.audio.codecs import wav_bytes
from lidia.audio.end_of_turn import EndOfTurnModel, shared_model
from lidia.audio.mulaw import MULAW_SAMPLE_RATE, mulaw_frames, mulaw_to_pcm
from lidia.audio.vad import StreamingVad, VadEvent
from lidia.core.settings import Settings
from lidia.phone.call.background import BackgroundWrites
from lidia.phone.call.caller_words import HeardWords, interrupts, says_stop
from lidia.phone.call.filler import with_filler
from lidia.phone.call.hearing import holds_speech, speech_span, widened
from lidia.phone.call.playback import Playback
from lidia.phone.call.reply import StreamedReply
from lidia.phone.call_files import turn_file, write_mulaw_wav
from lidia.phone.call_store import TurnRecord
from lidia.phone.context import PhoneContext
from lidia.phone.orchestrator_client import OrchestratorError

log = logging.getLogger("phone.turns")
T = TypeVar("T")

RECOGNITION_TIMEOUT_S = 10.0
OVERLAP_GAP_MS = 400  # fragments over Лидия this close together are one utterance
HEARING_HOLD_MS = 600  # a voiced window holds an answer back at most this long (steady noise)
RETRY_REACH_MS = 500  # no words over speech: recognised again this much wider at each edge


def phone_vad(settings: Settings) -> StreamingVad:
    """The call's VAD: it marks pauses; the turn ends when this module says so."""
    pause = settings.end_of_turn_pause_ms if settings.end_of_turn_model else None
    return StreamingVad(
        threshold=settings.vad_threshold,
        keep_threshold=settings.vad_keep_threshold,
        energy_start_db=settings.vad_energy_start_db,
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
    background: BackgroundWrites
    _carry_start: int | None

    def _lidia_talking(self) -> bool: ...
    async def barge_in(self) -> None: ...
    def _start_turn(self, work: Awaitable[None]) -> None: ...
    def _conversation_turn(
        self,
        utterance: bytes,
        vad_event: VadEvent,
        detected_at: float,
        utterance_start: int,
        transcript: Awaitable[str | None] | None = None,
        release: asyncio.Event | None = None,
    ) -> Awaitable[None]: ...
    def _next_turn_index(self) -> int: ...
    async def _send_frames(self, frames: list[bytes], playback: Playback) -> None: ...


@dataclass
class _Pause:
    """The caller stopped; the turn is not over until the model (or the silence) says so."""

    end: VadEvent
    answer_at: int | None = None  # stream position to answer at (None: model thinking)
    transcript: asyncio.Task[str | None] | None = None  # speculative words of the utterance
    release: asyncio.Event | None = None  # a speculative reply is prepared, heard once set
    span: tuple[int, int] | None = None  # the caller audio the speculative words are of


@dataclass
class _Overlap:
    """Caller speech while Лидия talks, not yet judged an interruption."""

    start: int  # with pre-roll: where its audio begins
    onset: int  # first voiced sample
    voiced_before: int = 0  # voiced samples of fragments just before it (one utterance)
    words_asked: bool = False  # its first words are being (or were) recognised


class TurnTaking:
    """One call's turn-taking state. Every method runs on the event loop."""

    def __init__(self, session: CallSession) -> None:
        self.session = session
        self.settings = session.ctx.settings
        self.model = load_model(self.settings)
        self.utterance_start: int | None = None  # the caller's unanswered words begin here
        self._pause: _Pause | None = None
        self._overlap: _Overlap | None = None
        self._overlap_ended: tuple[int, int] | None = None  # (position, voiced) of the last one
        self._latest_start: int | None = None
        self._generation = 0  # bumped by every speech start: older judgements are stale
        self._tasks: set[asyncio.Task[Any]] = set()
        self._frame_at = time.perf_counter()  # when the last media frame was judged
        self._heard_until = 0  # where the last turn's audio ended: never re-read twice

    # --------------------------------------------------------------- VAD events

    async def on_vad(self, event: VadEvent) -> None:
        if event.kind == "speech_start":
            await self._speech_started(event)
        else:
            await self._speech_ended(event)

    async def on_audio(self) -> None:
        """After each media frame: interruptions that have lasted, pauses that have lasted."""
        session = self.session
        self._frame_at = time.perf_counter()
        if self._overlap is not None:
            if not session._lidia_talking():
                self._overlap = None  # she finished first: this is just the caller's turn
            else:
                await self._overlap_lasted(self._overlap)
        pause = self._pause
        if pause is not None and self._silence_lasted(pause):
            self._answer(pause)

    def on_stall(self) -> None:
        """No media frame for a while (a network hiccup, a client that stops sending): stream
        time stands still, so the caller's pause lasts by the wall clock and she answers."""
        pause = self._pause
        if pause is None or pause.answer_at is None:
            return
        stalled = int((time.perf_counter() - self._frame_at) * MULAW_SAMPLE_RATE)
        if self.session.vad.position + stalled >= pause.answer_at:
            self._answer(pause)

    async def _overlap_lasted(self, overlap: _Overlap) -> None:
        """Speech over Лидия goes on: long enough stops her; a little first has its words
        recognised, so that «Нет», «Подождите» stop her before that."""
        voiced = overlap.voiced_before + self.session.vad.voiced_run()
        if voiced >= self._samples(self.settings.barge_in_min_speech_ms):
            self._overlap = self._overlap_ended = None
            await self.session.barge_in()
            self._take_carry()
            return
        quick = self.settings.barge_in_quick_ms
        if quick and not overlap.words_asked and voiced >= self._samples(quick):
            overlap.words_asked = True
            self._spawn(self._stop_if_told(overlap))

    async def _stop_if_told(self, overlap: _Overlap) -> None:
        heard = await self._first_words(bytes(self.session.inbound[overlap.start :]))
        if not says_stop(heard, self.settings.barge_in_min_confidence):
            return  # the duration, or the fragment's end, decides
        if self.session._lidia_talking() and not self._answering_silently():
            log.info("call %s: told to stop (%r)", self.session.call_sid, heard)
            if self._overlap is overlap:
                self._overlap = self._overlap_ended = None
            await self.session.barge_in()
            self._take_carry()

    def _silence_lasted(self, pause: _Pause) -> bool:
        """The pause has lasted long enough, and nothing voiced is being heard right now."""
        if pause.answer_at is None:
            return False
        position = self.session.vad.position
        if position < pause.answer_at:
            return False
        held_too_long = position >= pause.answer_at + self._samples(HEARING_HOLD_MS)
        return held_too_long or not self.session.vad.hearing

    async def _speech_started(self, event: VadEvent) -> None:
        session = self.session
        self._generation += 1
        pause, self._pause = self._pause, None  # the caller goes on: the utterance continues
        if pause is not None:
            self._discard(pause)
        self._latest_start = event.sample
        if self.utterance_start is None:
            self.utterance_start = event.sample
        if pause is not None and pause.release is not None:
            return  # the reply held for this pause was never heard: dropped, nothing else
        if session.message_start is not None or not session._lidia_talking():
            return
        if self._answering_silently():
            # A turn started on a fragment the caller is continuing: drop it, keep the words.
            await session.barge_in()
            self._take_carry()
        else:
            self._overlap = _Overlap(event.sample, event.voiced_start, self._voiced_just_before())

    def _voiced_just_before(self) -> int:
        """Voiced samples of the overlap fragment that ended a moment ago, if one did."""
        ended, self._overlap_ended = self._overlap_ended, None
        if ended is None:
            return 0
        position, voiced = ended
        recent = self.session.vad.position - position <= self._samples(OVERLAP_GAP_MS)
        return voiced if recent else 0

    async def _speech_ended(self, event: VadEvent) -> None:
        if self.session.message_start is not None:
            self.utterance_start = None  # the message is recorded whole at the end
            return
        if self._overlap is not None:
            overlap, self._overlap = self._overlap, None
            voiced = overlap.voiced_before + event.voiced_end - overlap.onset
            self._overlap_ended = (event.decided, voiced)
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
        finished = complete >= self.settings.end_of_turn_threshold
        wait = self.settings.end_of_turn_max_silence_ms
        if finished:
            wait = self.settings.end_of_turn_confirm_ms
            # Only a pause that sounds final is worth recognising now: after one that does
            # not, the caller usually goes on, and the STT engine is shared by every call.
            if self.settings.end_of_turn_speculative_stt:
                pause.span = self._turn_span(start, pause.end.sample)
                pause.transcript = self._spawn(self._recognise_turn(pause))
        pause.answer_at = pause.end.voiced_end + self._samples(wait)
        if self._silence_lasted(pause):
            self._answer(pause)
            return
        if finished and self.settings.end_of_turn_speculative_reply:
            self._prepare(pause)  # the reply starts now and is heard once the pause lasts

    def _discard(self, pause: _Pause) -> None:
        """The caller went on: the pause's speculative words and reply go, without trace."""
        if pause.transcript is not None and not pause.transcript.done():
            pause.transcript.cancel()
        if pause.release is not None and not pause.release.is_set():
            turn = self.session.turn_task
            if turn is not None and not turn.done():
                turn.cancel()  # the session drops it and has the orchestrator forget it

    def _prepare(self, pause: _Pause) -> None:
        """Start the reply held: the caller's words stay open until it is released."""
        start = self.utterance_start if self.utterance_start is not None else pause.end.voiced_end
        pause.release = asyncio.Event()
        self._begin_turn(pause, start)

    def _answer(self, pause: _Pause) -> None:
        self._pause = None
        start = self.utterance_start if self.utterance_start is not None else pause.end.voiced_end
        self.utterance_start = None
        if pause.release is not None:
            pause.release.set()  # prepared during the pause: now it is heard
            return
        self._begin_turn(pause, start)

    def _begin_turn(self, pause: _Pause, start: int) -> None:
        session = self.session
        end = pause.end
        decided = VadEvent(
            "speech_end", end.sample, voiced_end=end.voiced_end, decided=session.vad.position
        )
        start, stop = pause.span or self._turn_span(start, end.sample)
        self._heard_until = max(self._heard_until, stop)
        utterance = bytes(session.inbound[start:stop])
        if pause.transcript is not None:
            self._tasks.discard(pause.transcript)  # the turn owns it now: close() leaves it
        turn = session._conversation_turn(
            utterance,
            decided,
            time.perf_counter(),
            start,
            transcript=pause.transcript,
            release=pause.release,
        )
        session._start_turn(turn)

    # --------------------------------------------------------------- backchannels

    async def _judge_overlap(self, overlap: _Overlap, end: VadEvent, generation: int) -> None:
        """A short fragment over Лидия: a backchannel (she goes on) or words (she stops)?

        Its first words, recognised fast within `BACKCHANNEL_RECOGNITION_S`, decide: sure
        words that are not a backchannel («Нет», «Ещё вопрос») stop her; a sure backchannel,
        or words the recogniser was unsure of, are a sound and she goes on. Without an answer
        in time the end-of-turn model decides: a fragment that sounds finished on its own
        («угу», «понятно») is a backchannel, one that does not starts an interruption.
        """
        session = self.session
        fragment = bytes(session.inbound[overlap.start : end.sample])
        voiced = end.voiced_end - overlap.onset
        heard = await self._first_words(fragment)
        log.debug("call %s: over Лидия, heard %r", session.call_sid, heard)
        if heard is not None:
            words = interrupts(heard, self.settings.barge_in_min_confidence)
        else:
            audio = bytes(session.inbound[overlap.start : end.decided])
            words = await self._complete(audio) < self.settings.end_of_turn_threshold
        if not words:
            await self._record_backchannel(heard, voiced)
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

    async def _first_words(self, mulaw: bytes) -> HeardWords | None:
        """The fragment's first words, or None when recognition is off, failed or was slow."""
        limit = self.settings.backchannel_recognition_s
        if limit <= 0:
            return None
        wav = wav_bytes(mulaw_to_pcm(mulaw), MULAW_SAMPLE_RATE)
        try:
            coro = self.session.ctx.orchestrator.first_words(wav)
            text, confidence = await asyncio.wait_for(coro, limit)
        except Exception as exc:
            log.info("call %s: fragment not recognised in time (%r)", self.session.call_sid, exc)
            return None
        return HeardWords(text, confidence)

    def _turn_span(self, start: int, end: int) -> tuple[int, int]:
        """The turn's audio: the VAD's cut, widened where its edge still holds speech."""
        if not self.settings.hearing_reread_edges:
            return start, end
        inbound = self.session.inbound
        wide = widened(inbound, start, end, not_before=min(self._heard_until, start))
        if wide != (start, end):
            log.info(
                "call %s: turn re-read %+d ms before, %+d ms after the VAD's cut",
                self.session.call_sid,
                (start - wide[0]) * 1000 // MULAW_SAMPLE_RATE,
                (wide[1] - end) * 1000 // MULAW_SAMPLE_RATE,
            )
        return wide

    async def _recognise_turn(self, pause: _Pause) -> str | None:
        """The utterance's words, recognised while the caller pauses; None if that failed.

        No words over audio that holds speech: recognised once more over a wider span
        (a cut that left only a word's tail is heard as nothing)."""
        assert pause.span is not None
        text = await self._transcribe(*pause.span)
        if text is None or text.strip() or not self.settings.hearing_reread_edges:
            return text
        inbound, (start, end), reach = (
            self.session.inbound,
            pause.span,
            self._samples(RETRY_REACH_MS),
        )
        wide = (
            max(start - reach, min(self._heard_until, start), 0),
            min(len(inbound), end + reach),
        )
        if not holds_speech(inbound, *wide):
            return text
        log.info("call %s: no words over speech; recognising a wider span", self.session.call_sid)
        retried = await self._transcribe(*wide)
        if retried is not None and retried.strip():
            pause.span = wide  # the turn's audio is what the words are of
            return retried
        return text

    async def _transcribe(self, start: int, end: int) -> str | None:
        wav = wav_bytes(mulaw_to_pcm(bytes(self.session.inbound[start:end])), MULAW_SAMPLE_RATE)
        try:
            coro = self.session.ctx.orchestrator.transcribe(wav)
            return await asyncio.wait_for(coro, RECOGNITION_TIMEOUT_S)
        except Exception as exc:  # the turn then sends its audio: nothing is lost
            log.info("call %s: speculative recognition failed (%r)", self.session.call_sid, exc)
            return None

    async def _record_backchannel(self, heard: HeardWords | None, voiced: int) -> None:
        if self.session.call_sid:
            data: dict[str, Any] = {"voiced_ms": voiced * 1000 // MULAW_SAMPLE_RATE}
            data["text"] = heard.text if heard is not None else None
            if heard is not None:
                data["confidence"] = round(heard.confidence, 3)
            await self.session.ctx.store.add_event(self.session.call_sid, "backchannel", data)

    # --------------------------------------------------------------- the record

    def turn_continued(self, playback: Playback) -> bool:
        """Whether a cancelled turn answered a fragment the caller went on with (drop it)."""
        return playback.turn_index is not None and playback.sent_ms == 0 and playback.continued

    def forget(self, turn_id: str) -> None:
        """The orchestrator forgets a reply the caller never heard (in the background)."""
        session = self.session

        async def forget(call_sid: str) -> None:
            try:
                await session.ctx.orchestrator.forget_turn(call_sid, turn_id)
            except OrchestratorError as exc:  # its history keeps a line; the call goes on
                log.warning("call %s: unheard reply not forgotten (%s)", call_sid, exc)

        if session.call_sid:
            session.background.start(forget(session.call_sid))

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
        self._pause = self._overlap = self._overlap_ended = None
        try:
            await self._record_unanswered()
        except Exception:  # the rest of the record must still be closed
            log.exception("call %s: unanswered words not recorded", self.session.call_sid)

    async def _record_unanswered(self) -> None:
        start, self.utterance_start = self.utterance_start, None
        session = self.session
        if session.message_start is not None or not session.call_sid:
            return
        end = len(session.inbound)
        if start is None and not session.turns_started and self.settings.hearing_reread_edges:
            # The VAD never started an utterance, yet the caller's channel holds speech:
            # the call is not «молчание», the words are kept as a turn.
            span = await asyncio.to_thread(speech_span, bytes(session.inbound))
            if span is not None:
                start, end = span
                log.info("call %s: speech the VAD never heard is kept", session.call_sid)
        elif start is not None:
            start = self._turn_span(start, end)[0]
        if start is None or session.call_dir is None or end - start < self._samples(200):
            return
        index = session._next_turn_index()
        path = session.call_dir / turn_file(index, "caller")
        turn = TurnRecord(
            turn_index=index,
            caller_audio_path=await write_mulaw_wav(path, bytes(session.inbound[start:end])),
            latencies={"unanswered": True},
        )
        await self.transcript_of(turn)
        await session.ctx.store.add_turn(session.call_sid, turn)

    # --------------------------------------------------------------- fillers

    def with_filler(
        self,
        events: AsyncIterator[dict[str, Any]],
        reply: StreamedReply,
        release: asyncio.Event | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """The reply's events, with a filler played if its audio is slow to come (never
        while the reply is held: the caller may still be speaking)."""
        waited = float(reply.latencies.get("vad_wait_s", 0.0))
        deadline = reply.detected_at + self.settings.filler_delay_s - waited

        async def play() -> None:
            if release is not None:
                await release.wait()
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

    def _spawn(self, work: Awaitable[T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
