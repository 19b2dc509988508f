"""Лидия's side of a streamed call, placed on the call's own clock, for the two-sided recording.

The clock is the caller's audio: Twilio sends it without pause (silence included, 20 ms
frames), so the number of inbound samples received so far is "now" in the call, in samples
at 8 kHz. What we send is queued by Twilio and played back to back, in real time, from when
it arrives. So a piece of audio starts playing at the latest of: the call time it was sent,
the end of what was queued before it, and (after a `mark` came back late) the time that mark
was echoed. A `clear` drops everything still queued at that moment (barge-in), and nothing
plays after the call ended.

The session only tells the recorder what happened (`sent`, `marked`, `mark_echoed`,
`cleared`, `ended`); the timeline is worked out from that log when it is asked for, so a
late mark echo can still move audio that was sent before it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from lidia.audio.codecs import float_to_int16
from lidia.audio.mulaw import MULAW_SAMPLE_RATE, mulaw_to_pcm
from lidia.audio.stereo import stereo_wav_bytes
from lidia.phone.call.playback import Playback


@dataclass(frozen=True)
class _Sent:
    playback: Playback
    at: int  # call time (samples) when it was sent
    mulaw: bytes


@dataclass(frozen=True)
class PlayedSpan:
    """A run of one playback's audio as the caller heard it: from `start` (call samples)."""

    playback: Playback
    start: int
    mulaw: bytes

    @property
    def end(self) -> int:
        return self.start + len(self.mulaw)


class CallRecorder:
    """Collects what was sent and what Twilio said about it; renders Лидия's channel."""

    def __init__(self) -> None:
        self._sent: list[_Sent] = []
        self._floors: dict[int, int] = {}  # piece index → may not start before (call time)
        self._clears: list[tuple[int, int]] = []  # (pieces sent before it, call time)
        self._marks: dict[str, int] = {}  # mark name → pieces sent before it
        self.ended_at: int | None = None

    # ------------------------------------------------------------ what happened

    def sent(self, playback: Playback, mulaw: bytes, at: int) -> None:
        """`mulaw` (8 kHz) was sent to Twilio at call time `at` for `playback`."""
        if mulaw:
            self._sent.append(_Sent(playback, at, mulaw))

    def marked(self, name: str) -> None:
        """A mark named `name` was sent after everything sent so far."""
        self._marks[name] = len(self._sent)

    def mark_echoed(self, name: str, at: int) -> None:
        """Twilio played up to mark `name` at call time `at`: what follows starts no earlier.

        Echoes of marks a `clear` already dropped (Twilio returns them) say nothing."""
        index = self._marks.pop(name, None)
        if index is None or any(before >= index for before, _ in self._clears):
            return
        self._floors[index] = max(self._floors.get(index, 0), at)

    def cleared(self, at: int) -> None:
        """`clear` was sent at call time `at`: everything still queued then is dropped."""
        self._clears.append((len(self._sent), at))

    def ended(self, at: int) -> None:
        self.ended_at = at

    # ------------------------------------------------------------ the timeline

    def spans(self) -> list[PlayedSpan]:
        """What was heard of each piece sent, where, in order (dropped pieces left out)."""
        spans: list[PlayedSpan] = []
        queue_end = 0
        for index, piece in enumerate(self._sent):
            start = max(piece.at, queue_end, self._floors.get(index, 0))
            stop = min(start + len(piece.mulaw), self._cut_for(index))
            if stop <= start:
                continue
            heard = piece.mulaw[: stop - start]
            last = spans[-1] if spans else None
            if last is not None and last.playback is piece.playback and last.end == start:
                spans[-1] = PlayedSpan(piece.playback, last.start, last.mulaw + heard)
            else:
                spans.append(PlayedSpan(piece.playback, start, heard))
            queue_end = stop
        return spans

    def _cut_for(self, index: int) -> int:
        """Where piece `index` stops playing at the latest: the first clear sent after it,
        else the end of the call."""
        for before, at in self._clears:
            if before > index:
                return at
        return self.ended_at if self.ended_at is not None else sys.maxsize

    def start_s(self, playback: Playback) -> float | None:
        """When `playback` began to be heard, in seconds from the call's start."""
        for span in self.spans():
            if span.playback is playback:
                return round(span.start / MULAW_SAMPLE_RATE, 3)
        return None

    def playbacks(self) -> list[tuple[Playback, float, float]]:
        """Each playback heard, once: (playback, start s, seconds heard), in call order."""
        heard: dict[int, tuple[Playback, int, int]] = {}
        for span in self.spans():
            playback, start, length = heard.get(id(span.playback), (span.playback, span.start, 0))
            heard[id(span.playback)] = (playback, start, length + len(span.mulaw))
        return [
            (playback, round(start / MULAW_SAMPLE_RATE, 3), round(n / MULAW_SAMPLE_RATE, 3))
            for playback, start, n in heard.values()
        ]

    def lidia_channel(self, length: int) -> np.ndarray:
        """Лидия's audio as int16, `length` samples long (silence where she said nothing)."""
        channel = np.zeros(length, dtype=np.int16)
        for span in self.spans():
            if span.start >= length:
                break
            piece = float_to_int16(mulaw_to_pcm(span.mulaw[: length - span.start]))
            channel[span.start : span.start + len(piece)] = piece
        return channel

    def stereo_wav(self, caller_mulaw: bytes) -> bytes:
        """The whole call: the caller on the left, Лидия on the right, 8 kHz 16-bit."""
        caller = float_to_int16(mulaw_to_pcm(caller_mulaw))
        return stereo_wav_bytes(caller, self.lidia_channel(len(caller)), MULAW_SAMPLE_RATE)
