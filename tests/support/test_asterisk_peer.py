"""The scripted Asterisk speaks chan_websocket and AudioSocket as Asterisk does: checked here
against tiny servers on 127.0.0.1 that play the app's side with the plain `websockets` and
asyncio stream APIs (frame encoding, the query string, mark timing, flush, flow control,
AudioSocket's frames and its idle hang-up)."""

from __future__ import annotations

import asyncio
import json
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import websockets
from websockets.asyncio.server import ServerConnection
from websockets.typing import Subprotocol

from tests.support.asterisk_peer import (
    FRAME_BYTES,
    AudioSocketPeer,
    ChanWebSocketPeer,
    audiosocket_frame,
    basic_auth,
    dial_query,
    uri_encode,
)

USER, PASSWORD = "asterisk", "s3cret"


def tone(frames: int, value: int = 1000) -> bytes:
    """Recognisable audio: every sample of frame i is value + i (s16le)."""
    return b"".join(struct.pack("<h", value + i) * (FRAME_BYTES // 2) for i in range(frames))


@dataclass
class MediaServer:
    """The app's end of chan_websocket, reduced to what the test drives by hand."""

    port: int = 0
    accepted: asyncio.Queue[ServerConnection] = field(default_factory=asyncio.Queue)

    @property
    def uri(self) -> str:
        return f"ws://127.0.0.1:{self.port}/asterisk/media"

    async def handler(self, ws: ServerConnection) -> None:
        await self.accepted.put(ws)
        await ws.wait_closed()


@pytest.fixture
async def media_server() -> AsyncIterator[MediaServer]:
    server = MediaServer()
    async with websockets.serve(
        server.handler, "127.0.0.1", 0, subprotocols=[Subprotocol("media")]
    ) as ws_server:
        server.port = ws_server.sockets[0].getsockname()[1]
        yield server


async def next_event(ws: ServerConnection, name: str | None = None) -> dict[str, Any]:
    """The next text message (skipping the caller's audio), optionally of one event."""
    while True:
        message = await asyncio.wait_for(ws.recv(), 5)
        if isinstance(message, str):
            event = json.loads(message)
            if name is None or event["event"] == name:
                return event


async def send(ws: ServerConnection, **command: Any) -> None:
    await ws.send(json.dumps(command))


def peer_for(server: MediaServer, **options: Any) -> ChanWebSocketPeer:
    return ChanWebSocketPeer(server.uri, USER, PASSWORD, **options)


# ---------------------------------------------------------------- chan_websocket


async def test_connects_like_asterisk_and_starts_with_media_start(
    media_server: MediaServer,
) -> None:
    async with peer_for(media_server, call="1765000000.7") as peer:
        ws = await media_server.accepted.get()
        request = ws.request
        assert request is not None
        url = urlsplit(request.path)
        assert url.path == "/asterisk/media"
        assert parse_qs(url.query) == {
            "call": ["1765000000.7"],
            "from": ["+74951234567"],  # URIENCODE'd: the + survives query decoding
            "to": ["+74957654321"],
        }
        assert request.headers["Authorization"] == basic_auth(USER, PASSWORD)
        assert request.headers["Sec-WebSocket-Protocol"] == "media"
        assert "Sec-WebSocket-Extensions" not in request.headers
        assert ws.subprotocol == peer.subprotocol == "media"

        start = json.loads(await asyncio.wait_for(ws.recv(), 5))  # the very first message
        assert start["event"] == "MEDIA_START"
        assert start["format"] == "slin" and start["optimal_frame_size"] == 320
        assert start["ptime"] == 20 and start["connection_id"] == "lidia"
        assert start["channel_id"] != "1765000000.7"  # the WebSocket leg's own id
        assert start["channel_variables"]["MEDIA_WEBSOCKET_OPTIMAL_FRAME_SIZE"] == "320"

        speech = tone(10)
        said = asyncio.ensure_future(peer.say(speech))
        heard = b""
        while speech not in heard:
            frame = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(frame, bytes) and len(frame) == FRAME_BYTES
            heard += frame
        ended_at = await said
        assert peer.speech_ended_at == [ended_at]


async def test_mark_fires_once_the_audio_before_it_has_played(media_server: MediaServer) -> None:
    async with peer_for(media_server) as peer:
        ws = await media_server.accepted.get()
        await next_event(ws, "MEDIA_START")
        audio = tone(25)  # 0.5 s in one message: Asterisk re-times it
        sent_at = time.perf_counter()
        await ws.send(audio)
        await send(ws, command="MARK_MEDIA", correlation_id="m1")
        mark = await next_event(ws, "MEDIA_MARK_PROCESSED")
        marked_at = time.perf_counter()

        assert mark["correlation_id"] == "m1"
        assert peer.played_audio() == audio
        assert marked_at - sent_at >= 0.5  # 25 frames at 20 ms each come first
        assert marked_at - sent_at < 1.5
        played = [s.at for s in peer.played]
        assert played[-1] - played[0] == pytest.approx(0.48, abs=0.001)  # the timer's schedule
        assert peer.event_times("MEDIA_MARK_PROCESSED")[0] >= played[-1]


async def test_flush_drops_queued_audio_and_the_marks_behind_it(media_server: MediaServer) -> None:
    async with peer_for(media_server) as peer:
        ws = await media_server.accepted.get()
        await next_event(ws, "MEDIA_START")
        await ws.send(tone(100))  # 2 s
        await send(ws, command="MARK_MEDIA", correlation_id="before")
        await asyncio.sleep(0.2)
        await send(ws, command="FLUSH_MEDIA")
        await ws.send(tone(5, value=5000))
        await send(ws, command="MARK_MEDIA", correlation_id="after")
        await next_event(ws, "MEDIA_MARK_PROCESSED")

        assert peer.marks_processed() == ["after"]
        (flush,) = peer.flushes
        assert flush.data["marks"] == ["before"] and 50 < flush.data["frames"] < 100
        assert peer.played_audio().endswith(tone(5, value=5000))
        assert len(peer.played) == 100 - flush.data["frames"] + 5


async def test_flow_control_status_and_drained(media_server: MediaServer) -> None:
    async with peer_for(media_server) as peer:
        ws = await media_server.accepted.get()
        await next_event(ws, "MEDIA_START")
        await ws.send(tone(950))
        assert (await next_event(ws))["event"] == "MEDIA_XOFF"
        await ws.send(tone(200))  # over 1000 queued after this one: the next is ignored whole
        await ws.send(tone(1))
        await send(ws, command="GET_STATUS")
        status = await next_event(ws, "STATUS")
        assert 1000 <= status["queue_length"] <= 1150 and status["queue_full"] is True
        assert peer.dropped_bytes == FRAME_BYTES

        await send(ws, command="FLUSH_MEDIA")
        await next_event(ws, "MEDIA_XON")  # on the next tick, the queue being short again
        await send(ws, command="REPORT_QUEUE_DRAINED")
        await ws.send(tone(2))
        await next_event(ws, "QUEUE_DRAINED")
        assert peer.event_times("QUEUE_DRAINED")[0] >= peer.played[-1].at


async def test_what_asterisk_ignores_or_refuses(media_server: MediaServer) -> None:
    async with peer_for(media_server) as peer:
        ws = await media_server.accepted.get()
        await next_event(ws, "MEDIA_START")
        await ws.send(tone(2)[:500])  # one whole frame; the 180-byte tail is dropped
        await ws.send(json.dumps({"command": "MARK_MEDIA", "correlation_id": "x" * 120}))
        await ws.send("not json")
        assert (await next_event(ws))["error_text"] == "Unable to parse JSON command"
        await send(ws, command="MARK_MEDIA", correlation_id=7)  # not a string: comes back ""
        mark = await next_event(ws, "MEDIA_MARK_PROCESSED")
        assert mark["correlation_id"] == ""
        assert peer.dropped_bytes == 180
        assert len(peer.played) == 1
        assert len(peer.ignored_texts) == 1  # the 128-byte limit


async def test_dtmf_and_the_hangup_command(media_server: MediaServer) -> None:
    async with peer_for(media_server) as peer:
        ws = await media_server.accepted.get()
        await next_event(ws, "MEDIA_START")
        await peer.dtmf("5")
        assert (await next_event(ws))["digit"] == "5"
        await send(ws, command="HANGUP")
        await ws.wait_closed()
        assert await peer.closed()
        assert peer.ended == "hangup_command"
        assert ws.close_code == 1000
        with pytest.raises(ConnectionError):
            await peer.say(tone(1))  # nobody is on the line any more


async def test_caller_hangup_closes_the_websocket(media_server: MediaServer) -> None:
    async with peer_for(media_server) as peer:
        ws = await media_server.accepted.get()
        await peer.hangup()
        await ws.wait_closed()
        assert ws.close_code == 1000 and peer.ended == "caller_hangup"


def test_dial_parameters_must_be_uri_encoded() -> None:
    assert uri_encode("+74951234567") == "%2B74951234567"
    assert (
        dial_query({"call": "1765000000.7", "from": "%2B7495"}) == "call=1765000000.7&from=%2B7495"
    )
    with pytest.raises(ValueError, match="from"):
        dial_query({"from": "+7 495"})


# ---------------------------------------------------------------- AudioSocket


@dataclass
class AudioSocketServer:
    """The app's end of AudioSocket: frames as (kind, payload), the writer to answer with."""

    port: int = 0
    frames: asyncio.Queue[tuple[int, bytes] | None] = field(default_factory=asyncio.Queue)
    writer: asyncio.StreamWriter | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.connected.set()
        try:
            while True:
                kind, length = struct.unpack(">BH", await reader.readexactly(3))
                await self.frames.put((kind, await reader.readexactly(length)))
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.frames.put(None)  # Asterisk closed the socket

    async def next_control(self) -> tuple[int, bytes] | None:
        """The next frame that is neither audio nor the opening UUID (None: socket closed)."""
        while True:
            frame = await asyncio.wait_for(self.frames.get(), 5)
            if frame is None or frame[0] not in (0x01, 0x10):
                return frame

    async def send(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)
        await self.writer.drain()


@pytest.fixture
async def audiosocket_server() -> AsyncIterator[AudioSocketServer]:
    app = AudioSocketServer()
    server = await asyncio.start_server(app.handle, "127.0.0.1", 0)
    app.port = server.sockets[0].getsockname()[1]
    async with server:
        yield app
        if app.writer is not None:
            app.writer.close()


async def test_audiosocket_frames_uuid_audio_and_dtmf(
    audiosocket_server: AudioSocketServer,
) -> None:
    app = audiosocket_server
    async with AudioSocketPeer("127.0.0.1", app.port) as peer:
        first = await asyncio.wait_for(app.frames.get(), 5)
        assert first == (0x01, peer.call_uuid.bytes)
        kind, audio = await asyncio.wait_for(app.frames.get(), 5)
        assert kind == 0x10 and len(audio) == FRAME_BYTES
        await peer.dtmf("7")
        assert await app.next_control() == (0x03, b"7")

        started = time.perf_counter()
        for i in range(10):  # the app paces its own audio
            await app.send(audiosocket_frame(0x10, tone(1, value=i)))
            await asyncio.sleep(max(0.0, started + (i + 1) * 0.02 - time.perf_counter()))
        await peer.wait_for(lambda: len(peer.received_audio) == 10)
        assert peer.audio() == b"".join(tone(1, value=i) for i in range(10))
        assert len(peer.frame_gaps_ms()) == 9


async def test_audiosocket_hangs_up_after_two_silent_seconds(
    audiosocket_server: AudioSocketServer,
) -> None:
    app = audiosocket_server
    async with AudioSocketPeer("127.0.0.1", app.port) as peer:
        await app.connected.wait()
        await app.send(audiosocket_frame(0x10, tone(1)))
        await peer.wait_for(lambda: bool(peer.received_audio))
        assert await peer.closed(within_s=5)
        assert peer.ended == "idle"
        assert peer.ended_at is not None
        assert peer.ended_at - peer.received_audio[-1].at >= 2.0
        assert await app.next_control() is None  # the socket closed


@pytest.mark.parametrize(
    ("frame", "ended"),
    [
        (audiosocket_frame(0x03, b"1"), "protocol_error"),  # DTMF towards Asterisk: call hung up
        (audiosocket_frame(0x10), "protocol_error"),  # empty audio
        (audiosocket_frame(0x00), "app_hangup"),  # AudioSocket() returns, the dialplan goes on
    ],
)
async def test_audiosocket_frames_from_the_app_that_end_the_call(
    audiosocket_server: AudioSocketServer, frame: bytes, ended: str
) -> None:
    app = audiosocket_server
    async with AudioSocketPeer("127.0.0.1", app.port) as peer:
        await app.connected.wait()
        await app.send(frame)
        assert await peer.closed()
        assert peer.ended == ended
        assert bool(peer.protocol_errors) == (ended == "protocol_error")
        assert await app.next_control() is None
