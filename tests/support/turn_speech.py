"""Russian caller speech for turn-taking tests and the bench: RHVoice at run time, 8 kHz μ-law.

RHVoice ends every synthesized phrase with falling intonation, so a fragment synthesized on
its own sounds finished. A caller who stops for breath mid-sentence is built instead from one
whole sentence's audio: silence inserted at the quietest word gap near its middle.
"""

from __future__ import annotations

import numpy as np

from lidia.audio.codecs import pcm_to_mulaw
from lidia.tts.engines.rhvoice import RHVoiceEngine
from tests.support.russian_speech import phone_line_8k, rhvoice_16k

RATE = 8000
FRAME = RATE // 100  # 10 ms

BOOKING_THURSDAY = "Здравствуйте, я хочу записаться на приём в четверг."
INTERRUPTION = "Нет, подождите, я хотела спросить про субботу."
BACKCHANNEL_WORDS = ("Угу.", "Ага.", "Да.", "Да-да.", "Хорошо.", "Понятно.", "Ясно.", "М-м.")


def spoken_8k(engine: RHVoiceEngine, text: str) -> np.ndarray:
    """`text` as the phone line carries it (8 kHz μ-law, back to float32), silence trimmed."""
    samples = phone_line_8k(rhvoice_16k(engine, text))
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    return samples[loud[0] : loud[-1] + 1] if loud.size else samples


def word_gap(samples: np.ndarray, around: float = 0.5) -> int:
    """The sample at the quietest 30 ms between words, in the middle third around `around`."""
    frames = samples[: samples.size // FRAME * FRAME].reshape(-1, FRAME)
    energy = np.convolve(np.sqrt(np.mean(frames**2, axis=1)), np.ones(3), mode="same")
    centre = int(around * len(energy))
    span = max(len(energy) // 6, 3)
    lo, hi = max(centre - span, 1), min(centre + span, len(energy) - 1)
    return (lo + int(np.argmin(energy[lo:hi]))) * FRAME


def with_pause(samples: np.ndarray, pause_s: float, around: float = 0.5) -> np.ndarray:
    """The same sentence with the caller stopping for `pause_s` mid-way."""
    cut = word_gap(samples, around)
    gap = np.zeros(int(pause_s * RATE), dtype=np.float32)
    return np.concatenate([samples[:cut], gap, samples[cut:]])


def mulaw(samples: np.ndarray) -> bytes:
    return pcm_to_mulaw(samples)
