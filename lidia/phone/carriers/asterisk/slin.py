"""Asterisk's signed linear audio (`slin` 8 kHz, `slin16` 16 kHz; 16-bit little-endian) to and
from the conversation's 8 kHz μ-law, one frame at a time. 16 kHz goes through soxr's streaming
resampler, which keeps its state between frames (no seams). Its quick quality is used: it
hands back every 20 ms frame at once (delay < 1 ms), where the filtered qualities hold ~60-110
ms and release it in bursts, too much for a live call; and what it skips, filtering above
4 kHz, hardly matters here: the trunk's audio is almost always G.711 at 8 kHz already."""

from __future__ import annotations

import numpy as np
import soxr

from lidia.audio.codecs import float_to_int16
from lidia.audio.mulaw import MULAW_SAMPLE_RATE, mulaw_to_pcm, pcm_to_mulaw

FORMAT_RATES = {"slin": 8000, "slin16": 16000}


class SlinCodec:
    """slin at `rate` ↔ 8 kHz μ-law."""

    def __init__(self, rate: int = MULAW_SAMPLE_RATE) -> None:
        self.rate = rate
        self.frame_bytes = rate // 50 * 2  # 20 ms
        self._down: soxr.ResampleStream | None = None
        self._up: soxr.ResampleStream | None = None
        if rate != MULAW_SAMPLE_RATE:
            self._down = soxr.ResampleStream(rate, MULAW_SAMPLE_RATE, 1, "float32", "QQ")
            self._up = soxr.ResampleStream(MULAW_SAMPLE_RATE, rate, 1, "float32", "QQ")

    @classmethod
    def for_format(cls, name: str) -> SlinCodec:
        """`slin` or `slin16` (ValueError for anything else)."""
        if name not in FORMAT_RATES:
            raise ValueError(f"unsupported audio format {name!r} (use c(slin) or c(slin16))")
        return cls(FORMAT_RATES[name])

    def to_mulaw(self, slin: bytes) -> bytes:
        pcm = np.frombuffer(slin[: len(slin) // 2 * 2], dtype="<i2")
        if self._down is None:
            return pcm_to_mulaw(pcm.astype(np.int16))
        return pcm_to_mulaw(self._down.resample_chunk(pcm.astype(np.float32) / 32768.0))

    def from_mulaw(self, mulaw: bytes) -> bytes:
        pcm = mulaw_to_pcm(mulaw)
        if self._up is not None:
            pcm = self._up.resample_chunk(pcm)
        return float_to_int16(pcm).astype("<i2").tobytes()
