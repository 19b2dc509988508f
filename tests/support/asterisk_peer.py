"""A scripted Asterisk: plays Asterisk's side of chan_websocket and of AudioSocket over real
sockets, for tests and the phone bench. Asterisk is the edge of the world here (it cannot run
on this box), so this peer behaves as its C source does (chan_websocket.c, res_audiosocket.c,
app_audiosocket.c of Asterisk 22) and records the time of everything for assertions.

chan_websocket (`Dial(WebSocket/<conn>/c(slin)f(json)v(call=...,from=...,to=...),,g)`):
Asterisk is the WebSocket *client*. It connects to the `uri` of `websocket_client.conf`
with the `v()` values appended as a query string (commas become `&`; each value must already
be URI-encoded), offers subprotocol `media`, sends HTTP Basic auth from `username`/`password`,
offers no extension (a server that answers with one is refused), then sends the JSON
`MEDIA_START`. Caller audio goes out as 320-byte binary messages (20 ms of 8 kHz 16-bit
little-endian PCM) at real time. The app's binary messages are cut into 320-byte frames and
queued (a tail shorter than a frame is dropped unless START_MEDIA_BUFFERING is on; a message
arriving while 1000 frames are queued is ignored whole; MEDIA_XOFF at 900, MEDIA_XON below 800);
a 20 ms timer plays one frame per tick. MARK_MEDIA queues a MEDIA_MARK_PROCESSED that is sent
when the timer reaches it, i.e. once the audio queued before it has played (its
`correlation_id` must be a JSON string: anything else comes back as ""). FLUSH_MEDIA empties
the queue, marks included (they never fire). HANGUP ends the leg (the WebSocket closes with
1000). Text messages over 128 bytes are ignored; text that is not JSON gets an ERROR event.

AudioSocket (`AudioSocket(<uuid>,<host>:<port>)`): Asterisk is the TCP client. Frames are
`kind (1 byte) + length (2 bytes, big-endian) + payload`: 0x01 the call's UUID (16 bytes,
first), 0x10 audio (8 kHz slin, 320-byte frames from the caller), 0x03 DTMF (one ASCII byte,
Asterisk -> app only), 0x00 hangup, 0xFF error. From the app Asterisk accepts only audio
(0x10-0x18, non-empty) and 0x00; anything else (DTMF, UUID, error) makes AudioSocket() fail
and the call hang up. Asterisk never paces or queues the app's audio: each frame is written to
the caller as it arrives, so the app paces at 20 ms itself. app_audiosocket hangs up after 2 s
with no traffic; it counts the caller's side too, but a line with silence suppression sends
nothing, so this peer applies the strict form the app must survive: 2 s with nothing from the
app hangs up. When the caller hangs up Asterisk just closes the socket.

Times are `time.perf_counter()` seconds, like `tests/support/twilio_client.py`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import socket
import string
import struct
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import websockets
from websockets.typing import Subprotocol

SAMPLE_RATE = 8000
FRAME_BYTES = 320  # 20 ms of 8 kHz 16-bit mono: Asterisk's optimal_frame_size for slin
FRAME_S = 0.020
SILENT_FRAME = bytes(FRAME_BYTES)
QUEUE_LENGTH_MAX = 1000
QUEUE_LENGTH_XOFF = 900
QUEUE_LENGTH_XON = 800
MAX_TEXT_MESSAGE_LEN = 128
AUDIOSOCKET_IDLE_S = 2.0

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_AUDIO = 0x10
KIND_AUDIO_LAST = 0x18  # 0x11-0x18: slin at 12-192 kHz, accepted by Asterisk 22
KIND_ERROR = 0xFF


def uri_encode(value: str) -> str:
    """Asterisk's URIENCODE(): everything but letters, digits and -_.!~*'() is %XX."""
    return quote(value, safe="-_.!~*'()")


def uri_verify_encoded(value: str) -> bool:
    """chan_websocket's check on each `v()` name and value (ast_uri_verify_encoded)."""
    i = 0
    while i < len(value):
        if value[i] == "%":
            if i + 2 >= len(value) or value[i + 1] not in string.hexdigits:
                return False
            i += 3
        elif value[i].isascii() and (value[i].isalnum() or value[i] in "-_.+"):
            i += 1
        else:
            return False
    return True


