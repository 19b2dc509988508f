"""Asterisk AudioSocket (Asterisk 18+, older PBXs) as a `CallLine`, and its TCP server.

Frames: `kind (1 byte) + length (2 bytes, big-endian) + payload`. From Asterisk: `0x01` the
call's UUID (16 bytes, always first), `0x10` audio (8 kHz slin, 320-byte frames), `0x03` DTMF
(one ASCII byte), `0x00` hang-up, `0xFF` error; a closed socket is a hang-up too. To Asterisk
we send only audio and `0x00` (anything else, even DTMF, hangs the call up).

Asterisk neither queues nor paces what we send, and gives up after 2 s with no traffic, so
this line does both: a sender writes exactly one 320-byte frame every 20 ms on a monotonic
schedule (frame n at start + n × 20 ms, so there is no drift), silence when Лидия says
nothing. Marks are told back when the sender reaches them (the audio before them has gone
out at real time, i.e. it has played); a flush drops what is queued (barge-in = stop
sending), marks included.

Caller ID is not carried: the dialplan registers the call first (`POST /asterisk/calls/{UUID}`
with `from` and `to`), which makes its record; a connection for a UUID that was not
registered is closed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
import uuid
from collections import deque

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
from lidia.phone.context import PhoneContext
from lidia.phone.ids import asterisk_call_id
from lidia.phone.prompts import PhonePrompt

log = logging.getLogger("phone.audiosocket")

CARRIER = "audiosocket"
KIND_HANGUP, KIND_UUID, KIND_DTMF, KIND_AUDIO, KIND_ERROR = 0x00, 0x01, 0x03, 0x10, 0xFF
FRAME_S = 0.020
SILENT_FRAME = bytes(320)
MULAW_SILENT_FRAME = b"\xff" * 160
FIRST_FRAME_S = 5.0  # the UUID frame comes at once after connecting
RESYNC_S = 0.2  # the sender fell this far behind (a stalled loop): restart the schedule


def frame(kind: int, payload: bytes = b"") -> bytes:
    return struct.pack(">BH", kind, len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    kind, length = struct.unpack(">BH", await reader.readexactly(3))
    return kind, (await reader.readexactly(length) if length else b"")


class AudioSocketLine:
    """One AudioSocket connection, after its UUID frame named a registered call."""

    carrier = CARRIER
    speaks_transfer_notice = False

    def __init__(
        self,
        ctx: PhoneContext,
        calls: AsteriskCalls,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        call_id: str,
        started: CallStarted,
    ) -> None:
        self.ctx = ctx
        self.calls = calls
        self.reader = reader
        self.writer = writer
        self.call_id = call_id
        self.codec = SlinCodec()
        self._events: asyncio.Queue[LineEvent] = asyncio.Queue()
        self._events.put_nowait(started)
        self._outbound: deque[bytes | str] = deque()  # μ-law frames, and mark names (str)
        self._closed = False
        self._tasks = [
            asyncio.create_task(self._read(), name=f"audiosocket-read-{call_id}"),
            asyncio.create_task(self._pace(), name=f"audiosocket-pace-{call_id}"),
        ]

    # ------------------------------------------------------------------ in

    async def receive(self, timeout_s: float) -> LineEvent | None:
        try:
            return await asyncio.wait_for(self._events.get(), timeout_s)
        except TimeoutError:
            return None

    async def _read(self) -> None:
        try:
            while True:
                kind, payload = await read_frame(self.reader)
                if kind == KIND_AUDIO:
                    self._events.put_nowait(CallerAudio(self.codec.to_mulaw(payload)))
                elif kind == KIND_DTMF:
                    digit = payload[:1].decode("ascii", "replace")
                    self._events.put_nowait(Digit(digit))
                elif kind == KIND_HANGUP:
                    break
                elif kind == KIND_ERROR:
                    code = payload.hex() or "none"
                    self._events.put_nowait(LineProblem(f"AudioSocket error frame ({code})"))
                else:
                    self._events.put_nowait(LineProblem(f"AudioSocket frame 0x{kind:02x} ignored"))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass  # the caller hung up: Asterisk just closes the socket
        self._closed = True
        self._events.put_nowait(HungUp())

    # ------------------------------------------------------------------ out, paced

    async def _pace(self) -> None:
        """One frame every 20 ms from `started`, silence when nothing is queued."""
        started, sent = time.monotonic(), 0
        try:
            while not self._closed:
                while self._outbound and isinstance(self._outbound[0], str):
                    self._events.put_nowait(MarkPlayed(self._outbound.popleft()))  # type: ignore[arg-type]
                mulaw = self._outbound.popleft() if self._outbound else None
                audio = SILENT_FRAME if mulaw is None else self.codec.from_mulaw(mulaw)  # type: ignore[arg-type]
                self.writer.write(frame(KIND_AUDIO, audio))
                await self.writer.drain()
                sent += 1
                due = started + sent * FRAME_S
                late = time.monotonic() - due
                if late > RESYNC_S:  # a stalled loop: no burst to catch up, a new schedule
                    started, sent = time.monotonic(), 0
                    continue
                if late < 0:
                    await asyncio.sleep(-late)
        except (ConnectionError, OSError):
            self._closed = True

    async def send_audio(self, mulaw: bytes) -> None:
        if not self._closed:
            self._outbound.append(bytes(mulaw).ljust(160, b"\xff"))

    async def mark(self, name: str) -> None:
        if not self._closed:
            self._outbound.append(name)

    async def flush(self) -> None:
        self._outbound.clear()  # marks behind the flushed audio never fire, as on chan_websocket

    async def hang_up(self) -> None:
        await self.calls.decide(self.ctx.store, self.call_id, HANGUP)
        await self._end_leg()

    async def transfer(self, number: str, notice: PhonePrompt | None) -> None:
        if self._closed:
            raise LineError("the call has already ended")
        await self.calls.decide(self.ctx.store, self.call_id, transfer_step(number))
        await self._end_leg()  # AudioSocket() returns; the dialplan asks `next`

    async def _end_leg(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._tasks[1].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._tasks[1]
        with contextlib.suppress(ConnectionError, OSError):
            self.writer.write(frame(KIND_HANGUP))
            await self.writer.drain()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


class AudioSocketServer:
    """The TCP server Asterisk's `AudioSocket(<UUID>,<host>:<port>)` connects to."""

    def __init__(self, ctx: PhoneContext, calls: AsteriskCalls) -> None:
        self.ctx = ctx
        self.calls = calls
        self.server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        self.server = await asyncio.start_server(self._connected, host, port)
        log.info("AudioSocket listening on %s:%s", host, port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._connections.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from lidia.phone.call.conversation import CallConversation
        from lidia.phone.call_end import after_call  # the conversation's modules, once needed

        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        call_id = await self._call_of(reader)
        if call_id is None:
            return
        self.calls.connected.add(call_id)
        try:
            details = {"carrier": CARRIER, "peer": str(writer.get_extra_info("peername"))}
            dial_status = self.calls.returning.pop(call_id, None)
            if dial_status is not None:
                details["dial_status"] = dial_status
            unanswered = (dial_status or "").upper() in NOT_ANSWERED
            started = CallStarted(call_id, details, transfer_unanswered=unanswered)
            line = AudioSocketLine(self.ctx, self.calls, reader, writer, call_id, started)
            try:
                await CallConversation(self.ctx, line).run()
            finally:
                await line.close()
            self.ctx.in_background(after_call(self.ctx, call_id))
        finally:
            self.calls.connected.discard(call_id)

    async def _call_of(self, reader: asyncio.StreamReader) -> str | None:
        """The registered call the UUID frame names (None: closed without a word)."""
        try:
            kind, payload = await asyncio.wait_for(read_frame(reader), FIRST_FRAME_S)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            return None
        if kind != KIND_UUID or len(payload) != 16:
            log.warning("AudioSocket connection without a UUID frame first closed")
            return None
        call_id = asterisk_call_id(str(uuid.UUID(bytes=payload)))
        record = await self.ctx.store.get_call(call_id) if call_id else None
        if call_id is None or record is None or record.carrier != CARRIER:
            log.warning("AudioSocket call %s was not registered; closed", call_id)
            return None
        back = call_id in self.calls.returning  # after a transfer nobody answered
        if call_id in self.calls.connected or (record.ended_at is not None and not back):
            log.warning("AudioSocket call %s already had its connection; closed", call_id)
            return None
        return call_id
