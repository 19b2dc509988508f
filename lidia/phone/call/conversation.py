"""One call's conversation, whatever carrier carries it: caller audio in, Лидия's voice out,
with barge-in.

The carrier's wire lives in `phone.carriers` (Twilio Media Streams, Asterisk chan_websocket,
AudioSocket), each behind the `media.line.CallLine` interface; this module only decides what
to do with its events.

Flow per call:
- `CallStarted` → the line has checked the call and its record exists (Twilio: created by
  `POST /twilio/voice` and the stream claimed; Asterisk: by the adapter); the greeting plays
  (interruptible like any reply).
- caller audio → Silero VAD (`vad.StreamingVad`) → each utterance, as an 8 kHz WAV, goes to
  the orchestrator's `POST /process_call?stream=true&response=events`; its NDJSON audio
  events are re-framed to μ-law and sent while later sentences are still being written.
- speech starting while Лидия talks (audio not yet played, or a turn still in progress)
  → a flush (Twilio `clear`, Asterisk `FLUSH_MEDIA`), the pending orchestrator request is
  cancelled (its HTTP stream closed, which stops the synthesis), and `heard_ms` is
  estimated from the marks the line told back.
- DTMF: each digit is logged at once; digits typed within `DTMF_GAP_S` of each other are
  passed to the conversation as one text turn `"[DTMF 123]"` through `POST /chat`, and the
  reply is spoken (`POST /tts`).
- orchestrator down, slow (`PHONE_TURN_TIMEOUT_S` between events) or erroring → the
  pre-synthesized apology plays, then a beep, and everything the caller says afterwards is
  kept as a message (`calls_log/<call id>/message.wav`).
Malformed frames are logged (a `protocol_error` event on the call) and ignored; the call
goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

from lidia.audio.codecs import wav_bytes
from lidia.audio.mulaw import FRAME_MS, MULAW_SAMPLE_RATE, mulaw_frames, mulaw_to_pcm
from lidia.audio.vad import StreamingVad, VadEvent
from lidia.phone.call.background import BackgroundWrites
from lidia.phone.call.call_recording import SHUTDOWN_CLOSE_CODES, save_call_recording
from lidia.phone.call.deadline import TurnEvents
from lidia.phone.call.held import held_until
from lidia.phone.call.line import (
    CallerAudio,
    CallLine,
    CallStarted,
    Digit,
    HungUp,
    LineEvent,
    LineProblem,
    MarkPlayed,
)
from lidia.phone.call.message_ack import MessageAcknowledger
from lidia.phone.call.playback import Playback
from lidia.phone.call.recorder import CallRecorder
from lidia.phone.call.reply import StreamedReply
from lidia.phone.call.turn_taking import TurnTaking, phone_vad
from lidia.phone.call_actions import caller_of, turn_channel
from lidia.phone.call_files import (
    MESSAGE_FILE,
    WHOLE_CALL_FILE,
    turn_file,
    unsaved,
    write_mulaw_wav,
    write_wav,
)
from lidia.phone.call_store import TurnRecord
from lidia.phone.context import PhoneContext
from lidia.phone.orchestrator_client import OrchestratorError
from lidia.phone.prompts import PhonePrompt, beep_mulaw
from lidia.phone.transfer import TRANSFER_UNANSWERED_TEXT, CallActions

log = logging.getLogger("phone.media")

DTMF_GAP_S = 1.0
STALL_S = 0.25  # no frame from the carrier this long: turn-taking goes on by the wall clock


class CallConversation:
    """Serves one live call (a `CallLine`) until the caller hangs up or the line closes."""

    def __init__(self, ctx: PhoneContext, line: CallLine) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.line = line
        self.call_sid: str | None = None  # the call's id: a Twilio CallSid, or `AST-…`
        self.caller_number: str | None = None  # bookings default to it
        self.call_dir: Path | None = None
        self.vad: StreamingVad = phone_vad(settings)  # pauses; `turn_taking` ends turns
        self.inbound = bytearray()  # every caller byte since `start` (μ-law)
        self.playback: Playback | None = None
        self.recorder = CallRecorder()  # Лидия's side on the call's clock, for call.wav
        self.close_code: int | None = None  # set when the socket closed without a hang-up
        self.turn_task: asyncio.Task[None] | None = None
        self.turns_started = 0
        self.message_start: int | None = None  # set once the apology offered a message
        self._utterance_start: int | None = None
        self._carry_start: int | None = None  # an interrupted, unanswered utterance
        self.background = BackgroundWrites(lambda: self.call_sid)  # turn rows, forgets
        self._dtmf_digits = ""
        self._dtmf_task: asyncio.Task[None] | None = None
        self._closed = False
        self.audio_until = 0.0  # perf_counter when the audio sent so far ends playing
        self.message_ack = MessageAcknowledger(self._acknowledge_message)
        self.over_capacity = False  # beyond MAX_CONCURRENT_CALLS: busy prompt, then a message
        # Back from a transfer nobody answered (Asterisk's second leg): only the message is
        # kept, as Twilio's `<Record>` does; the first leg's recording stays as it was.
        self.after_transfer = False
        self.finished = asyncio.Event()  # set once the call's record is complete
        self.actions = CallActions(ctx, line, self._say_then_transfer)  # transfer, hang-up
        self.turn_taking = TurnTaking(self)  # end of turn by meaning; backchannels; fillers

    # --------------------------------------------------------------- receive loop

    async def run(self) -> None:
        try:
            while True:
                event = await self.line.receive(STALL_S)
                if event is None:
                    self.turn_taking.on_stall()  # no media: the caller's pause still lasts
                    continue
                if not await self.handle_event(event):
                    break
        except asyncio.CancelledError:
            self.close_code = 1012  # the server cancelled us: it is stopping
            raise
        finally:
            try:
                await self.finish()
            finally:
                self.finished.set()

    async def handle_event(self, event: LineEvent) -> bool:
        """Act on one line event; False ends the conversation."""
        match event:
            case CallStarted():
                return await self._on_start(event)
            case CallerAudio():
                return await self._on_media(event)
            case MarkPlayed():
                await self._on_mark(event)
            case Digit():
                await self._on_dtmf(event)
            case LineProblem():
                await self._protocol_error(event.message)
            case HungUp():
                self.close_code = event.close_code
                self._closed = True
                return False
        return True

    async def _on_start(self, start: CallStarted) -> bool:
        call_sid = start.call_id
        if self.call_sid is not None:  # this line already carries a call
            await self._protocol_error("second start on one stream ignored")
            return True
        self.call_sid = call_sid
        self.caller_number = await caller_of(self.ctx.store, call_sid)
        self.call_dir = self.ctx.call_dir(call_sid)
        if not self.ctx.capacity.admit_stream(call_sid, self.ctx.active_calls):
            self.over_capacity, self.message_start = True, 0
        self.ctx.active_calls[call_sid] = self
        await self.ctx.store.update_call(call_sid, status="in-progress", mode="stream")
        await self.ctx.store.add_event(call_sid, "stream_start", start.details)
        if self.over_capacity:
            opening = self._all_lines_busy()
        elif start.transfer_unanswered:
            self.after_transfer = True
            opening = self._transfer_unanswered()
        else:
            opening = self._play_greeting()
        self._start_turn(opening)
        return True

    async def _on_media(self, media: CallerAudio) -> bool:
        if self.call_sid is None:
            return True  # before start there is no call to attach it to
        self.inbound += media.mulaw
        # Silero is small (~0.1 ms a frame) but still inference: off the loop, in the phone's
        # own pool (asyncio's default one is shared with file writes and everything else).
        for event in await self.ctx.inference.run(self.vad.feed, mulaw_to_pcm(media.mulaw)):
            await self._on_vad(event)
        await self.turn_taking.on_audio()
        if len(self.inbound) > self.ctx.settings.max_call_s * MULAW_SAMPLE_RATE:
            log.warning("call %s reached MAX_CALL_S; closing the stream", self.call_sid)
            await self._record_error("call reached MAX_CALL_S")
            return False
        return True

    async def _on_mark(self, mark: MarkPlayed) -> None:
        self.recorder.mark_echoed(mark.name, len(self.inbound))
        playback = self.playback
        if playback is None or mark.name not in playback.marks:
            return
        playback.echoed_ms = playback.marks.pop(mark.name)
        playback.anchor = time.perf_counter()
        if not playback.playing:
            self.playback = None
            if playback.turn_index is not None:
                await self._update_turn(playback.turn_index, heard_ms=playback.sent_ms)

    async def _on_dtmf(self, dtmf: Digit) -> None:
        if self.call_sid is None:
            await self._protocol_error(f"dtmf {dtmf.digit!r} before start ignored")
            return
        await self.ctx.store.add_dtmf(self.call_sid, dtmf.digit)
        if await self.actions.on_digit(self.call_sid, dtmf.digit):
            return  # `0`: put through to a person (transfer.py)
        if self.message_start is not None:
            return  # leaving a message: digits are logged, not answered
        self._dtmf_digits += dtmf.digit
        if self._dtmf_task is not None:
            self._dtmf_task.cancel()
        self._dtmf_task = asyncio.create_task(self._dtmf_after_gap())

    # --------------------------------------------------------------- turn-taking

    async def _on_vad(self, event: VadEvent) -> None:
        if self.message_start is not None:
            self.message_ack.on_vad(event.kind)  # «Записала. Что-нибудь ещё?» after each part
        # Pause or end of turn, backchannel or interruption: `turn_taking` decides.
        await self.turn_taking.on_vad(event)

    def _lidia_talking(self) -> bool:
        busy = self.turn_task is not None and not self.turn_task.done()
        return busy or (self.playback is not None and self.playback.playing)

    async def barge_in(self) -> None:
        """The caller interrupts: drop queued audio, stop the turn, note what was heard."""
        playback = self.playback
        if playback is not None and playback.turn_index is not None and playback.sent_ms == 0:
            playback.continued = True  # the caller went on: that turn is dropped, not recorded
        await self.line.flush()
        self.audio_until = time.perf_counter()  # nothing queued plays any more
        self.recorder.cleared(len(self.inbound))
        if self.turn_task is not None and not self.turn_task.done():
            self.turn_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.turn_task
        if playback is not None:
            heard = playback.heard_ms(time.perf_counter())
            self.playback = None
            if playback.turn_index is not None and self.call_sid:
                if playback.sent_ms == 0:
                    # Interrupted before any answer: the next utterance continues this one.
                    self._carry_start = playback.utterance_start
                else:
                    await self._update_turn(playback.turn_index, barge_in=True, heard_ms=heard)
            if self.call_sid:
                await self.ctx.store.add_event(
                    self.call_sid,
                    "barge_in",
                    {"playback": playback.name, "heard_ms": heard, "sent_ms": playback.sent_ms},
                )
        log.info("barge-in on call %s", self.call_sid)

    def _start_turn(self, work: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let a bug end the call silently
                log.exception("turn failed on call %s", self.call_sid)
                await self._record_error(f"turn failed: {exc!r}")
                await self._apologize()

        if self.turn_task is not None and not self.turn_task.done():
            self.turn_task.cancel()  # one turn speaks at a time: never two replies interleaved
            # Still closing: `finish` waits for it, so its record comes before the call's end.
            self.background.start(self.turn_task)
        self.turn_task = asyncio.create_task(guarded())

    async def _play_greeting(self) -> None:
        prompt = await self.ctx.prompts.get(self.ctx.settings.greeting_text)
        await self._play_prompt("greeting", prompt.mulaw, prompt.text)

    async def _conversation_turn(
        self,
        utterance: bytes,
        vad_event: VadEvent,
        detected_at: float,
        utterance_start: int,
        transcript: Awaitable[str | None] | None = None,
        release: asyncio.Event | None = None,
    ) -> None:
        """One reply. With `release`, it is speculative: prepared at once, heard once released;
        a held reply the caller talks over is dropped without trace (`turn_taking`)."""
        assert self.call_sid and self.call_dir
        index = self._next_turn_index()
        turn_id = secrets.token_hex(8)  # names it in the orchestrator's history
        try:
            path = self.call_dir / turn_file(index, "caller")
            caller_path = await write_mulaw_wav(path, utterance)
            decided = vad_event.decided - vad_event.voiced_end
            latencies: dict[str, Any] = {
                "vad_wait_s": round(decided / MULAW_SAMPLE_RATE, 4),
                "utterance_s": round(len(utterance) / MULAW_SAMPLE_RATE, 3),
                "speculative": release is not None,
            }
            wav = wav_bytes(mulaw_to_pcm(utterance), MULAW_SAMPLE_RATE)
            words = await transcript if transcript is not None else None  # from the pause
            latencies["speculative_stt"] = bool(words and words.strip())
            events = self.ctx.orchestrator.stream_turn(
                wav, self.call_sid, words, turn_id, **turn_channel(self.ctx, self.caller_number)
            )
            await self._speak_turn(
                index,
                held_until(events, release),
                detected_at,
                latencies,
                caller_path,
                utterance_start,
                release=release,
                turn_id=turn_id,
            )
        finally:
            if release is not None and not release.is_set():  # never heard: no trace
                self.turn_taking.drop_turn(index)
                self.turn_taking.forget(turn_id)

    async def _dtmf_after_gap(self) -> None:
        await asyncio.sleep(DTMF_GAP_S)
        digits, self._dtmf_digits = self._dtmf_digits, ""
        self._dtmf_task = None
        if self._lidia_talking():
            await self.barge_in()
        self._start_turn(self._dtmf_turn(digits))

    async def _dtmf_turn(self, digits: str) -> None:
        assert self.call_sid
        index = self._next_turn_index()
        events = self.ctx.orchestrator.text_turn(
            f"[DTMF {digits}]",
            self.call_sid,
            language=self.ctx.settings.tts_language,
            sample_rate=MULAW_SAMPLE_RATE,
            **turn_channel(self.ctx, self.caller_number),
        )
        await self._speak_turn(index, events, time.perf_counter(), {"dtmf": digits}, None, None)

    async def _speak_turn(
        self,
        index: int,
        events: AsyncIterator[dict[str, Any]],
        detected_at: float,
        latencies: dict[str, Any],
        caller_path: str | None,
        utterance_start: int | None,
        *,
        release: asyncio.Event | None = None,
        turn_id: str | None = None,
    ) -> None:
        """Play a turn's audio as it arrives; record the turn however it ends."""
        playback = self._new_playback(f"turn{index}", index)
        playback.utterance_start = utterance_start
        record = TurnRecord(turn_index=index, caller_audio_path=caller_path, latencies=latencies)
        if utterance_start is not None:
            record.caller_offset_s = round(utterance_start / MULAW_SAMPLE_RATE, 3)
        reply = StreamedReply(record, latencies, playback, detected_at)
        events = self.turn_taking.with_filler(events, reply, release)  # no dead air
        spoke_until = detected_at - float(latencies.get("vad_wait_s", 0.0))
        events = TurnEvents(  # one deadline for first audio, then a bounded gap between events
            events,
            spoke_until=spoke_until,
            first_audio_s=self.ctx.settings.phone_first_audio_deadline_s,
            gap_s=self.ctx.settings.phone_turn_timeout_s,
            playing_until=lambda: self.audio_until,  # its filler or its reply, as queued
        )
        try:
            async for event in events:
                await self._on_turn_event(reply, event, index)
            await self._send_frames(reply.remaining_frames(), playback)
            await self._send_mark(playback, f"turn{index}-end")
            if self.call_sid:
                await self.actions.carry_out(self.call_sid, playback)  # once it has played
        except (TimeoutError, OrchestratorError, ValueError, KeyError) as exc:
            reason = str(exc) or "orchestrator timed out"
            record.error = reason
            if release is not None:
                release.set()  # failed, even while held: the apology is heard, the turn kept
            await self._record_error(f"turn {index}: {reason}")
            await self._apologize()
        except asyncio.CancelledError:
            record.barge_in = not playback.acted  # a caller, not her own hang-up
            raise
        finally:
            playback.finished_sending = True
            try:
                with contextlib.suppress(Exception):
                    await events.aclose()  # type: ignore[attr-defined]  # stops the synthesis
            finally:  # a hang-up's cancel landing in the close must not lose the turn's row
                latencies["total_s"] = round(time.perf_counter() - detected_at, 4)
                # A fragment the caller went on with is dropped (its words open the next
                # turn); a turn that failed is kept: its error and apology belong in the record.
                if release is not None and not release.is_set():
                    pass  # held and never heard: `_conversation_turn` drops it
                elif self.turn_taking.turn_continued(playback) and not record.error:
                    self.turn_taking.drop_turn(index)
                    if turn_id is not None:
                        self.turn_taking.forget(turn_id)
                else:
                    self.background.start(self._record_turn(reply))

    async def _on_turn_event(self, reply: StreamedReply, event: dict[str, Any], index: int) -> None:
        """One orchestrator event: note it, and send its audio (a mark between sentences)."""
        now = time.perf_counter()
        kind = event.get("type")
        if kind == "transcript":
            reply.heard(str(event.get("text", "")), now)
        elif kind == "sentence":
            if reply.sentences:
                await self._send_mark(reply.playback, f"turn{index}-s{reply.sentences}")
            reply.sentences += 1
        elif kind == "audio":
            frames = reply.frames_for(event["samples"], int(event["sample_rate"]), now)
            first = bool(frames) and "first_frame_s" not in reply.latencies
            if first:
                reply.latencies["encoding_s"] = round(time.perf_counter() - now, 5)
            await self._send_frames(frames, reply.playback)
            if first:
                elapsed = time.perf_counter() - reply.detected_at
                reply.latencies["first_frame_s"] = round(elapsed, 4)
        elif kind == "action" and self.call_sid:
            await self.actions.note(self.call_sid, event)  # transfer.py acts after the turn
        elif kind == "done":
            reply.done(event)

    async def _record_turn(self, reply: StreamedReply) -> None:
        assert self.call_sid and self.call_dir
        turn = reply.record
        await self.turn_taking.transcript_of(turn)  # cut off before its transcript came
        audio = reply.whole_audio()
        if audio is not None:
            path = self.call_dir / turn_file(turn.turn_index, "reply")
            turn.reply_audio_path = await write_wav(path, audio, reply.rate)
        if turn.barge_in:
            turn.heard_ms = reply.playback.heard_ms(time.perf_counter())
        await self.ctx.store.add_turn(self.call_sid, turn)

    def _next_turn_index(self) -> int:
        self.turns_started += 1
        return self.turns_started

    # --------------------------------------------------------------- never silent

    async def _apologize(self) -> None:
        """Play the cached apology and a beep; from now on the caller leaves a message."""
        prompt = self.ctx.prompts.apology
        if self.message_start is not None or prompt is None:
            return
        self.message_start = len(self.inbound)
        await self._play_prompt("apology", prompt.mulaw + beep_mulaw(), prompt.text)
        if self.call_sid:
            await self.ctx.store.add_event(self.call_sid, "message_offered", {})

    async def _all_lines_busy(self) -> None:
        """Beyond MAX_CONCURRENT_CALLS: «все линии заняты», a beep, then the message."""
        prompt = await self.ctx.prompts.get(self.ctx.settings.busy_text)
        await self._play_prompt("busy", prompt.mulaw + beep_mulaw(), prompt.text)
        if self.call_sid:
            await self.ctx.store.add_event(self.call_sid, "over_capacity", {"at": "stream"})

    async def _transfer_unanswered(self) -> None:
        """The carrier brought the caller back from a transfer nobody answered: as on Twilio's
        `/twilio/dial`, Лидия offers to take a message (then a beep)."""
        assert self.call_sid
        await self.ctx.store.add_event(self.call_sid, "transfer_result", {"answered": False})
        await self.ctx.store.update_call(self.call_sid, outcome="transfer_unanswered")
        self.message_start = len(self.inbound)
        prompt = await self.ctx.prompts.get(TRANSFER_UNANSWERED_TEXT)
        await self._play_prompt("transfer_unanswered", prompt.mulaw + beep_mulaw(), prompt.text)

    async def _say_then_transfer(self, notice: PhonePrompt) -> None:
        """DTMF `0` on a line that cannot play the notice itself: Лидия stops, says it, and
        the caller is put through once it has been heard (in the turn task: the receive loop
        must go on reading the marks)."""
        if self._lidia_talking():
            await self.barge_in()

        async def notice_then_transfer() -> None:
            await self._play_prompt("transfer_notice", notice.mulaw, notice.text)
            if self.call_sid and self.playback is not None:
                await self.actions.transfer_after(self.call_sid, self.playback)

        self._start_turn(notice_then_transfer())

    async def _acknowledge_message(self) -> None:
        if self.playback is None or not self.playback.playing:  # never over her own prompt
            prompt = await self.ctx.prompts.get(self.ctx.settings.message_ack_text)
            await self._play_prompt("message_ack", prompt.mulaw, prompt.text)

    # --------------------------------------------------------------- sending

    async def _play_prompt(self, name: str, mulaw: bytes, text: str = "") -> None:
        """A fixed phrase, marked `<name>-end` so its end (or interruption) is known."""
        playback = self._new_playback(name, None)
        playback.text = text
        await self._send_frames(mulaw_frames(mulaw), playback)
        await self._send_mark(playback, f"{name}-end")
        playback.finished_sending = True

    def _new_playback(self, name: str, turn_index: int | None) -> Playback:
        self.playback = Playback(name, turn_index)
        return self.playback

    async def _send_frames(self, frames: list[bytes], playback: Playback) -> None:
        for frame in frames:
            if not self._closed:
                await self.line.send_audio(frame)
            self.audio_until = max(self.audio_until, time.perf_counter()) + FRAME_MS / 1000
            if not self._closed:
                self.recorder.sent(playback, frame, len(self.inbound))
            if playback.anchor is None:
                playback.anchor = time.perf_counter()
            playback.sent_ms += FRAME_MS

    async def _send_mark(self, playback: Playback, name: str) -> None:
        if playback.sent_ms == playback.echoed_ms and not playback.marks:
            return  # nothing new to mark
        playback.marks[name] = playback.sent_ms
        if not self._closed:
            await self.line.mark(name)
        self.recorder.marked(name)

    # --------------------------------------------------------------- bookkeeping

    async def _protocol_error(self, message: str) -> None:
        log.warning("call %s: %s", self.call_sid, message)
        if self.call_sid:
            await self.ctx.store.add_event(self.call_sid, "protocol_error", {"message": message})

    async def _record_error(self, message: str) -> None:
        log.error("call %s: %s", self.call_sid, message)
        if self.call_sid:
            await self.ctx.store.add_error(self.call_sid, message)

    async def _update_turn(self, turn_index: int, **fields: Any) -> None:
        """Update a recorded turn, once its record (written in the background) exists."""
        await self.background.done()
        if self.call_sid:
            await self.ctx.store.update_turn(self.call_sid, turn_index, **fields)

    async def finish(self) -> None:
        """Stop everything; save the message and the caller's recording; close the record."""
        await self.message_ack.close()
        for task in (self._dtmf_task, self.turn_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self.turn_taking.close()  # words said but never answered still make a turn
        await self.background.done()  # every turn's row before the call's end
        if self.call_sid is None or self.call_dir is None:
            return
        self.ctx.active_calls.pop(self.call_sid, None)
        await self._close_record(self.call_sid, self.call_dir)

    async def _close_record(self, call_sid: str, call_dir: Path) -> None:
        """The caller's recording (and message) on disk, then the outcome on the record."""
        store = self.ctx.store
        if self.inbound and not self.after_transfer:
            await write_mulaw_wav(call_dir / WHOLE_CALL_FILE, bytes(self.inbound))
            try:  # both sides on one timeline; a failure here must not leave the call open
                await save_call_recording(
                    store, call_sid, call_dir, self.recorder, bytes(self.inbound)
                )
            except Exception:
                log.exception("two-sided recording of call %s not saved", call_sid)
        outcome = "conversation" if self.turns_started else "no_speech"
        if self.message_start is not None:
            message = bytes(self.inbound[self.message_start :])
            path = await write_mulaw_wav(call_dir / MESSAGE_FILE, message)
            await store.update_call(call_sid, message_audio_path=path)
            outcome = "message"
        if self.close_code in SHUTDOWN_CLOSE_CODES:  # the service stopped mid-call
            outcome = "interrupted"
            await store.add_event(call_sid, "interrupted", {"close_code": self.close_code})
        outcome = self.actions.outcome or outcome  # "transferred" (transfer.py)
        for problem in unsaved.take_errors(call_dir):  # audio the disk refused (issue 15)
            await store.add_error(call_sid, problem)
        record = await store.get_call(call_sid)
        if record is not None and record.ended_at is None:
            await store.finish_call(call_sid, status="completed", outcome=outcome)
        else:
            await store.update_call(call_sid, outcome=outcome)
