"""Re-reading the caller's audio around the VAD's cut (issue 23), on Russian speech (RHVoice)
over a noisy phone line, as 8 kHz μ-law."""

from __future__ import annotations

import numpy as np
import pytest

from lidia.audio.codecs import pcm_to_mulaw
from lidia.phone.call.hearing import holds_speech, speech_span, widened
from lidia.tts.engines.rhvoice import RHVoiceEngine
from tests.support.turn_speech import spoken_8k

RATE = 8000
LEAD = 2 * RATE  # line noise before the caller speaks
SENTENCE = "Сколько стоит профессиональная чистка зубов?"


def line(speech: np.ndarray, gain: float, seed: int = 23) -> bytes:
    """Two seconds of line hiss (-56 dBFS), the speech at `gain`, one second of hiss."""
    audio = np.concatenate([np.zeros(LEAD), speech * gain, np.zeros(RATE)])
    hiss = 10 ** (-56 / 20) * np.random.default_rng(seed).standard_normal(audio.size)
    return pcm_to_mulaw((audio + hiss).astype(np.float32))


def audible(speech: np.ndarray) -> tuple[int, int]:
    """Where the sentence is within 30 dB of its loudest 10 ms (its start and end as heard)."""
    frames = speech[: speech.size // 80 * 80].reshape(-1, 80)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (-30 / 20))
    return int(loud[0]) * 80, (int(loud[-1]) + 1) * 80


@pytest.fixture(scope="module")
def sentence(rhvoice: RHVoiceEngine) -> np.ndarray:
    return spoken_8k(rhvoice, SENTENCE)


@pytest.mark.parametrize("gain", [1.0, 0.1], ids=["normal", "quiet"])
def test_a_turn_cut_inside_its_first_and_last_words_is_widened_over_them(
    sentence: np.ndarray, gain: float
) -> None:
    call = line(sentence, gain)
    first, last = audible(sentence)
    onset, end = LEAD + first, LEAD + last
    cut = (onset + int(0.4 * RATE), end - int(0.3 * RATE))  # «…олько стоит … чистка зу…»

    start, stop = widened(call, *cut)

    assert onset - int(0.25 * RATE) <= start <= onset  # back to the first syllable, little more
    assert end <= stop <= end + int(0.25 * RATE)


def test_a_turn_with_line_noise_at_its_edges_is_left_as_cut(sentence: np.ndarray) -> None:
    call = line(sentence, 0.1)
    cut = (LEAD - int(0.4 * RATE), LEAD + sentence.size + int(0.3 * RATE))

    assert widened(call, *cut) == cut


def test_widening_stops_where_the_previous_turn_ended_and_at_what_was_received(
    sentence: np.ndarray,
) -> None:
    call = line(sentence, 1.0)
    onset, end = LEAD, LEAD + sentence.size
    previous_end = onset + int(0.2 * RATE)
    received = call[: end - int(0.1 * RATE)]  # the caller is still on his last syllable

    start, stop = widened(
        received, onset + int(0.5 * RATE), len(received) - 800, not_before=previous_end
    )

    assert start == previous_end and stop == len(received)


def test_a_quiet_caller_holds_speech_and_line_noise_or_a_click_does_not(
    sentence: np.ndarray,
) -> None:
    quiet = line(sentence, 0.05)
    span = speech_span(quiet)
    assert span is not None
    assert abs(span[0] - LEAD) < 0.1 * RATE and abs(span[1] - (LEAD + sentence.size)) < 0.1 * RATE
    assert holds_speech(quiet)

    assert not holds_speech(line(np.zeros(RATE), 1.0))
    click = np.zeros(RATE)
    click[100:260] = 0.5 * np.sin(np.arange(160) * 0.9)  # 20 ms: a click on the line
    assert not holds_speech(line(click, 1.0))
