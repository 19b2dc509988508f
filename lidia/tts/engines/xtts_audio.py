"""XTTS output clean-up: speed clamping, the quiet tail after a sentence, stream hold-back.

XTTS often ends a sentence with low hiss or breath; `trim_trailing_noise` cuts it so the
pauses between chunks stay even. A stream cannot know its end in advance, so
`TailTrimmer` keeps the last `STREAM_HOLDBACK_S` of audio back until the next piece (or
the end, where the trim applies).
"""

from __future__ import annotations

import math

import numpy as np
import torch

# XTTS changes speed by stretching GPT latents linearly before the vocoder; outside this
# range the result slurs or chirps, so requests (OpenAI allows 0.25-4.0) are clamped.
SPEED_RANGE = (0.5, 2.0)
# Audio a stream keeps back until the next piece, so the end can still be trimmed.
STREAM_HOLDBACK_S = 0.3


def clamp_speed(speed: float) -> float:
    """Clamp a requested speed into `SPEED_RANGE`; NaN/inf are a caller bug."""
    if not math.isfinite(speed):
        raise ValueError(f"speed must be a finite number, got {speed!r}")
    return min(max(speed, SPEED_RANGE[0]), SPEED_RANGE[1])


def frame_rms(audio: np.ndarray, frame: int) -> np.ndarray:
    """RMS of consecutive frames of `frame` samples (the last partial frame included)."""
    padded = np.pad(audio, (0, (-len(audio)) % frame))
    return np.sqrt(np.mean(padded.reshape(-1, frame) ** 2, axis=1))


def trim_trailing_noise(
    audio: np.ndarray,
    sample_rate: int,
    *,
    floor_db: float = -35.0,
    keep_ms: float = 120.0,
    fade_ms: float = 15.0,
    peak_rms: float | None = None,
) -> np.ndarray:
    """Cut the quiet tail XTTS often leaves after a sentence, then fade out.

    Frames of 20 ms quieter than `floor_db` below the loudest frame (`peak_rms`, or this
    audio's own) are trailing noise; the audio ends `keep_ms` after the last louder frame
    so natural decays survive, with a `fade_ms` fade against clicks. Loud babble after
    the sentence is not detected (that needs alignment with the text); this guard only
    removes low-level hiss, breath and silence so pauses between chunks stay even.
    """
    if audio.size == 0:
        return audio
    frame = max(1, sample_rate // 50)
    energies = frame_rms(audio, frame)
    reference = peak_rms if peak_rms is not None else float(energies.max())
    loud = np.flatnonzero(energies > reference * 10 ** (floor_db / 20))
    if loud.size == 0:
        return audio[:0] if peak_rms is not None else audio
    end = min(len(audio), (int(loud[-1]) + 1) * frame + int(sample_rate * keep_ms / 1000))
    trimmed = audio[:end].copy()
    fade = min(len(trimmed), int(sample_rate * fade_ms / 1000))
    if fade:
        trimmed[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return trimmed


def as_float_audio(wav: torch.Tensor | np.ndarray) -> np.ndarray:
    array = wav.detach().float().cpu().numpy() if isinstance(wav, torch.Tensor) else wav
    return np.clip(np.nan_to_num(np.asarray(array, dtype=np.float32).reshape(-1)), -1.0, 1.0)


class TailTrimmer:
    """Pieces of one streamed sentence in, the same audio out, its quiet tail trimmed."""

    def __init__(self, sample_rate: int) -> None:
        self._sample_rate = sample_rate
        self._holdback = int(sample_rate * STREAM_HOLDBACK_S)
        self._frame = max(1, sample_rate // 50)
        self._pending = np.zeros(0, dtype=np.float32)
        self._peak_rms = 0.0

    def push(self, piece: np.ndarray) -> np.ndarray:
        """The audio that is certainly not the tail (possibly empty)."""
        audio = np.concatenate([self._pending, piece])
        if audio.size:
            self._peak_rms = max(self._peak_rms, float(frame_rms(audio, self._frame).max()))
        if len(audio) <= self._holdback:
            self._pending = audio
            return audio[:0]
        self._pending = audio[-self._holdback :]
        return audio[: -self._holdback]

    def finish(self) -> np.ndarray:
        """The held-back end, trimmed and faded."""
        peak = self._peak_rms or None
        return trim_trailing_noise(self._pending, self._sample_rate, peak_rms=peak)