def dial_query(params: dict[str, str]) -> str:
    """The query string Asterisk appends for `v(name=value,...)`: values go as written in the
    dialplan (encode them there), and Dial fails when one is not URI-safe."""
    for name, value in params.items():
        if not (uri_verify_encoded(name) and uri_verify_encoded(value)):
            raise ValueError(f"Dial would fail: v() parameter {name}={value!r} is not URI-encoded")
    return "&".join(f"{name}={value}" for name, value in params.items())


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def frames_of(pcm: bytes) -> list[bytes]:
    """`pcm` as 320-byte frames, the last one padded with silence."""
    frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]
    if frames and len(frames[-1]) < FRAME_BYTES:
        frames[-1] = frames[-1] + bytes(FRAME_BYTES - len(frames[-1]))
    return frames


@dataclass(frozen=True)
class Stamped:
    at: float  # time.perf_counter()
    data: Any


class _Caller:
    """The caller's side of the line: one frame every 20 ms on a monotonic schedule (silence
    between utterances when `continuous`), `say()` returning when its last frame is sent."""

    def __init__(self, send: Callable[[bytes], Any], *, continuous: bool, speed: float) -> None:
        self._send = send
        self._continuous = continuous
        self._period = FRAME_S / speed
        self._frames: deque[tuple[bytes, asyncio.Future[float] | None]] = deque()
        self.sent_frames = 0
        self.speech_ended_at: list[float] = []
        self.stopped = False

    def stop(self) -> None:
        """The call ended: the caller says no more (an awaited `say()` raises)."""
        self.stopped = True
        while self._frames:
            _, done = self._frames.popleft()
            if done is not None and not done.done():
                done.set_exception(ConnectionError("the call ended before the caller finished"))

    def say_nowait(self, pcm: bytes) -> asyncio.Future[float]:
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if self.stopped:
            done.set_exception(ConnectionError("the call has ended"))
            return done
        frames = frames_of(pcm) or [SILENT_FRAME]
        for i, frame in enumerate(frames):
            self._frames.append((frame, done if i == len(frames) - 1 else None))
        return done

    async def run(self) -> None:
        started = time.perf_counter()
        tick = 0
        while not self.stopped:
            tick += 1
            delay = started + tick * self._period - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._frames:
                frame, done = self._frames.popleft()
            elif self._continuous:
                frame, done = SILENT_FRAME, None
            else:
                continue
            await self._send(frame)
            self.sent_frames += 1
            if done is not None and not done.done():
                sent_at = time.perf_counter()
                self.speech_ended_at.append(sent_at)
                done.set_result(sent_at)


async def _wait_until(
    condition: Callable[[], bool],
    changed: asyncio.Event,
    ended: Callable[[], bool],
    within_s: float,
) -> None:
    deadline = time.perf_counter() + within_s
    while not condition():
        if ended():
            if condition():
                return
            raise AssertionError("the call ended before the condition held")
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise AssertionError("timed out waiting for the condition")
        changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), min(remaining, 0.1))


# ---------------------------------------------------------------- chan_websocket


