"""XTTS output clean-up: speed clamping, the quiet tail after a sentence, stream hold-back.

XTTS often ends a sentence with low hiss or breath; `trim_trailing_noise` cuts it so the
pauses between chunks stay even. A stream cannot know its end in advance, so
`TailTrimmer` holds back only what the trim could still cut or fade: the audio after the
last loud frame's `keep_ms`, and always the last `TAIL_FADE_MS` (the fade-out's length).
While the voice is loud that is 15 ms, so the first piece of a stream plays at once; the
streamed sentence is sample for sample what `trim_trailing_noise` makes of the whole.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# XTTS changes speed by stretching GPT latents linearly before the vocoder; outside this
# range the result slurs or chirps, so requests (OpenAI allows 0.25-4.0) are clamped.
SPEED_RANGE = (0.5, 2.0)
# `trim_trailing_noise`'s defaults, shared with the stream's `TailTrimmer`.
TAIL_FLOOR_DB = -35.0
TAIL_KEEP_MS = 120.0
TAIL_FADE_MS = 15.0  # also the least a stream holds back: the fade-out's reach


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
    floor_db: float = TAIL_FLOOR_DB,
    keep_ms: float = TAIL_KEEP_MS,
    fade_ms: float = TAIL_FADE_MS,
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
    """Pieces of one streamed sentence in; out, as early as it is certain, exactly the
    audio `trim_trailing_noise` would leave of the whole sentence.

    Frames are counted from the sentence's first sample, as the one-shot trim counts them.
    The peak only grows, and a frame that raises it is itself loud, so the last loud frame
    only moves later: everything up to that frame's end + `keep_ms` − `fade_ms` is final
    (the cut can only come later and its fade-out starts `fade_ms` before it).
    """

    def __init__(self, sample_rate: int) -> None:
        self._frame = max(1, sample_rate // 50)
        self._keep = int(sample_rate * TAIL_KEEP_MS / 1000)
        self._fade = int(sample_rate * TAIL_FADE_MS / 1000)
        self._floor = 10 ** (TAIL_FLOOR_DB / 20)
        self._pending = np.zeros(0, dtype=np.float32)  # audio from sample `_base` on
        self._base = 0  # a frame boundary
        self._emitted = 0  # samples returned so far
        self._peak_rms = 0.0
        self._loud_end: int | None = None  # end of the last frame above the floor

    @property
    def held_back(self) -> int:
        """Samples received but not yet returned."""
        return self._base + len(self._pending) - self._emitted

    def push(self, piece: np.ndarray) -> np.ndarray:
        """The audio that is certainly kept as it is (possibly empty)."""
        audio = np.concatenate([self._pending, piece])
        if audio.size:
            energies = frame_rms(audio, self._frame)
            self._peak_rms = max(self._peak_rms, float(energies.max()))
            loud = np.flatnonzero(energies > self._peak_rms * self._floor)
            if loud.size:
                end = self._base + (int(loud[-1]) + 1) * self._frame
                self._loud_end = max(self._loud_end or 0, end)
        total = self._base + len(audio)
        if self._loud_end is None:  # silence so far: nothing is known yet
            final = self._emitted
        else:
            final = max(self._emitted, min(total, self._loud_end + self._keep) - self._fade)
        out = audio[self._emitted - self._base : final - self._base]
        self._emitted = final
        base = final - final % self._frame
        self._pending = audio[base - self._base :]
        self._base = base
        return out

    def finish(self) -> np.ndarray:
        """The held-back end, cut and faded as `trim_trailing_noise` cuts the whole."""
        rest = self._pending[self._emitted - self._base :].copy()
        if self._loud_end is None:  # all silence: the one-shot trim keeps it as it is
            return rest
        cut = min(self._base + len(self._pending), self._loud_end + self._keep)
        rest = rest[: cut - self._emitted]
        fade = min(cut, self._fade)
        if fade:
            rest[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        return rest
