"""Smart Turn v3.2 on Russian phone speech: a finished sentence reads complete, a cut one not."""

from __future__ import annotations

import numpy as np
import pytest

from lidia.audio.end_of_turn import WINDOW, EndOfTurnModel, last_window, smart_turn_model_path
from lidia.tts.engines.rhvoice import RHVoiceEngine
from tests.support.turn_speech import BOOKING_THURSDAY, spoken_8k, word_gap


@pytest.fixture(scope="module")
def model() -> EndOfTurnModel:
    return EndOfTurnModel()


@pytest.fixture(scope="module")
def sentence(rhvoice: RHVoiceEngine) -> np.ndarray:
    return spoken_8k(rhvoice, BOOKING_THURSDAY)


def test_the_model_ships_in_the_pipecat_wheel_without_importing_pipecat() -> None:
    import sys

    path = smart_turn_model_path()
    assert path.name == "smart-turn-v3.2-cpu.onnx" and path.stat().st_size > 1_000_000
    assert "pipecat" not in sys.modules


def test_a_finished_sentence_is_complete_and_a_cut_one_is_not(
    model: EndOfTurnModel, sentence: np.ndarray
) -> None:
    whole = model.probability(sentence, 8000)
    cut_mid_word = model.probability(sentence[: int(sentence.size * 0.45)], 8000)
    cut_at_word_gap = model.probability(sentence[: word_gap(sentence)], 8000)
    assert whole > 0.8
    assert cut_mid_word < 0.3 and cut_at_word_gap < 0.5


def test_the_window_is_the_last_eight_seconds_padded_in_front() -> None:
    short = last_window(np.ones(16000, dtype=np.float32) + np.arange(16000) / 16000)
    assert short.shape == (WINDOW,) and short.dtype == np.float32
    assert np.allclose(short[: WINDOW - 16000], short[0])  # the padding: one constant value
    assert abs(float(short.mean())) < 1e-4 and abs(float(short.std()) - 1) < 1e-3
    long = last_window(np.arange(3 * WINDOW, dtype=np.float32))
    assert long.shape == (WINDOW,) and long[-1] > long[0]
