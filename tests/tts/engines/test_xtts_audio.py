"""The stream's tail trim (issue 14): the audio of one-shot trimming, held back only near the end.

`TailTrimmer` gets a sentence piece by piece and must give out exactly what
`trim_trailing_noise` makes of the whole sentence, while holding back no more than the
trim could still change: 15 ms while the voice is loud, so a stream's first piece plays
at once instead of waiting for the next. Real Russian speech from espeak-ng, with the
hiss, breath and silence XTTS leaves around a sentence.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lidia.tts.engines.espeak import EspeakEngine
from lidia.tts.engines.xtts_audio import TAIL_FADE_MS, TailTrimmer, trim_trailing_noise

SENTENCE = "Добрый день, вы позвонили в компанию «Ромашка», меня зовут Лидия."


@pytest.fixture(scope="module")
def speech(espeak: EspeakEngine) -> tuple[np.ndarray, int]:
    audio = espeak.synthesize(SENTENCE, "ru")
    assert len(audio) > espeak.sample_rate  # over a second of speech, with its pauses
    return audio.astype(np.float32), espeak.sample_rate


def hiss(seconds: float, rate: int, level: float = 0.002, seed: int = 0) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * rate))).astype(
        np.float32
    )


def pieces_of(audio: np.ndarray, rate: int, sizes: list[int]) -> tuple[np.ndarray, list[int]]:
    """`audio` through a `TailTrimmer` in pieces of `sizes` samples: the audio out, and how
    much was held back after each piece."""
    trimmer = TailTrimmer(rate)
    out, held = [], []
    bounds = np.minimum(np.cumsum([0, *sizes]), len(audio))
    for start, end in itertools.pairwise(bounds):
        out.append(trimmer.push(audio[start:end]))
        held.append(trimmer.held_back)
    out.append(trimmer.finish())
    return np.concatenate(out), held


def random_sizes(total: int, rate: int, seed: int) -> list[int]:
    """Piece lengths from 5 ms to 0.6 s covering `total` samples."""
    rng = np.random.default_rng(seed)
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.append(int(rng.integers(rate // 200, int(0.6 * rate))))
    return sizes


@pytest.mark.parametrize(
    "shape",
    ["speech then hiss", "silence, speech, breath, speech, hiss", "speech to the end"],
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_streamed_trim_is_the_one_shot_trim(
    speech: tuple[np.ndarray, int], shape: str, seed: int
) -> None:
    voice, rate = speech
    parts = {
        "speech then hiss": [voice, hiss(0.8, rate)],
        "silence, speech, breath, speech, hiss": [
            np.zeros(rate // 5, dtype=np.float32),
            voice[: len(voice) // 2],
            hiss(0.4, rate, level=0.004, seed=seed),
            voice[len(voice) // 2 :],
            hiss(1.2, rate, seed=seed),
        ],
        "speech to the end": [voice],
    }[shape]
    audio = np.concatenate(parts)
    whole = trim_trailing_noise(audio, rate)
    out, _ = pieces_of(audio, rate, random_sizes(len(audio), rate, seed))
    assert np.array_equal(out, whole)  # the same samples, the same cut, the same fade
    if shape != "speech to the end":
        assert len(whole) < len(audio) - int(0.5 * rate)  # the hiss was really cut


def test_loud_speech_is_held_back_by_the_fade_only(speech: tuple[np.ndarray, int]) -> None:
    voice, rate = speech
    tone = 0.4 * np.sin(2 * np.pi * 180 * np.arange(rate) / rate).astype(np.float32)
    fade = int(rate * TAIL_FADE_MS / 1000)
    # A voiced sound, piece by piece: each piece plays at once but for the last 15 ms.
    _, held = pieces_of(tone, rate, [rate // 20] * 20)
    assert held[:-1] == [fade] * 19
    # Real speech: during its pauses more waits (the trim could still cut there), but
    # every loud stretch releases what came before it.
    _, held = pieces_of(voice, rate, [rate // 10] * (len(voice) * 10 // rate + 1))
    assert min(held) == fade
    assert max(held) < int(0.5 * rate)


def test_all_silence_and_empty_pieces(speech: tuple[np.ndarray, int]) -> None:
    _, rate = speech
    silence = np.zeros(rate // 2, dtype=np.float32)
    out, held = pieces_of(silence, rate, [rate // 10] * 5)
    assert held[-1] == len(silence)  # nothing known until the end
    assert np.array_equal(out, trim_trailing_noise(silence, rate))
    trimmer = TailTrimmer(rate)
    assert len(trimmer.push(np.zeros(0, dtype=np.float32))) == 0
    assert len(trimmer.finish()) == 0
