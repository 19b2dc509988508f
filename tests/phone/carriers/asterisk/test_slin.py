"""Asterisk's slin (8 kHz) and slin16 (16 kHz) to and from the conversation's 8 kHz μ-law."""

from __future__ import annotations

import numpy as np
import pytest

from lidia.audio.codecs import float_to_int16
from lidia.audio.mulaw import mulaw_to_pcm
from lidia.phone.carriers.asterisk.slin import SlinCodec


def tone(rate: int, seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def level(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.mark.parametrize("name, rate", [("slin", 8000), ("slin16", 16000)])
def test_a_tone_survives_the_round_trip_frame_by_frame(name: str, rate: int) -> None:
    codec = SlinCodec.for_format(name)
    assert codec.frame_bytes == rate // 50 * 2  # Asterisk's optimal_frame_size
    pcm = float_to_int16(tone(rate, 1.0)).astype("<i2").tobytes()
    frames = [pcm[i : i + codec.frame_bytes] for i in range(0, len(pcm), codec.frame_bytes)]
    mulaw = b"".join(codec.to_mulaw(f) for f in frames)
    assert len(mulaw) == pytest.approx(8000, abs=8)  # 8 kHz, one byte a sample, at once
    heard = mulaw_to_pcm(mulaw)[80:-80]
    assert level(heard) == pytest.approx(0.4 / np.sqrt(2), rel=0.05)

    back = b"".join(codec.from_mulaw(mulaw[i : i + 160]) for i in range(0, len(mulaw), 160))
    samples = np.frombuffer(back, dtype="<i2").astype(np.float32) / 32768
    assert len(back) == pytest.approx(len(pcm), abs=16)
    assert level(samples[rate // 100 : -rate // 100]) == pytest.approx(0.4 / np.sqrt(2), rel=0.05)


def test_an_unknown_format_is_named() -> None:
    with pytest.raises(ValueError, match="ulaw"):
        SlinCodec.for_format("ulaw")
