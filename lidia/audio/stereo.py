"""Two-channel WAV files (the whole call: caller left, Лидия right) and their mono mixdown.

numpy and the standard library's `wave` are enough: these are our own 16-bit PCM files, so
reading them needs no decoder (PyAV stays for the formats that do).
"""

from __future__ import annotations

import io
import wave

import numpy as np


def stereo_wav_bytes(left: np.ndarray, right: np.ndarray, sample_rate: int) -> bytes:
    """A 16-bit PCM stereo WAV of two int16 channels of the same length."""
    if left.shape != right.shape:
        raise ValueError(f"channels differ in length: {left.shape} vs {right.shape}")
    frames = np.column_stack([left, right]).astype("<i2")
    return _wav(frames, sample_rate)


def read_wav_int16(data: bytes) -> tuple[np.ndarray, int]:
    """A 16-bit PCM WAV as int16 samples shaped (frames, channels), and its rate."""
    with wave.open(io.BytesIO(data)) as reader:
        if reader.getsampwidth() != 2:
            raise ValueError(f"expected 16-bit PCM, got {8 * reader.getsampwidth()}-bit")
        channels = reader.getnchannels()
        raw = reader.readframes(reader.getnframes())
        rate = reader.getframerate()
    return np.frombuffer(raw, dtype="<i2").reshape(-1, channels), rate


def mono_mixdown(data: bytes) -> bytes:
    """A 16-bit PCM WAV averaged to one channel (a mono file comes back as it is)."""
    frames, rate = read_wav_int16(data)
    if frames.shape[1] == 1:
        return data
    # The mean of the channels never clips; a sum would on overlapping speech.
    mono = np.rint(frames.astype(np.int32).mean(axis=1)).astype("<i2")
    return _wav(mono.reshape(-1, 1), rate)


def _wav(frames: np.ndarray, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(frames.shape[1])
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(frames.tobytes())
    return buffer.getvalue()
