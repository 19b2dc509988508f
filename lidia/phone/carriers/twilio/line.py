"""A Twilio Media Streams WebSocket as a `CallLine` (design.md §4).

Inbound frames become line events (`wire.parse_frame`); the stream's `start` is accepted only
once per live call, with its one-time token (`stream_tokens.claim_stream`), else the socket is
closed (1008). Out: `media` (μ-law as is), `mark`, `clear`. Transfer and hang-up change the
live call through Twilio's REST API: `<Dial>` the number (its `action` brings an unanswered
call back to `/twilio/dial`), with the notice played by Twilio first, or `status=completed`.
"""

from __future__ import annotations

import asyncio
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
from lidia.phone.carriers.twilio.wire import (
    Connected,
    Dtmf,
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
from lidia.phone.carriers.websocket_messages import WebSocketMessages
from lidia.phone.context import PhoneContext
from lidia.phone.prompts import PhonePrompt
from lidia.phone.stream_tokens import (
    StreamRefused,
    claim_stream,
    presented_token,
    public_parameters,
)
from lidia.phone.transfer import dial_action_url
from lidia.phone.twilio_rest import TwilioCalls, TwilioRestError
from lidia.phone.twiml import dial_twiml

log = logging.getLogger("phone.twilio")


class TwilioMediaLine:
    """One accepted Media Streams WebSocket."""

    carrier = "twilio"
    speaks_transfer_notice = True  # `<Play>` before `<Dial>` in the redirect's TwiML

    def __init__(self, ctx: PhoneContext, websocket: WebSocket) -> None:
        self.ctx = ctx
        self.ws = websocket
        self.call_sid: str | None = None
        self.stream_sid: str | None = None
        self._messages = WebSocketMessages(websocket)
        self._send_lock = asyncio.Lock()  # turn tasks and the receive loop both send
        self._closed = False

    # ------------------------------------------------------------------ in

    async def receive(self, timeout_s: float) -> LineEvent | None:
        deadline = time.monotonic() + timeout_s
        while (message := await self._messages.next(deadline)) is not None:
            if message["type"] == "websocket.disconnect":
                return HungUp(message.get("code"))
            event = await self._event(message.get("text"))
            if event is not None:
                return event
        return None

    async def _event(self, text: str | None) -> LineEvent | None:
        try:
            frame = parse_frame(text)
        except MalformedFrame as exc:
            return LineProblem(str(exc))
        match frame:
            case Start():
                return await self._on_start(frame)
            case Media():
                if self.call_sid is None or frame.track != "inbound":
                    return None  # before start there is no call to attach it to
                return CallerAudio(frame.payload)
            case Mark():
                return MarkPlayed(frame.name)
            case Dtmf():
                return Digit(frame.digit)
            case Stop():
                log.info("media stream stopped for call %s", self.call_sid)
                return HungUp()
            case Connected():
                log.debug("media stream connected (protocol %s)", frame.protocol)
        return None

    async def _on_start(self, start: Start) -> LineEvent:
        call_sid = start.call_sid
        if self.call_sid is not None:  # this socket already carries a call
            return LineProblem("second start on one stream ignored")
        try:  # once per live call, with its one-time token; refused before anything is touched
            await claim_stream(self.ctx.store, call_sid, presented_token(start.custom_parameters))
        except StreamRefused as exc:
            log.warning("media stream for call %r refused: %s", call_sid[:64], exc)
            await self.close(code=1008, reason=str(exc))
            return HungUp()
        self.call_sid, self.stream_sid = call_sid, start.stream_sid
        details = {
            "streamSid": self.stream_sid,
            "customParameters": public_parameters(start.custom_parameters),
            "mediaFormat": start.media_format,
        }
        return CallStarted(call_sid, details)

    # ------------------------------------------------------------------ out

    async def _send(self, frame: str) -> None:
        if self._closed:
            return
        async with self._send_lock:
            await self.ws.send_text(frame)

    async def send_audio(self, mulaw: bytes) -> None:
        await self._send(media_frame(self.stream_sid, mulaw))

    async def mark(self, name: str) -> None:
        await self._send(mark_frame(self.stream_sid, name))

    async def flush(self) -> None:
        await self._send(clear_frame(self.stream_sid))

    async def hang_up(self) -> None:
        await self._rest_call(lambda rest, sid: rest.hang_up(sid))

    async def transfer(self, number: str, notice: PhonePrompt | None) -> None:
        base = self.ctx.settings.public_base_url
        notice_url = None
        if notice is not None and base:
            notice_url = f"{base.rstrip('/')}/audio/{self.ctx.audio.put(notice.wav)}"
        twiml = dial_twiml(
            self.ctx.settings, number, dial_action_url(self.ctx), notice_url=notice_url
        )
        await self._rest_call(lambda rest, sid: rest.redirect(sid, str(twiml)))

    async def _rest_call(self, act: Any) -> None:
        rest = TwilioCalls.from_settings(self.ctx.settings)
        if rest is None:
            raise LineError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed to act")
        if self.call_sid is None:
            raise LineError("no call on this stream yet")
        try:
            await act(rest, self.call_sid)
        except TwilioRestError as exc:
            raise LineError(str(exc)) from exc

    def release(self) -> None:
        """The conversation is over: stop waiting for frames (the route then returns, which
        closes the socket as before)."""
        self._messages.release()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.release()
        if not self._closed:
            self._closed = True
            await self.ws.close(code=code, reason=reason)
