"""The Twilio Media Streams wire format on its own: inbound frames → typed events, and the
frames we send. Frames are shaped like Twilio's documented examples."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from lidia.audio.mulaw import pcm_to_mulaw
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
from tests.support.twilio_client import silence_mulaw

STREAM_SID = "MZ" + "1" * 32
CALL_SID = "CA" + "2" * 32


def frame(**fields: object) -> str:
    return json.dumps(fields)


def test_connected_and_stop() -> None:
    connected = parse_frame(frame(event="connected", protocol="Call", version="1.0.0"))
    assert connected == Connected("Call")
    assert parse_frame(frame(event="stop", streamSid=STREAM_SID, stop={})) == Stop()


def test_start_carries_the_call_the_stream_and_our_parameters() -> None:
    start = parse_frame(
        frame(
            event="start",
            sequenceNumber="1",
            streamSid=STREAM_SID,
            start={
                "callSid": CALL_SID,
                "streamSid": STREAM_SID,
                "tracks": ["inbound"],
                "customParameters": {"callSid": CALL_SID, "from": "+79161234567"},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        )
    )
    assert start == Start(
        call_sid=CALL_SID,
        stream_sid=STREAM_SID,
        custom_parameters={"callSid": CALL_SID, "from": "+79161234567"},
        media_format={"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    )


def test_start_takes_the_stream_sid_from_the_envelope_when_start_lacks_it() -> None:
    start = parse_frame(frame(event="start", streamSid=STREAM_SID, start={"callSid": CALL_SID}))
    assert isinstance(start, Start)
    assert start.stream_sid == STREAM_SID
    assert start.custom_parameters == {} and start.media_format == {}


def test_media_decodes_the_mulaw_payload() -> None:
    audio = silence_mulaw(0.02)
    media = parse_frame(
        frame(
            event="media",
            sequenceNumber="3",
            streamSid=STREAM_SID,
            media={
                "track": "inbound",
                "chunk": "2",
                "timestamp": "40",
                "payload": base64.b64encode(audio).decode(),
            },
        )
    )
    assert media == Media(audio, "inbound")
    assert len(media.payload) == 160  # 20 ms at 8 kHz, one byte a sample


def test_mark_and_dtmf() -> None:
    assert parse_frame(frame(event="mark", mark={"name": "turn1-end"})) == Mark("turn1-end")
    assert parse_frame(frame(event="dtmf", dtmf={"track": "inbound_track", "digit": "#"})) == (
        Dtmf("#")
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("this is not json", "unreadable"),
        ("[1, 2, 3]", "unreadable"),
        (frame(event=["not", "a", "string"]), "unreadable"),
        (frame(event={"nested": 1}), "unreadable"),
        ("[" * 100_000 + "]" * 100_000, "unreadable"),  # deep garbage: json recursion limit
        (frame(event="teleport"), "unknown event"),
        (frame(event="media"), "malformed 'media'"),  # no media field
        (frame(event="media", media={"payload": "%%% not base64"}), "malformed 'media'"),
        (frame(event="media", media={"payload": 12345}), "malformed 'media'"),
        (frame(event="media", media="payload"), "malformed 'media'"),
        (frame(event="start", start={"streamSid": STREAM_SID}), "malformed 'start'"),
        (frame(event="start", start={"callSid": CALL_SID}), "malformed 'start'"),  # no sid
        (
            frame(
                event="start", streamSid=STREAM_SID, start={"callSid": CALL_SID, "mediaFormat": 1}
            ),
            "malformed 'start'",
        ),
        (frame(event="mark", mark={}), "malformed 'mark'"),
        (frame(event="dtmf", dtmf={"digit": "X"}), "malformed 'dtmf'"),  # no such key
        (frame(event="dtmf", dtmf={"digit": "12"}), "malformed 'dtmf'"),
    ],
)
def test_unreadable_frames_raise_one_error(text: str, reason: str) -> None:
    with pytest.raises(MalformedFrame, match=reason):
        parse_frame(text)


@pytest.mark.parametrize("binary", [b"\x00\x01binary", None])
def test_binary_frames_are_malformed(binary: bytes | None) -> None:
    with pytest.raises(MalformedFrame, match="binary frame"):
        parse_frame(binary)


def test_outbound_media_is_base64_mulaw_without_a_header() -> None:
    audio = pcm_to_mulaw(np.linspace(-0.5, 0.5, 160, dtype=np.float32))
    sent = json.loads(media_frame(STREAM_SID, audio))
    assert sent == {
        "event": "media",
        "streamSid": STREAM_SID,
        "media": {"payload": base64.b64encode(audio).decode("ascii")},
    }
    assert base64.b64decode(sent["media"]["payload"]) == audio


def test_outbound_mark_and_clear() -> None:
    assert json.loads(mark_frame(STREAM_SID, "greeting-end")) == {
        "event": "mark",
        "streamSid": STREAM_SID,
        "mark": {"name": "greeting-end"},
    }
    assert json.loads(clear_frame(STREAM_SID)) == {"event": "clear", "streamSid": STREAM_SID}


def test_what_we_send_is_what_we_would_read_back() -> None:
    audio = silence_mulaw(0.02)
    echoed = json.loads(media_frame(STREAM_SID, audio))
    assert parse_frame(json.dumps(echoed)) == Media(audio, "inbound")
    assert parse_frame(mark_frame(STREAM_SID, "turn2-s1")) == Mark("turn2-s1")
