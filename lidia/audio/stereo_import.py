"""Someone else's two-channel recording (Twilio's dual-channel call WAV or MP3) in our call
layout: 16-bit PCM stereo at 8 kHz, first channel left, second right (`stereo.py`).

PyAV (FFmpeg) decodes whatever Twilio serves (linear or μ-law WAV, MP3) and its
`AudioResampler` converts rate, layout and sample format in one pass, keeping the channels
apart (`codecs.decode_audio` averages them: it is for speech recognition). A mono file
comes out with the same audio on both sides. Blocking: call it in a worker thread.
"""

from __future__ import annotations

import io

import av
import numpy as np

from lidia.audio.mulaw import MULAW_SAMPLE_RATE
from lidia.audio.stereo import stereo_wav_bytes


def call_stereo_wav(data: bytes, sample_rate: int = MULAW_SAMPLE_RATE) -> bytes:
    """`data` (any format FFmpeg reads) as a stereo 16-bit WAV at `sample_rate`."""
    samples = _decoded_stereo(data, sample_rate)
    return stereo_wav_bytes(samples[:, 0], samples[:, 1], sample_rate)


def _decoded_stereo(data: bytes, sample_rate: int) -> np.ndarray:
    """int16 frames shaped (n, 2): the file's first channel, then its second."""
    resampler = av.AudioResampler(format="s16", layout="stereo", rate=sample_rate)
    pieces: list[np.ndarray] = []
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            pieces.extend(_interleaved(out) for out in resampler.resample(frame))
        pieces.extend(_interleaved(out) for out in resampler.resample(None))  # the tail
    if not pieces:
        return np.zeros((0, 2), dtype=np.int16)
    return np.concatenate(pieces)


def _interleaved(frame: av.AudioFrame) -> np.ndarray:
    """A packed s16 stereo frame as (samples, 2) int16."""
    return frame.to_ndarray().reshape(-1, 2).astype(np.int16, copy=False)
