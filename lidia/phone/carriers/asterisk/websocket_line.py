"""Asterisk chan_websocket as a `CallLine` (Asterisk 20.16 / 21.11 / 22.6+; JSON control 20.18 /
22.8+).

Asterisk is the WebSocket client: it connects to `WS /asterisk/media?call=…&from=…&to=…` (the
`v()` values of the dialplan's `Dial(WebSocket/…)`) and first sends `MEDIA_START` (`format`
`slin` or `slin16`). Then caller audio arrives as binary messages (20 ms, 16-bit little-endian)
and events as JSON text (`DTMF_END`, `MEDIA_MARK_PROCESSED`, `MEDIA_XOFF`/`MEDIA_XON`, `ERROR`).
Our audio goes out in whole frames (Asterisk drops a shorter tail), queued and played by
Asterisk in real time; `MARK_MEDIA` comes back as `MEDIA_MARK_PROCESSED` once the audio before
it has played, `FLUSH_MEDIA` empties the queue (marks behind it never fire), `HANGUP` ends the
leg and the dialplan goes on (Dial's `g`), asking `next` what to do.

Asterisk queues 1000 frames (20 s) at most and ignores whatever arrives beyond; its
`MEDIA_XOFF` comes too late to stop a reply sent at synthesis speed (hundreds of frames are
already on the way). So the line keeps its own account of what is queued there (each frame
plays 20 ms after the one before) and holds the sender while more than `MAX_AHEAD_S` is
queued; and while Asterisk says `MEDIA_XOFF`, nothing more is sent: audio and marks wait
here, in order, until `MEDIA_XON`. A flush drops both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from fastapi import WebSocket

from lidia.phone.call.line import (
    CallerAudio,
    CallStarted,
    Digit,
    HungUp,
    LineError,
    LineEvent,
    LineProblem,
    MarkPlayed,
)
from lidia.phone.carriers.asterisk.calls import (
    HANGUP,
    NOT_ANSWERED,
    AsteriskCalls,
    transfer_step,
)
from lidia.phone.carriers.asterisk.slin import SlinCodec
from lidia.phone.carriers.websocket_messages import WebSocketMessages
from lidia.phone.context import PhoneContext
from lidia.phone.prompts import PhonePrompt

log = logging.getLogger("phone.asterisk")

CARRIER = "asterisk"
DTMF_DIGITS = frozenset("0123456789*#ABCD")
FRAME_S = 0.020
MAX_AHEAD_S = 10.0  # audio queued in Asterisk at most (it takes 20 s; XOFF at 18 s)
MAX_TEXT_CHARS = 64 * 1024  # Asterisk's events are small; anything far bigger is not Asterisk


class AsteriskWebSocketLine:
    """One accepted chan_websocket connection, for the call the dialplan named."""

    carrier = CARRIER
    speaks_transfer_notice = False  # Лидия says the notice, then the leg ends

    def __init__(
        self,
        ctx: PhoneContext,
        calls: AsteriskCalls,
        websocket: WebSocket,
        call_id: str,
        *,
        from_number: str | None,
        to_number: str | None,
        dial_status: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.calls = calls
        self.ws = websocket
        self.call_id = call_id
        self.from_number = from_number
        self.to_number = to_number
        self.dial_status = dial_status  # set when a transfer came back (the second leg)
        self.codec: SlinCodec | None = None  # from MEDIA_START's format
        self._out = bytearray()  # slin not yet a whole frame (slin16 resampling)
        self._held: list[bytes | str] = []  # what waits for MEDIA_XON
        self._xoff = False
        self._queued_until = 0.0  # monotonic time when what Asterisk holds has played
        self._messages = WebSocketMessages(self.ws)
        self._send_lock = asyncio.Lock()
        self._closed = False

    # ------------------------------------------------------------------ in

    async def receive(self, timeout_s: float) -> LineEvent | None:
        deadline = time.monotonic() + timeout_s
        while (message := await self._messages.next(deadline)) is not None:
            if message["type"] == "websocket.disconnect":
                self._closed = True
                return HungUp(message.get("code"))
            if message.get("bytes") is not None:
                event = self._audio(message["bytes"])
            else:
                event = await self._text(message.get("text") or "")
            if event is not None:
                return event
        return None

    def _audio(self, data: bytes) -> LineEvent | None:
        if self.codec is None:
            return None  # before MEDIA_START there is no call to attach it to
        mulaw = self.codec.to_mulaw(data)
        return CallerAudio(mulaw) if mulaw else None

    async def _text(self, text: str) -> LineEvent | None:
        if len(text) > MAX_TEXT_CHARS:
            return LineProblem(f"unreadable message ignored: {len(text)} chars")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("event"), str):
            return LineProblem(f"unreadable message ignored: {text[:80]!r}")
        event = data["event"]
        if event == "MEDIA_START":
            return await self._on_start(data)
        if event == "DTMF_END":
            digit = str(data.get("digit", ""))
            if digit not in DTMF_DIGITS or len(digit) != 1:
                return LineProblem(f"malformed DTMF_END ignored: {digit[:8]!r}")
            return Digit(digit)
        if event == "MEDIA_MARK_PROCESSED":
            return MarkPlayed(str(data.get("correlation_id", "")))
        if event == "MEDIA_XOFF":
            self._xoff = True
        elif event == "MEDIA_XON":
            await self._resume()
        elif event == "ERROR":
            return LineProblem(f"Asterisk: {str(data.get('error_text', data))[:200]}")
        else:
            log.debug("call %s: Asterisk event %s", self.call_id, event)
        return None

    async def _on_start(self, data: dict[str, Any]) -> LineEvent:
        if self.codec is not None:
            return LineProblem("second MEDIA_START on one connection ignored")
        try:
            self.codec = SlinCodec.for_format(str(data.get("format", "slin")))
        except ValueError as exc:
            log.error("call %s refused: %s", self.call_id, exc)
            await self.close(1003, str(exc))
            return HungUp()
        store = self.ctx.store
        created = await store.create_call(
            self.call_id,
            from_number=self.from_number,
            to_number=self.to_number,
            mode="stream",
            carrier=CARRIER,
        )
        returning = not created and self.dial_status is not None
        if not created and not returning:
            log.warning("call %s already had its leg; second connection refused", self.call_id)
            await self.close(1008, "call already has a stream")
            return HungUp()
        details = {
            "carrier": CARRIER,
            "format": data.get("format"),
            "channel": data.get("channel"),
            "channel_id": data.get("channel_id"),
            "connection_id": data.get("connection_id"),
        }
        if returning:
            details["dial_status"] = self.dial_status
        unanswered = returning and (self.dial_status or "").upper() in NOT_ANSWERED
        return CallStarted(self.call_id, details, transfer_unanswered=unanswered)

    # ------------------------------------------------------------------ out

    async def _send(self, message: bytes | str, *, control: bool = False) -> None:
        if self._closed:
            return
        async with self._send_lock:
            if self._xoff and not control:
                self._held.append(message)
                return
            await self._write(message)

    async def _write(self, message: bytes | str) -> None:
        try:
            if isinstance(message, bytes):
                await self.ws.send_bytes(message)
            else:
                await self.ws.send_text(message)
        except (RuntimeError, OSError) as exc:  # the peer went away mid-send
            log.info("call %s: send after close dropped (%s)", self.call_id, exc)
            self._closed = True

    async def _resume(self) -> None:
        async with self._send_lock:
            self._xoff = False
            held, self._held = self._held, []
            for message in held:
                await self._write(message)

    async def _command(self, command: str, **fields: Any) -> None:
        text = json.dumps({"command": command, **fields}, ensure_ascii=False)
        await self._send(text, control=command in ("FLUSH_MEDIA", "HANGUP"))

    async def send_audio(self, mulaw: bytes) -> None:
        if self.codec is None:
            return
        self._out += self.codec.from_mulaw(mulaw)
        size = self.codec.frame_bytes
        whole = len(self._out) - len(self._out) % size  # Asterisk drops a shorter tail
        if not whole:
            return
        frames, self._out = bytes(self._out[:whole]), self._out[whole:]
        now = time.monotonic()
        ahead = self._queued_until - now
        if ahead > MAX_AHEAD_S:  # the turn's task waits; a flush (barge-in) cancels it
            await asyncio.sleep(ahead - MAX_AHEAD_S)
            now = time.monotonic()
        self._queued_until = max(self._queued_until, now) + FRAME_S * (whole // size)
        await self._send(frames)

    async def mark(self, name: str) -> None:
        await self._command("MARK_MEDIA", correlation_id=name)  # a JSON string, as required

    async def flush(self) -> None:
        async with self._send_lock:
            self._held.clear()  # audio and marks behind the flush: never played
            self._out.clear()
            self._queued_until = 0.0
        await self._command("FLUSH_MEDIA")

    async def hang_up(self) -> None:
        await self.calls.decide(self.ctx.store, self.call_id, HANGUP)
        await self._command("HANGUP")

    async def transfer(self, number: str, notice: PhonePrompt | None) -> None:
        if self._closed:
            raise LineError("the call has already ended")
        await self.calls.decide(self.ctx.store, self.call_id, transfer_step(number))
        await self._command("HANGUP")  # the dialplan asks `next` and dials the number

    def release(self) -> None:
        self._messages.release()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.release()
        if not self._closed:
            self._closed = True
            with contextlib.suppress(RuntimeError, OSError):
                await self.ws.close(code=code, reason=reason)
