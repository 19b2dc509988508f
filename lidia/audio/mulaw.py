"""Phone audio: G.711 μ-law at 8 kHz in 20 ms frames, as Twilio Media Streams carries it.

The μ-law codec itself lives in `audio.py` (`pcm_to_mulaw` / `mulaw_to_pcm`); this module
adds what a live call needs on top: resampling any reply rate to 8 kHz *incrementally*
(so sentence pieces join without clicks) and cutting the result into 160-byte frames.
Everything here is fast, pure CPU work: safe to call on the event loop for 20 ms pieces.
"""

from __future__ import annotations

import numpy as np
import soxr

from lidia.audio.codecs import (
    MULAW_FRAME_BYTES,
    MULAW_SAMPLE_RATE,
    mulaw_to_pcm,
    pcm_to_mulaw,
    resample,
)

__all__ = [
    "FRAME_MS",
    "MULAW_FRAME_BYTES",
    "MULAW_SAMPLE_RATE",
    "MULAW_SILENCE",
    "MulawFramer",
    "mulaw_frames",
    "mulaw_to_pcm",
    "pcm_to_mulaw",
    "to_phone_mulaw",
]

FRAME_MS = 20
MULAW_SILENCE = b"\xff"  # μ-law code of 0 (positive zero)


def to_phone_mulaw(samples: np.ndarray, sample_rate: int) -> bytes:
    """A whole clip as 8 kHz μ-law bytes (resampled with soxr when needed)."""
    return pcm_to_mulaw(resample(samples, sample_rate, MULAW_SAMPLE_RATE))


def mulaw_frames(data: bytes, *, pad: bool = True) -> list[bytes]:
    """Split μ-law bytes into 20 ms (160-byte) frames; the last one is padded with silence."""
    frames = [data[i : i + MULAW_FRAME_BYTES] for i in range(0, len(data), MULAW_FRAME_BYTES)]
    if pad and frames and len(frames[-1]) < MULAW_FRAME_BYTES:
        frames[-1] = frames[-1] + MULAW_SILENCE * (MULAW_FRAME_BYTES - len(frames[-1]))
    return frames


class MulawFramer:
    """Turns a stream of float32 pieces at `sample_rate` into whole 160-byte μ-law frames.

    `feed()` returns the frames completed so far; the remainder waits for the next piece,
    and `flush()` pads it with silence. Resampling state is kept across pieces (no seams).
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._resampler = (
            None
            if sample_rate == MULAW_SAMPLE_RATE
            else soxr.ResampleStream(sample_rate, MULAW_SAMPLE_RATE, 1, dtype="float32")
        )
        self._pending = b""

    def feed(self, samples: np.ndarray) -> list[bytes]:
        return self._frames(self._to_8k(samples, last=False))

    def flush(self) -> list[bytes]:
        tail = self._to_8k(np.zeros(0, dtype=np.float32), last=True)
        frames = self._frames(tail)
        if self._pending:
            frames += mulaw_frames(self._pending, pad=True)
            self._pending = b""
        return frames

    def _to_8k(self, samples: np.ndarray, *, last: bool) -> np.ndarray:
        array = np.asarray(samples, dtype=np.float32)
        if self._resampler is None:
            return array
        return self._resampler.resample_chunk(array, last=last)

    def _frames(self, samples_8k: np.ndarray) -> list[bytes]:
        data = self._pending + pcm_to_mulaw(samples_8k)
        whole = len(data) - len(data) % MULAW_FRAME_BYTES
        self._pending = data[whole:]
        return mulaw_frames(data[:whole], pad=False)
