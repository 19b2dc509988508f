"""A call's audio files under `calls_log/<CallSid>/`: their names, and writes off the loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

import numpy as np

from lidia.audio.codecs import wav_bytes
from lidia.audio.mulaw import MULAW_SAMPLE_RATE, mulaw_to_pcm

WHOLE_CALL_FILE = "caller.wav"  # everything the caller's line carried, start to end
MESSAGE_FILE = "message.wav"  # what the caller said after the apology's beep


def turn_file(turn_index: int, side: Literal["caller", "reply"]) -> str:
    return f"turn{turn_index:03d}_{side}.wav"


async def write_file(path: Path, data: bytes) -> str:
    await asyncio.to_thread(path.write_bytes, data)  # disk I/O stays off the event loop
    return str(path)


async def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> str:
    """`samples` as a WAV file; encoding and writing both run in a worker thread."""
    await asyncio.to_thread(lambda: path.write_bytes(wav_bytes(samples, sample_rate)))
    return str(path)


async def write_mulaw_wav(path: Path, mulaw: bytes) -> str:
    """Phone audio (μ-law 8 kHz) as a WAV file."""
    return await write_wav(path, mulaw_to_pcm(mulaw), MULAW_SAMPLE_RATE)