@dataclass
class ChanWebSocketPeer:
    """Asterisk dialling `WebSocket/<connection_id>/c(slin)f(json)v(call=..,from=..,to=..)`."""

    uri: str  # websocket_client.conf `uri`, e.g. ws://127.0.0.1:8001/asterisk/media
    username: str | None = None
    password: str | None = None
    call: str = "1765000000.1"  # the caller channel's ${UNIQUEID}
    from_number: str = "+74951234567"
    to_number: str = "+74957654321"
    params: dict[str, str] | None = None  # v() as written, when a test needs other values
    connection_id: str = "lidia"  # the websocket_client.conf section
    channel_id: str = ""  # the WebSocket channel's own uniqueid (not the caller's)
    channel_variables: dict[str, str] = field(default_factory=dict)
    continuous: bool = True  # caller audio never stops (silence between utterances), as RTP
    caller_speed: float = 1.0  # >1 sends caller audio faster than Asterisk ever does
    # What happened, with times:
    sent: list[Stamped] = field(default_factory=list)  # text events Asterisk sent (dicts)
    commands: list[Stamped] = field(default_factory=list)  # text the app sent (parsed JSON)
    ignored_texts: list[Stamped] = field(default_factory=list)  # too long, or no known command
    received_audio: list[Stamped] = field(default_factory=list)  # app binary messages
    played: list[Stamped] = field(default_factory=list)  # app frames as the caller heard them
    flushes: list[Stamped] = field(default_factory=list)  # {"frames": n, "marks": [...]}
    dropped_bytes: int = 0  # app audio Asterisk threw away (sub-frame tails, full queue)
    subprotocol: str | None = None
    ended: str | None = None  # hangup_command | app_closed | caller_hangup
    ended_at: float | None = None
    close_code: int | None = None

    def __post_init__(self) -> None:
        self.channel_id = self.channel_id or self.call.rsplit(".", 1)[0] + ".2"
        self._queue: deque[bytes | str] = deque()  # frames, and control texts (str)
        self._queue_length = 0  # frames only
        self._queue_full = self._paused = self._report_drained = self._bulk = False
        self._leftover = b""
        self._ws: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self._caller = _Caller(
            self._send_audio, continuous=self.continuous, speed=self.caller_speed
        )

    # ------------------------------------------------------------ connection

    @property
    def url(self) -> str:
        params = self.params
        if params is None:
            params = {
                "call": self.call,
                "from": uri_encode(self.from_number),
                "to": uri_encode(self.to_number),
            }
        sep = "&" if "?" in self.uri else "?"
        return f"{self.uri}{sep}{dial_query(params)}" if params else self.uri

    async def __aenter__(self) -> ChanWebSocketPeer:
        headers = {}
        if self.username:
            headers["Authorization"] = basic_auth(self.username, self.password or "")
        self._ws = await websockets.connect(
            self.url,
            subprotocols=[Subprotocol("media")],
            additional_headers=headers,
            compression=None,  # Asterisk offers no extension
            user_agent_header=None,
            max_size=None,
            open_timeout=5,
        )
        self.subprotocol = self._ws.subprotocol
        variables = {
            "MEDIA_WEBSOCKET_OPTIMAL_FRAME_SIZE": str(FRAME_BYTES),
            "MEDIA_WEBSOCKET_CONNECTION_ID": self.connection_id,
            **self.channel_variables,
        }
        await self._event(
            "MEDIA_START",
            connection_id=self.connection_id,
            channel=f"WebSocket/{self.connection_id}/0x{id(self):x}",
            format="slin",
            optimal_frame_size=FRAME_BYTES,
            ptime=20,
            channel_variables=variables,
        )
        loop = asyncio.get_running_loop()
        for job in (self._read(), self._play(), self._caller.run()):
            self._tasks.append(loop.create_task(job))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.ended is None:
            await self.hangup()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _end(self, reason: str) -> None:
        if self.ended is None:
            self.ended, self.ended_at = reason, time.perf_counter()
        self._caller.stop()
        self._changed.set()

    # ------------------------------------------------------------ what Asterisk sends

    async def _event(self, name: str, **fields: Any) -> None:
        message = {"event": name, "channel_id": self.channel_id, **fields}
        await self._send_text(json.dumps(message, separators=(",", ":"), ensure_ascii=False))

    async def _send_text(self, text: str) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self._ws.send(text)
            self.sent.append(Stamped(time.perf_counter(), json.loads(text)))
            self._changed.set()

    async def _send_audio(self, frame: bytes) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self._ws.send(frame)

    async def say(self, pcm: bytes) -> float:
        """The caller speaks `pcm` (8 kHz s16le); returns when its last frame went out."""
        return await self._caller.say_nowait(pcm)

    def say_nowait(self, pcm: bytes) -> asyncio.Future[float]:
        return self._caller.say_nowait(pcm)

    async def dtmf(self, digit: str) -> None:
        await self._event("DTMF_END", digit=digit)

    async def hangup(self) -> None:
        """The caller hangs up: Asterisk closes the WebSocket with 1000."""
        self._end("caller_hangup")
        with contextlib.suppress(websockets.ConnectionClosed):
            await self._ws.close(1000)
        self.close_code = self._ws.close_code

    # ------------------------------------------------------------ what the app sends

    async def _read(self) -> None:
        try:
            async for message in self._ws:
                at = time.perf_counter()
                if isinstance(message, bytes):
                    self.received_audio.append(Stamped(at, message))
                    await self._queue_audio(message)
                else:
                    await self._handle_text(message, at)
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self._ws.close_code
            self._end("app_closed")

    async def _queue_audio(self, payload: bytes) -> None:
        if self._queue_length >= QUEUE_LENGTH_MAX:
            self.dropped_bytes += len(payload)
            return
        if self._bulk and self._leftover:
            needed = FRAME_BYTES - len(self._leftover)
            self._leftover += payload[:needed]
            payload = payload[needed:]
            if len(self._leftover) < FRAME_BYTES:
                return
            await self._queue_frame(self._leftover)
        self._leftover = b""
        whole = len(payload) - len(payload) % FRAME_BYTES
        for i in range(0, whole, FRAME_BYTES):
            await self._queue_frame(payload[i : i + FRAME_BYTES])
        if self._bulk:
            self._leftover = payload[whole:]
        else:
            self.dropped_bytes += len(payload) - whole

    async def _queue_frame(self, frame: bytes) -> None:
        self._queue.append(frame)
        self._queue_length += 1
        if not self._queue_full and self._queue_length >= QUEUE_LENGTH_XOFF:
            self._queue_full = True
            await self._event("MEDIA_XOFF")

    def _control(self, name: str, correlation_id: Any) -> str:
        cid = correlation_id if isinstance(correlation_id, str) else ""
        return json.dumps(
            {"event": name, "channel_id": self.channel_id, "correlation_id": cid},
            separators=(",", ":"),
            ensure_ascii=False,
        )

    async def _handle_text(self, text: str, at: float) -> None:
        if not text or len(text.encode()) > MAX_TEXT_MESSAGE_LEN:
            self.ignored_texts.append(Stamped(at, text))
            return
        try:
            message = json.loads(text)
        except ValueError:
            await self._event("ERROR", error_text="Unable to parse JSON command")
            return
        self.commands.append(Stamped(at, message))
        command = message.get("command") if isinstance(message, dict) else None
        if command == "HANGUP":
            self._end("hangup_command")
            with contextlib.suppress(websockets.ConnectionClosed):
                await self._ws.close(1000)
        elif command == "MARK_MEDIA":
            self._queue.append(self._control("MEDIA_MARK_PROCESSED", message.get("correlation_id")))
        elif command == "FLUSH_MEDIA":
            marks = [json.loads(c)["correlation_id"] for c in self._queue if isinstance(c, str)]
            self.flushes.append(Stamped(at, {"frames": self._queue_length, "marks": marks}))
            self._queue.clear()
            self._queue_length, self._bulk, self._leftover = 0, False, b""
        elif command == "GET_STATUS":
            await self._event(
                "STATUS",
                queue_length=self._queue_length,
                xon_level=QUEUE_LENGTH_XON,
                xoff_level=QUEUE_LENGTH_XOFF,
                queue_full=self._queue_full,
                bulk_media=self._bulk,
                media_paused=self._paused,
            )
        elif command == "REPORT_QUEUE_DRAINED":
            self._report_drained = True
        elif command in ("PAUSE_MEDIA", "CONTINUE_MEDIA"):
            self._paused = command == "PAUSE_MEDIA"
        elif command == "START_MEDIA_BUFFERING":
            self._bulk = True
        elif command == "STOP_MEDIA_BUFFERING":
            self._bulk = False
            if self._leftover:
                await self._queue_frame(self._leftover)
            self._leftover = b""
            completed = self._control("MEDIA_BUFFERING_COMPLETED", message.get("correlation_id"))
            self._queue.append(completed)
        elif command != "ANSWER":
            self.ignored_texts.append(Stamped(at, text))  # Asterisk logs "command unknown"

    # ------------------------------------------------------------ the 20 ms playback timer

    async def _play(self) -> None:
        started = time.perf_counter()
        tick = 0
        while self.ended is None:
            tick += 1
            delay = started + tick * FRAME_S - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._tick(started + tick * FRAME_S)

    async def _tick(self, at: float) -> None:
        """One timer tick of chan_websocket's dequeue_frame(); `at` is when it was due."""
        if self._paused:
            return
        if self._queue_full and self._queue_length < QUEUE_LENGTH_XON:
            self._queue_full = False
            await self._event("MEDIA_XON")
        if not self._queue:
            if self._report_drained:
                self._report_drained = False
                await self._event("QUEUE_DRAINED")
            return
        item = self._queue.popleft()
        while isinstance(item, str):
            await self._send_text(item)
            if not self._queue:
                return
            item = self._queue.popleft()
        self._queue_length -= 1
        self.played.append(Stamped(at, item))
        self._changed.set()

    # ------------------------------------------------------------ inspection

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        return [s.data for s in self.sent if name is None or s.data.get("event") == name]

    def event_times(self, name: str) -> list[float]:
        return [s.at for s in self.sent if s.data.get("event") == name]

    def marks_processed(self) -> list[str]:
        return [e["correlation_id"] for e in self.events("MEDIA_MARK_PROCESSED")]

    def command_times(self, command: str) -> list[float]:
        return [
            s.at
            for s in self.commands
            if isinstance(s.data, dict) and s.data.get("command") == command
        ]

    def played_audio(self, since: float = 0.0) -> bytes:
        return b"".join(s.data for s in self.played if s.at >= since)

    def first_audio_after(self, at: float) -> float | None:
        """When the first binary message from the app arrived after `at`."""
        return next((s.at for s in self.received_audio if s.at > at), None)

    @property
    def speech_ended_at(self) -> list[float]:
        return self._caller.speech_ended_at

    async def wait_for(self, condition: Callable[[], bool], within_s: float = 30.0) -> None:
        await _wait_until(condition, self._changed, lambda: self.ended is not None, within_s)

    async def wait_for_mark(self, correlation_id: str, within_s: float = 30.0) -> float:
        await self.wait_for(lambda: correlation_id in self.marks_processed(), within_s)
        return next(
            s.at
            for s in self.sent
            if s.data.get("event") == "MEDIA_MARK_PROCESSED"
            and s.data["correlation_id"] == correlation_id
        )

    async def closed(self, within_s: float = 10.0) -> bool:
        deadline = time.perf_counter() + within_s
        while self.ended is None and time.perf_counter() < deadline:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.1)
        return self.ended is not None


