"""One Twilio Media Streams call: caller audio in, Лидия's voice out, with barge-in.

The wire format lives in `media.wire`; this module only decides what to do with its events.

Flow per call:
- `start` → the call must already be recorded (created by `POST /twilio/voice`), else the
  socket is closed; the greeting plays (interruptible like any reply).
- caller audio → Silero VAD (`vad.StreamingVad`) → each utterance, as an 8 kHz WAV, goes to
  the orchestrator's `POST /process_call?stream=true&response=events`; its NDJSON audio
  events are re-framed to μ-law and sent while later sentences are still being written.
- speech starting while Лидия talks (audio not yet played, or a turn still in progress)
  → `clear`, the pending orchestrator request is cancelled (its HTTP stream closed, which
  stops the synthesis), and `heard_ms` is estimated from the marks Twilio echoed.
- DTMF: each digit is logged at once; digits typed within `DTMF_GAP_S` of each other are
  passed to the conversation as one text turn `"[DTMF 123]"` through `POST /chat`, and the
  reply is spoken (`POST /tts`).
- orchestrator down, slow (`PHONE_TURN_TIMEOUT_S` between events) or erroring → the
  pre-synthesized apology plays, then a beep, and everything the caller says afterwards is
  kept as a message (`calls_log/<CallSid>/message.wav`).
Malformed frames are logged (a `protocol_error` event on the call) and ignored; the call
goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

from fastapi import WebSocket

from lidia.audio.codecs import wav_bytes
from lidia.audio.mulaw import FRAME_MS, MULAW_SAMPLE_RATE, mulaw_frames, mulaw_to_pcm
from lidia.audio.vad import StreamingVad, VadEvent
from lidia.phone.call_files import (
    MESSAGE_FILE,
    WHOLE_CALL_FILE,
    turn_file,
    write_mulaw_wav,
    write_wav,
)
from lidia.phone.call_store import TurnRecord
from lidia.phone.context import PhoneContext
from lidia.phone.ids import is_call_sid
from lidia.phone.media.playback import Playback
from lidia.phone.media.reply import StreamedReply
from lidia.phone.media.wire import (
    Connected,
    Dtmf,
    Event,
    MalformedFrame,
    Mark,
    Media,
    Start,
    Stop,
    clear_frame,
    mark_frame,
    media_frame,
    parse_frame,
)
from lidia.phone.orchestrator_client import OrchestratorError
from lidia.phone.prompts import beep_mulaw

log = logging.getLogger("phone.media")

DTMF_GAP_S = 1.0


class MediaStreamSession:
    """Serves one accepted Media Streams WebSocket until `stop` or disconnect."""

    def __init__(self, ctx: PhoneContext, websocket: WebSocket) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.ws = websocket
        self.call_sid: str | None = None
        self.stream_sid: str | None = None
        self.call_dir: Path | None = None
        self.vad = StreamingVad(
            threshold=settings.vad_threshold,
            min_silence_ms=settings.vad_min_silence_ms,
            min_speech_ms=settings.vad_min_speech_ms,
            speech_pad_ms=settings.vad_speech_pad_ms,
            pre_roll_ms=settings.vad_pre_roll_ms,
            max_speech_s=settings.max_utterance_s,
        )
        self.inbound = bytearray()  # every caller byte since `start` (μ-law)
        self.playback: Playback | None = None
        self.turn_task: asyncio.Task[None] | None = None
        self.turns_started = 0
        self.message_start: int | None = None  # set once the apology offered a message
        self._utterance_start: int | None = None
        self._carry_start: int | None = None  # an interrupted, unanswered utterance
        self._send_lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        self._dtmf_digits = ""
        self._dtmf_task: asyncio.Task[None] | None = None
        self._closed = False
        self.finished = asyncio.Event()  # set once the call's record is complete

    # --------------------------------------------------------------- receive loop

    async def run(self) -> None:
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if not await self.handle_frame(message.get("text")):
                    break
        finally:
            try:
                await self.finish()
            finally:
                self.finished.set()

    async def handle_frame(self, text: str | None) -> bool:
        """Act on one frame (None: a binary frame); False ends the session."""
        try:
            event = parse_frame(text)
        except MalformedFrame as exc:
            await self._protocol_error(str(exc))
            return True
        return await self.handle_event(event)

    async def handle_event(self, event: Event) -> bool:
        match event:
            case Start():
                return await self._on_start(event)
            case Media():
                return await self._on_media(event)
            case Mark():
                await self._on_mark(event)
            case Dtmf():
                await self._on_dtmf(event)
            case Stop():
                log.info("media stream stopped for call %s", self.call_sid)
                return False
            case Connected():
                log.debug("media stream connected (protocol %s)", event.protocol)
        return True

    async def _on_start(self, start: Start) -> bool:
        call_sid = start.call_sid
        record = await self.ctx.store.get_call(call_sid) if is_call_sid(call_sid) else None
        if record is None:
            log.warning("media stream for unknown call %r refused", call_sid[:64])
            await self.ws.close(code=1008, reason="unknown call")
            self._closed = True
            return False
        self.call_sid = call_sid
        self.stream_sid = start.stream_sid
        self.call_dir = self.ctx.call_dir(call_sid)
        self.ctx.active_calls[call_sid] = self
        await self.ctx.store.update_call(call_sid, status="in-progress", mode="stream")
        await self.ctx.store.add_event(
            call_sid,
            "stream_start",
            {
                "streamSid": self.stream_sid,
                "customParameters": start.custom_parameters,
                "mediaFormat": start.media_format,
            },
        )
        self._start_turn(self._play_greeting())
        return True

    async def _on_media(self, media: Media) -> bool:
        if self.call_sid is None or media.track != "inbound":
            return True  # before start there is no call to attach it to
        self.inbound += media.payload
        # Silero inference is small (~0.1 ms a frame) but still model inference: off the loop.
        for event in await asyncio.to_thread(self.vad.feed, mulaw_to_pcm(media.payload)):
            await self._on_vad(event)
        if len(self.inbound) > self.ctx.settings.max_call_s * MULAW_SAMPLE_RATE:
            log.warning("call %s reached MAX_CALL_S; closing the stream", self.call_sid)
            await self._record_error("call reached MAX_CALL_S")
            return False
        return True

    async def _on_mark(self, mark: Mark) -> None:
        playback = self.playback
        if playback is None or mark.name not in playback.marks:
            return
        playback.echoed_ms = playback.marks.pop(mark.name)
        playback.anchor = time.perf_counter()
        if not playback.playing:
            self.playback = None
            if playback.turn_index is not None:
                await self._update_turn(playback.turn_index, heard_ms=playback.sent_ms)

    async def _on_dtmf(self, dtmf: Dtmf) -> None:
        if self.call_sid is None:
            await self._protocol_error(f"dtmf {dtmf.digit!r} before start ignored")
            return
        await self.ctx.store.add_dtmf(self.call_sid, dtmf.digit)
        if self.message_start is not None:
            return  # leaving a message: digits are logged, not answered
        self._dtmf_digits += dtmf.digit
        if self._dtmf_task is not None:
            self._dtmf_task.cancel()
        self._dtmf_task = asyncio.create_task(self._dtmf_after_gap())

    # --------------------------------------------------------------- turn-taking

    async def _on_vad(self, event: VadEvent) -> None:
        if event.kind == "speech_start":
            self._utterance_start = event.sample
            if self.message_start is None and self._lidia_talking():
                await self.barge_in()
            return
        start = self._utterance_start if self._utterance_start is not None else event.voiced_end
        if self._carry_start is not None:
            start, self._carry_start = self._carry_start, None
        self._utterance_start = None
        if self.message_start is not None:
            return  # the whole message is recorded at the end of the call
        utterance = bytes(self.inbound[start : event.sample])
        detected_at = time.perf_counter()
        self._start_turn(self._conversation_turn(utterance, event, detected_at, start))

    def _lidia_talking(self) -> bool:
        busy = self.turn_task is not None and not self.turn_task.done()
        return busy or (self.playback is not None and self.playback.playing)

    async def barge_in(self) -> None:
        """The caller interrupts: drop queued audio, stop the turn, note what was heard."""
        playback = self.playback
        await self._send(clear_frame(self.stream_sid))
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
        self.turn_task = asyncio.create_task(guarded())

    async def _play_greeting(self) -> None:
        prompt = await self.ctx.prompts.get(self.ctx.settings.greeting_text)
        await self._play_prompt("greeting", prompt.mulaw)

    async def _conversation_turn(
        self, utterance: bytes, vad_event: VadEvent, detected_at: float, utterance_start: int
    ) -> None:
        assert self.call_sid and self.call_dir
        index = self._next_turn_index()
        caller_path = await write_mulaw_wav(self.call_dir / turn_file(index, "caller"), utterance)
        latencies: dict[str, Any] = {
            "vad_wait_s": round((vad_event.decided - vad_event.voiced_end) / MULAW_SAMPLE_RATE, 4),
            "utterance_s": round(len(utterance) / MULAW_SAMPLE_RATE, 3),
        }
        wav = wav_bytes(mulaw_to_pcm(utterance), MULAW_SAMPLE_RATE)
        events = self.ctx.orchestrator.stream_turn(wav, self.call_sid)
        await self._speak_turn(index, events, detected_at, latencies, caller_path, utterance_start)

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
    ) -> None:
        """Play a turn's audio as it arrives; record the turn however it ends."""
        playback = self._new_playback(f"turn{index}", index)
        playback.utterance_start = utterance_start
        record = TurnRecord(turn_index=index, caller_audio_path=caller_path, latencies=latencies)
        reply = StreamedReply(record, latencies, playback, detected_at)
        timeout = self.ctx.settings.phone_turn_timeout_s
        try:
            while True:
                try:
                    event = await asyncio.wait_for(anext(events), timeout)
                except StopAsyncIteration:
                    break
                await self._on_turn_event(reply, event, index)
            await self._send_frames(reply.remaining_frames(), playback)
            await self._send_mark(playback, f"turn{index}-end")
        except (TimeoutError, OrchestratorError, ValueError, KeyError) as exc:
            reason = "orchestrator timed out" if isinstance(exc, TimeoutError) else str(exc)
            record.error = reason
            await self._record_error(f"turn {index}: {reason}")
            await self._apologize()
        except asyncio.CancelledError:
            record.barge_in = True
            raise
        finally:
            playback.finished_sending = True
            with contextlib.suppress(Exception):
                await events.aclose()  # type: ignore[attr-defined]  # stops the synthesis
            latencies["total_s"] = round(time.perf_counter() - detected_at, 4)
            self._in_background(self._record_turn(reply))

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
        elif kind == "done":
            reply.done(event)

    async def _record_turn(self, reply: StreamedReply) -> None:
        assert self.call_sid and self.call_dir
        turn = reply.record
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
        await self._play_prompt("apology", prompt.mulaw + beep_mulaw())
        if self.call_sid:
            await self.ctx.store.add_event(self.call_sid, "message_offered", {})

    # --------------------------------------------------------------- sending

    async def _play_prompt(self, name: str, mulaw: bytes) -> None:
        """A fixed phrase, marked `<name>-end` so its end (or interruption) is known."""
        playback = self._new_playback(name, None)
        await self._send_frames(mulaw_frames(mulaw), playback)
        await self._send_mark(playback, f"{name}-end")
        playback.finished_sending = True

    def _new_playback(self, name: str, turn_index: int | None) -> Playback:
        self.playback = Playback(name, turn_index)
        return self.playback

    async def _send(self, frame: str) -> None:
        if self._closed:
            return
        async with self._send_lock:  # turn tasks and the receive loop both send
            await self.ws.send_text(frame)

    async def _send_frames(self, frames: list[bytes], playback: Playback) -> None:
        for frame in frames:
            await self._send(media_frame(self.stream_sid, frame))
            if playback.anchor is None:
                playback.anchor = time.perf_counter()
            playback.sent_ms += FRAME_MS

    async def _send_mark(self, playback: Playback, name: str) -> None:
        if playback.sent_ms == playback.echoed_ms and not playback.marks:
            return  # nothing new to mark
        playback.marks[name] = playback.sent_ms
        await self._send(mark_frame(self.stream_sid, name))

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
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.call_sid:
            await self.ctx.store.update_turn(self.call_sid, turn_index, **fields)

    def _in_background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def finish(self) -> None:
        """Stop everything; save the message and the caller's recording; close the record."""
        for task in (self._dtmf_task, self.turn_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.call_sid is None or self.call_dir is None:
            return
        self.ctx.active_calls.pop(self.call_sid, None)
        await self._close_record(self.call_sid, self.call_dir)

    async def _close_record(self, call_sid: str, call_dir: Path) -> None:
        """The caller's recording (and message) on disk, then the outcome on the record."""
        store = self.ctx.store
        if self.inbound:
            await write_mulaw_wav(call_dir / WHOLE_CALL_FILE, bytes(self.inbound))
        outcome = "conversation" if self.turns_started else "no_speech"
        if self.message_start is not None:
            message = bytes(self.inbound[self.message_start :])
            path = await write_mulaw_wav(call_dir / MESSAGE_FILE, message)
            await store.update_call(call_sid, message_audio_path=path)
            outcome = "message"
        record = await store.get_call(call_sid)
        if record is not None and record.ended_at is None:
            await store.finish_call(call_sid, status="completed", outcome=outcome)
        else:
            await store.update_call(call_sid, outcome=outcome)
