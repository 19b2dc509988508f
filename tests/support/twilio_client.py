"""A scripted Twilio Media Streams client: plays Twilio's side of the protocol over a real
WebSocket (the `websockets` package), for tests and the benchmark.

It sends exactly what Twilio sends (`connected`, `start` with `customParameters`, 20 ms
`media` frames of base64 μ-law, `mark` echoes, `dtmf`, `stop`; numbers in strings) and
records everything the service sends back, with arrival times. `auto_echo_marks=True`
plays like a phone whose audio has already played out: every mark is echoed on arrival.
The signature header is computed with `twilio.request_validator.RequestValidator` over the
public `wss://` URL, as Twilio signs it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

import numpy as np
import websockets
from twilio.request_validator import RequestValidator

from lidia.audio.codecs import MULAW_FRAME_BYTES, pcm_to_mulaw, resample

FRAME_S = 0.02


def sign(auth_token: str, url: str, params: dict[str, str] | None = None) -> str:
    return RequestValidator(auth_token).compute_signature(url, params or {})


def stream_parameters(twiml: str) -> dict[str, str]:
    """The `<Parameter>`s of a `<Connect><Stream>` answer: what Twilio sends back in
    `start.customParameters` (the call's one-time `streamToken` among them)."""
    root = ElementTree.fromstring(twiml)
    return {p.attrib["name"]: p.attrib["value"] for p in root.iter("Parameter")}


def speech_mulaw(samples: np.ndarray, sample_rate: int) -> bytes:
    """Any float32 audio as 8 kHz μ-law, the way the phone network would carry it."""
    return pcm_to_mulaw(resample(samples, sample_rate, 8000))


def silence_mulaw(seconds: float) -> bytes:
    return pcm_to_mulaw(np.zeros(int(seconds * 8000), dtype=np.float32))


@dataclass
class Received:
    at: float  # time.perf_counter()
    message: dict[str, Any]


@dataclass
class TwilioMediaClient:
    url: str  # where to connect (the loopback server)
    public_url: str  # what Twilio signs (wss://public-host/twilio/media)
    auth_token: str | None
    call_sid: str
    from_number: str = "+15550001111"
    stream_sid: str = "MZ00000000000000000000000000000001"
    auto_echo_marks: bool = True
    signature: str | None = None  # overrides the computed one (forged-signature tests)
    parameters: dict[str, str] = field(default_factory=dict)  # the TwiML's <Parameter>s
    received: list[Received] = field(default_factory=list)
    sequence: int = 0
    sent_media_ms: int = 0
    last_voiced_sent_at: float | None = None
    _ws: Any = None
    _reader: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> TwilioMediaClient:
        signature = self.signature
        if signature is None and self.auth_token:
            signature = sign(self.auth_token, self.public_url)
        headers = {"X-Twilio-Signature": signature} if signature else {}
        self._ws = await websockets.connect(self.url, additional_headers=headers, max_size=None)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._ws.close()
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=5)

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                message = json.loads(raw)
                self.received.append(Received(time.perf_counter(), message))
                if self.auto_echo_marks and message.get("event") == "mark":
                    await self.echo_mark(message["mark"]["name"])
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self._changed.set()

    # ------------------------------------------------------------ Twilio's messages

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        await self._ws.send(message if isinstance(message, str | bytes) else json.dumps(message))

    def _seq(self) -> str:
        self.sequence += 1
        return str(self.sequence)

    async def connected(self) -> None:
        await self.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})

    async def start(self, **custom: str) -> None:
        parameters = {"callSid": self.call_sid, "from": self.from_number}
        parameters.update({**self.parameters, **custom})
        await self.send(
            {
                "event": "start",
                "sequenceNumber": self._seq(),
                "streamSid": self.stream_sid,
                "start": {
                    "accountSid": "AC" + "0" * 32,
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    "customParameters": parameters,
                },
            }
        )

    async def media(self, mulaw: bytes, *, realtime: bool = False, voiced: bool = False) -> None:
        """Send `mulaw` as 20 ms frames (paced at real time when `realtime`)."""
        started = time.perf_counter()
        for i in range(0, len(mulaw), MULAW_FRAME_BYTES):
            frame = mulaw[i : i + MULAW_FRAME_BYTES]
            await self.send(
                {
                    "event": "media",
                    "sequenceNumber": self._seq(),
                    "streamSid": self.stream_sid,
                    "media": {
                        "track": "inbound",
                        "chunk": str(self.sequence),
                        "timestamp": str(self.sent_media_ms),
                        "payload": base64.b64encode(frame).decode("ascii"),
                    },
                }
            )
            self.sent_media_ms += 20
            if voiced:
                self.last_voiced_sent_at = time.perf_counter()
            if realtime:
                delay = started + (i // MULAW_FRAME_BYTES + 1) * FRAME_S - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif i % (MULAW_FRAME_BYTES * 25) == 0:
                await asyncio.sleep(0)  # let the reader run

    async def echo_mark(self, name: str) -> None:
        await self.send(
            {
                "event": "mark",
                "sequenceNumber": self._seq(),
                "streamSid": self.stream_sid,
                "mark": {"name": name},
            }
        )

    async def dtmf(self, digit: str) -> None:
        await self.send(
            {
                "event": "dtmf",
                "sequenceNumber": self._seq(),
                "streamSid": self.stream_sid,
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def stop(self) -> None:
        await self.send(
            {
                "event": "stop",
                "sequenceNumber": self._seq(),
                "streamSid": self.stream_sid,
                "stop": {"accountSid": "AC" + "0" * 32, "callSid": self.call_sid},
            }
        )

    # ------------------------------------------------------------ inspection

    def messages(self, event: str | None = None) -> list[dict[str, Any]]:
        return [
            r.message for r in self.received if event is None or r.message.get("event") == event
        ]

    def marks(self) -> list[str]:
        return [m["mark"]["name"] for m in self.messages("mark")]

    def media_payloads(self, after: int = 0) -> list[bytes]:
        return [
            base64.b64decode(r.message["media"]["payload"])
            for r in self.received[after:]
            if r.message.get("event") == "media"
        ]

    async def wait_for(self, condition: Callable[[], bool], within_s: float = 30.0) -> None:
        deadline = time.perf_counter() + within_s
        while not condition():
            if self._reader is not None and self._reader.done():
                if condition():
                    return
                raise AssertionError("the service closed the stream")
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out; received {[m.get('event') for m in self.messages()][-10:]}"
                )
            self._changed.clear()
            with_timeout = asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))
            with contextlib.suppress(TimeoutError):
                await with_timeout

    async def wait_for_mark(self, name: str, within_s: float = 30.0) -> None:
        await self.wait_for(lambda: name in self.marks(), within_s)

    async def closed(self, within_s: float = 10.0) -> bool:
        if self._reader is None:
            return True
        done, _ = await asyncio.wait([self._reader], timeout=within_s)
        return bool(done)

    @property
    def close_code(self) -> int | None:
        return self._ws.close_code


# ---------------------------------------------------------------- webhooks, as Twilio posts them

TEST_AUTH_TOKEN = "test-twilio-auth-token"
TEST_PUBLIC_BASE = "https://lidia.example.com"


def webhook_form(call_sid: str, **extra: str) -> dict[str, str]:
    """The form fields Twilio posts to the voice webhook (a subset, same names)."""
    return {
        "CallSid": call_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": "+15550001111",
        "To": "+15550002222",
        "CallStatus": "ringing",
        "Direction": "inbound",
        **extra,
    }


def signed_headers(
    path: str,
    form: dict[str, str],
    *,
    token: str = TEST_AUTH_TOKEN,
    public_base: str = TEST_PUBLIC_BASE,
) -> dict[str, str]:
    return {"X-Twilio-Signature": sign(token, public_base + path, form)}