# ---------------------------------------------------------------- AudioSocket


def audiosocket_frame(kind: int, payload: bytes = b"") -> bytes:
    return struct.pack(">BH", kind, len(payload)) + payload


@dataclass
class AudioSocketPeer:
    """Asterisk running `AudioSocket(<call_uuid>,<host>:<port>)` for one call."""

    host: str
    port: int
    call_uuid: uuid.UUID = field(default_factory=uuid.uuid4)
    continuous: bool = True  # caller audio never stops (silence between utterances)
    idle_hangup_s: float = AUDIOSOCKET_IDLE_S
    received: list[Stamped] = field(default_factory=list)  # (kind, payload) from the app
    received_audio: list[Stamped] = field(default_factory=list)  # audio payloads from the app
    protocol_errors: list[str] = field(default_factory=list)
    ended: str | None = None  # app_hangup | app_closed | protocol_error | idle | caller_hangup
    ended_at: float | None = None

    def __post_init__(self) -> None:
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self._last_from_app = time.perf_counter()
        self._caller = _Caller(self._send_audio, continuous=self.continuous, speed=1.0)

    async def __aenter__(self) -> AudioSocketPeer:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        sock = self._writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await self._write(audiosocket_frame(KIND_UUID, self.call_uuid.bytes))
        self._last_from_app = time.perf_counter()
        loop = asyncio.get_running_loop()
        for job in (self._read(), self._caller.run(), self._watch_idle()):
            self._tasks.append(loop.create_task(job))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.ended is None:
            await self.hangup()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _end(self, reason: str, *, hangup_frame: bool = False) -> None:
        if self.ended is not None:
            return
        self.ended, self.ended_at = reason, time.perf_counter()
        self._caller.stop()
        self._changed.set()
        if self._writer is not None:
            if hangup_frame:
                await self._write(audiosocket_frame(KIND_HANGUP))
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def _write(self, data: bytes) -> None:
        if self._writer is None or self._writer.is_closing():
            return
        with contextlib.suppress(OSError):
            self._writer.write(data)
            await self._writer.drain()

    async def _send_audio(self, frame: bytes) -> None:
        if self.ended is None:
            await self._write(audiosocket_frame(KIND_AUDIO, frame))

    # ------------------------------------------------------------ the caller

    async def say(self, pcm: bytes) -> float:
        return await self._caller.say_nowait(pcm)

    def say_nowait(self, pcm: bytes) -> asyncio.Future[float]:
        return self._caller.say_nowait(pcm)

    async def dtmf(self, digit: str) -> None:
        await self._write(audiosocket_frame(KIND_DTMF, digit.encode("ascii")))

    async def hangup(self, *, hangup_frame: bool = False) -> None:
        """The caller hangs up. Asterisk just closes the socket; `hangup_frame` sends 0x00 first,
        as other AudioSocket clients do."""
        await self._end("caller_hangup", hangup_frame=hangup_frame)

    # ------------------------------------------------------------ the app

    async def _read(self) -> None:
        assert self._reader is not None
        try:
            while True:
                header = await self._reader.readexactly(3)
                kind, length = struct.unpack(">BH", header)
                payload = await self._reader.readexactly(length) if length else b""
                at = self._last_from_app = time.perf_counter()
                self.received.append(Stamped(at, (kind, payload)))
                self._changed.set()
                if kind == KIND_HANGUP:
                    await self._end("app_hangup")  # AudioSocket() returns 0: the dialplan goes on
                    return
                if KIND_AUDIO <= kind <= KIND_AUDIO_LAST and length > 0:
                    self.received_audio.append(Stamped(at, payload))
                    continue
                self.protocol_errors.append(f"kind 0x{kind:02x} length {length} from the app")
                await self._end("protocol_error")  # AudioSocket() returns -1: the call hangs up
                return
        except (asyncio.IncompleteReadError, ConnectionError):
            await self._end("app_closed")  # a closed socket is a graceful end too

    async def _watch_idle(self) -> None:
        while self.ended is None:
            idle = time.perf_counter() - self._last_from_app
            if idle >= self.idle_hangup_s:
                await self._end("idle")
                return
            await asyncio.sleep(min(0.05, self.idle_hangup_s - idle))

    # ------------------------------------------------------------ inspection

    def audio(self) -> bytes:
        return b"".join(s.data for s in self.received_audio)

    def first_audio_after(self, at: float) -> float | None:
        return next((s.at for s in self.received_audio if s.at > at), None)

    def frame_gaps_ms(self, since: float = 0.0) -> list[float]:
        """Gaps between the app's consecutive audio frames (20 ms each when paced right)."""
        times = [s.at for s in self.received_audio if s.at >= since]
        return [(b - a) * 1000 for a, b in itertools.pairwise(times)]

    @property
    def speech_ended_at(self) -> list[float]:
        return self._caller.speech_ended_at

    async def wait_for(self, condition: Callable[[], bool], within_s: float = 30.0) -> None:
        await _wait_until(condition, self._changed, lambda: self.ended is not None, within_s)

    async def closed(self, within_s: float = 10.0) -> bool:
        deadline = time.perf_counter() + within_s
        while self.ended is None and time.perf_counter() < deadline:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.1)
        return self.ended is not None
