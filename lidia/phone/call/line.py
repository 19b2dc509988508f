"""A live call, as the conversation sees it, whatever carrier carries it.

The conversation (`call.conversation.CallConversation`) reads `LineEvent`s from a `CallLine`
and drives it: Лидия's audio, marks (told back once the audio before them has played),
flush (barge-in), hang-up and transfer. Audio on this interface is 8 kHz G.711 μ-law in
20 ms frames, the telephone's own codec: one byte per sample, so a byte count is the call's
clock. Each carrier converts at its edge (Twilio Media Streams carries μ-law as is; Asterisk
chan_websocket and AudioSocket carry signed linear PCM). Adapters live in `phone.carriers`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from lidia.phone.prompts import PhonePrompt


class LineError(RuntimeError):
    """The carrier could not do what was asked (transfer, hang-up); the call goes on."""


@dataclass(frozen=True)
class CallStarted:
    """The call is connected and its record exists (the adapter made sure of it)."""

    call_id: str
    details: dict[str, Any] = field(default_factory=dict)  # logged on `stream_start`
    transfer_unanswered: bool = False  # a transfer came back: Лидия takes a message


@dataclass(frozen=True)
class CallerAudio:
    mulaw: bytes  # 8 kHz μ-law, usually one 20 ms frame


@dataclass(frozen=True)
class MarkPlayed:
    name: str  # the audio sent before `mark(name)` has played (or was dropped by a flush)


@dataclass(frozen=True)
class Digit:
    digit: str


@dataclass(frozen=True)
class HungUp:
    close_code: int | None = None  # a WebSocket close code, when the socket just closed


@dataclass(frozen=True)
class LineProblem:
    message: str  # a malformed frame: logged on the call, the call goes on


LineEvent = CallStarted | CallerAudio | MarkPlayed | Digit | HungUp | LineProblem


class CallLine(Protocol):
    """One live call's wire. Sends never raise once the line is gone (they are dropped)."""

    carrier: str  # "twilio", "asterisk" (chan_websocket), "audiosocket"

    async def receive(self, timeout_s: float) -> LineEvent | None:
        """The next event; None when `timeout_s` passed without one."""
        ...

    async def send_audio(self, mulaw: bytes) -> None: ...
    async def mark(self, name: str) -> None: ...
    async def flush(self) -> None:
        """Drop everything queued and not yet played (barge-in)."""
        ...

    async def hang_up(self) -> None: ...
    async def transfer(self, number: str, notice: PhonePrompt | None) -> None:
        """Put the caller through to `number`; `notice` is said first unless the
        conversation already said it (`speaks_transfer_notice` False). `LineError` if not."""
        ...

    @property
    def speaks_transfer_notice(self) -> bool:
        """True: `transfer` plays the notice itself (Twilio's TwiML); False: the
        conversation plays it, and transfers once it has been heard."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...
