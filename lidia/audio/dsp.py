"""Small sample-level DSP for speech output: click-free chunk edges and pauses between chunks.

Samples are float32 mono in [-1, 1]; lengths are in samples, times in milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FADE_MS = 5.0  # per chunk edge: removes clicks where a chunk starts or stops mid-wave


def flat_float32(audio: np.ndarray) -> np.ndarray:
    """An engine's output (any float array shape) as 1-D float32."""
    return np.asarray(audio, dtype=np.float32).reshape(-1)


def fade_samples(sample_rate: int, fade_ms: float = FADE_MS) -> int:
    return max(1, round(sample_rate * fade_ms / 1000))


def pause(sample_rate: int, pause_ms: float) -> np.ndarray:
    """`pause_ms` of digital silence."""
    return np.zeros(round(sample_rate * pause_ms / 1000), dtype=np.float32)


def _ramp(n: int) -> np.ndarray:
    # Strictly between 0 and 1: the first and last faded samples are not silenced outright.
    return np.linspace(0.0, 1.0, n + 2, dtype=np.float32)[1:-1]


def fade_edges(audio: np.ndarray, n: int) -> np.ndarray:
    """A copy of `audio` faded in over its first and out over its last n samples (fewer
    when the audio is shorter than 2n)."""
    n = min(n, len(audio) // 2)
    out = np.array(audio, dtype=np.float32)
    if n:
        ramp = _ramp(n)
        out[:n] *= ramp
        out[-n:] *= ramp[::-1]
    return out


class StreamFader:
    """`fade_edges` for audio that arrives in pieces, sample-exact: it holds back the last
    n samples (the fade-out needs to know where the audio ends) and, at the start, waits
    for more than 2n samples, so the extra delay is at most 2n samples (10 ms)."""

    def __init__(self, n: int) -> None:
        self._n = n
        self._buffer = np.zeros(0, dtype=np.float32)
        self._started = False

    def push(self, piece: np.ndarray) -> np.ndarray:
        """Audio that can be played now (possibly empty)."""
        buffer = np.concatenate([self._buffer, piece])
        if not self._started:
            if len(buffer) <= 2 * self._n:
                self._buffer = buffer
                return buffer[:0]
            buffer[: self._n] *= _ramp(self._n)
            self._started = True
        self._buffer = buffer[len(buffer) - self._n :].copy()
        return buffer[: len(buffer) - self._n]

    def finish(self) -> np.ndarray:
        """The held-back end, faded out. The fader is then ready for the next chunk."""
        if not self._started:
            tail = fade_edges(self._buffer, self._n)
        else:
            tail = self._buffer.copy()
            tail[-self._n :] *= _ramp(self._n)[::-1]
        self._buffer, self._started = np.zeros(0, dtype=np.float32), False
        return tail


def join_with_pauses(parts: Sequence[np.ndarray], gap: np.ndarray) -> np.ndarray:
    """`parts` one after another with `gap` between each two (none at the ends)."""
    if not parts:
        return np.zeros(0, dtype=np.float32)
    joined: list[np.ndarray] = []
    for part in parts:
        if joined:
            joined.append(gap)
        joined.append(part)
    return np.concatenate(joined)
