"""`CallRecorder`: Лидия's side placed on the call's clock (inbound samples), from what the
session tells it: sent frames, marks and their echoes, `clear`, the call's end."""

from __future__ import annotations

import io
import wave

import numpy as np

from lidia.audio.codecs import float_to_int16, mulaw_to_pcm, pcm_to_mulaw
from lidia.phone.call.playback import Playback
from lidia.phone.call.recorder import CallRecorder


def tone(samples: int, level: float) -> bytes:
    """Distinct μ-law audio per playback, so each sample says whose it is."""
    t = np.arange(samples) / 8000
    return pcm_to_mulaw((level * np.sin(2 * np.pi * 440 * t)).astype(np.float32))


def pcm(mulaw: bytes) -> np.ndarray:
    return float_to_int16(mulaw_to_pcm(mulaw))


def test_audio_queues_back_to_back_and_a_clear_cuts_what_was_still_queued() -> None:
    recorder = CallRecorder()
    greeting, reply, apology = Playback("greeting", None), Playback("turn1", 1), Playback("x", None)
    recorder.sent(greeting, tone(1600, 0.2), at=0)
    recorder.sent(greeting, tone(1600, 0.2), at=0)  # queued behind the first piece
    recorder.sent(reply, tone(4000, 0.4), at=800)  # sent while the greeting still played
    recorder.cleared(at=5000)  # barge-in: 1800 of the reply's 4000 samples were heard
    recorder.sent(apology, tone(800, 0.6), at=6000)
    recorder.ended(at=6400)  # the caller hung up halfway through the apology

    spans = recorder.spans()
    assert [(s.playback.name, s.start, len(s.mulaw)) for s in spans] == [
        ("greeting", 0, 3200),
        ("turn1", 3200, 1800),
        ("x", 6000, 400),
    ]
    assert recorder.start_s(reply) == 0.4
    assert [(p.name, start, heard) for p, start, heard in recorder.playbacks()] == [
        ("greeting", 0.0, 0.4),
        ("turn1", 0.4, 0.225),
        ("x", 0.75, 0.05),
    ]
    channel = recorder.lidia_channel(6400)
    assert np.array_equal(channel[3200:5000], pcm(tone(4000, 0.4))[:1800])
    assert not channel[5000:6000].any()


def test_a_late_mark_echo_delays_what_follows_and_echoes_of_cleared_marks_do_not() -> None:
    recorder = CallRecorder()
    first, second = Playback("turn1", 1), Playback("turn2", 2)
    recorder.sent(first, tone(800, 0.3), at=0)
    recorder.marked("turn1-s1")
    recorder.sent(first, tone(800, 0.3), at=0)
    recorder.marked("turn1-end")
    recorder.mark_echoed("turn1-s1", at=1000)  # Twilio started 200 samples late
    assert [(s.start, len(s.mulaw)) for s in recorder.spans()] == [(0, 800), (1000, 800)]
    recorder.cleared(at=1500)
    recorder.mark_echoed("turn1-end", at=1500)  # returned by the clear: says nothing
    recorder.sent(second, tone(160, 0.5), at=1500)
    assert [(s.playback.name, s.start, len(s.mulaw)) for s in recorder.spans()] == [
        ("turn1", 0, 800),
        ("turn1", 1000, 500),
        ("turn2", 1500, 160),
    ]


def test_the_stereo_file_holds_the_caller_left_and_lidia_right() -> None:
    recorder = CallRecorder()
    recorder.sent(Playback("greeting", None), tone(320, 0.5), at=160)
    caller = tone(1000, 0.1)
    with wave.open(io.BytesIO(recorder.stereo_wav(caller))) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    assert np.array_equal(frames[:, 0], pcm(caller))
    right = np.zeros(1000, dtype=np.int16)
    right[160:480] = pcm(tone(320, 0.5))
    assert np.array_equal(frames[:, 1], right)
