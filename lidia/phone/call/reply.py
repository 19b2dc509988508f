"""One turn's reply while it streams in from the orchestrator: its record, its audio so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lidia.audio.mulaw import MulawFramer
from lidia.phone.call.playback import Playback
from lidia.phone.call_store import TurnRecord


@dataclass
class StreamedReply:
    """Bookkeeping for one reply; the session sends what `frames_for` returns."""

    record: TurnRecord
    latencies: dict[str, Any]  # the record's own dict, filled in as stages finish
    playback: Playback
    detected_at: float  # when the caller's turn was detected (or the DTMF digits were)
    audio: list[np.ndarray] = field(default_factory=list)
    rate: int = 0
    framer: MulawFramer | None = None
    sentences: int = 0

    def heard(self, transcript: str, now: float) -> None:
        self.record.transcript = transcript
        self.latencies.setdefault("transcript_s", round(now - self.detected_at, 4))

    def frames_for(self, samples: np.ndarray, rate: int, now: float) -> list[bytes]:
        """Keep the audio for the record; return whatever whole 20 ms μ-law frames it makes."""
        self.rate = rate
        self.audio.append(samples)
        if self.framer is None:
            self.framer = MulawFramer(rate)
            self.latencies["first_audio_event_s"] = round(now - self.detected_at, 4)
        return self.framer.feed(samples)

    def remaining_frames(self) -> list[bytes]:
        return self.framer.flush() if self.framer is not None else []

    def done(self, event: dict[str, Any]) -> None:
        self.record.reply = str(event.get("reply", ""))
        self.record.fallback = bool(event.get("fallback"))
        self.latencies["orchestrator"] = event.get("timings") or {}

    def whole_audio(self) -> np.ndarray | None:
        return np.concatenate(self.audio) if self.audio else None
