"""Twilio Media Streams wire format, apart from any turn logic (see design.md §4).

Inbound: each WebSocket text frame becomes one typed event (`parse_frame`); anything
unreadable (not JSON, not an object, an unknown event, a missing or mistyped field, bad
base64, a binary frame, one over `MAX_FRAME_CHARS`, nesting past Python's recursion limit)
raises `MalformedFrame`, whose message says what was wrong.
Outbound: `media_frame`, `mark_frame` and `clear_frame` build the JSON text we send.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

DTMF_DIGITS = frozenset("0123456789*#ABCD")
# Twilio's largest frame (`start`, with our parameters) is ~1 KB and a `media` frame ~250 B:
# anything far bigger is not Twilio and is refused before it is parsed.
MAX_FRAME_CHARS = 64 * 1024


class MalformedFrame(ValueError):
    """A frame that is not a Twilio Media Streams event we can read."""


@dataclass(frozen=True)
class Connected:
    protocol: str | None = None


@dataclass(frozen=True)
class Start:
    call_sid: str
    stream_sid: str
    custom_parameters: dict[str, Any] = field(default_factory=dict)
    media_format: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Media:
    payload: bytes  # raw μ-law 8 kHz
    track: str = "inbound"


@dataclass(frozen=True)
class Mark:
    name: str


@dataclass(frozen=True)
class Dtmf:
    digit: str


@dataclass(frozen=True)
class Stop:
    pass


Event = Connected | Start | Media | Mark | Dtmf | Stop


def parse_frame(text: str | bytes | None) -> Event:
    """One inbound frame as an event; `MalformedFrame` for anything else."""
    if not isinstance(text, str):
        raise MalformedFrame("binary frame ignored (Twilio sends text)")
    if len(text) > MAX_FRAME_CHARS:
        raise MalformedFrame(f"unreadable message ignored: {len(text)} chars > {MAX_FRAME_CHARS}")
    data = _json_object(text)
    event = data.get("event")
    if not isinstance(event, str):
        raise MalformedFrame(f"unreadable message ignored: {text[:80]!r}")
    parser = _PARSERS.get(event)
    if parser is None:
        raise MalformedFrame(f"unknown event ignored: {event[:40]!r}")
    try:
        return parser(data)
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
        raise MalformedFrame(f"malformed {event!r} message ignored: {exc!r}") from exc


def _json_object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        data = None
    if not isinstance(data, dict):
        raise MalformedFrame(f"unreadable message ignored: {text[:80]!r}")
    return data


def _connected(data: dict[str, Any]) -> Connected:
    protocol = data.get("protocol")
    return Connected(str(protocol) if protocol is not None else None)


def _start(data: dict[str, Any]) -> Start:
    start = _field(data, "start")
    return Start(
        call_sid=str(start["callSid"]),
        stream_sid=str(start.get("streamSid") or data["streamSid"]),
        custom_parameters=_optional_object(start, "customParameters"),
        media_format=_optional_object(start, "mediaFormat"),
    )


def _media(data: dict[str, Any]) -> Media:
    media = _field(data, "media")
    payload = media["payload"]
    if not isinstance(payload, str):
        raise TypeError("media.payload is not a string")
    return Media(base64.b64decode(payload, validate=True), str(media.get("track", "inbound")))


def _mark(data: dict[str, Any]) -> Mark:
    return Mark(str(_field(data, "mark")["name"]))


def _dtmf(data: dict[str, Any]) -> Dtmf:
    digit = str(_field(data, "dtmf")["digit"])
    if digit not in DTMF_DIGITS:
        raise ValueError(f"not a DTMF digit: {digit[:8]!r}")
    return Dtmf(digit)


def _stop(data: dict[str, Any]) -> Stop:
    return Stop()


def _field(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data[name]
    if not isinstance(value, dict):
        raise TypeError(f"{name} is not an object")
    return value


def _optional_object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name) or {}
    if not isinstance(value, dict):
        raise TypeError(f"{name} is not an object")
    return value


_PARSERS = {
    "connected": _connected,
    "start": _start,
    "media": _media,
    "mark": _mark,
    "dtmf": _dtmf,
    "stop": _stop,
}


def media_frame(stream_sid: str | None, mulaw: bytes) -> str:
    """Audio for the caller: raw μ-law 8 kHz (no header), base64 in a `media` event."""
    payload = base64.b64encode(mulaw).decode("ascii")
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def mark_frame(stream_sid: str | None, name: str) -> str:
    """Twilio echoes this mark once all audio sent before it has played."""
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_frame(stream_sid: str | None) -> str:
    """Drop the audio Twilio has buffered but not yet played (barge-in)."""
    return json.dumps({"event": "clear", "streamSid": stream_sid})
