"""Streaming Silero VAD on 8 kHz phone audio: espeak-ng speech between stretches of silence."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from lidia.audio.codecs import mulaw_to_pcm, pcm_to_mulaw, resample
from lidia.audio.vad import StreamingVad, VadEvent
from tests.support.speech_fixtures import espeak_wav

RATE = 8000
SPEECH = "Hello world this is a test of the speech recognizer."


@pytest.fixture(scope="module")
def speech_8k() -> np.ndarray:
    samples, rate = sf.read(io.BytesIO(espeak_wav(SPEECH)), dtype="float32")
    # Through μ-law, like a real phone line.
    return mulaw_to_pcm(pcm_to_mulaw(resample(samples, rate, RATE)))


def feed_in_frames(vad: StreamingVad, audio: np.ndarray) -> list[VadEvent]:
    events: list[VadEvent] = []
    for i in range(0, audio.size, 160):  # 20 ms, as Twilio sends it
        events += vad.feed(audio[i : i + 160])
    return events


def test_one_utterance_gives_one_start_and_one_end(speech_8k: np.ndarray) -> None:
    lead = np.zeros(RATE, dtype=np.float32)
    audio = np.concatenate([lead, speech_8k, np.zeros(RATE, dtype=np.float32)])
    events = feed_in_frames(StreamingVad(min_silence_ms=300), audio)
    assert [e.kind for e in events] == ["speech_start", "speech_end"]
    start, end = events
    # The utterance starts no later than the speech (the pre-roll keeps the first syllable)
    # and at most the 500 ms pre-roll before it.
    assert lead.size - 0.5 * RATE <= start.sample <= lead.size + 0.02 * RATE
    speech_end = lead.size + speech_8k.size
    assert speech_end - 0.4 * RATE < end.voiced_end <= speech_end
    # It decides after the configured silence, not seconds later.
    wait_s = (end.decided - end.voiced_end) / RATE
    assert 0.3 <= wait_s < 0.3 + 0.1


def test_silence_and_noise_floor_are_not_speech() -> None:
    rng = np.random.default_rng(0)
    hiss = (0.003 * rng.standard_normal(3 * RATE)).astype(np.float32)
    assert feed_in_frames(StreamingVad(), np.zeros(3 * RATE, dtype=np.float32)) == []
    assert feed_in_frames(StreamingVad(), hiss) == []


def test_a_shorter_silence_setting_splits_at_pauses(speech_8k: np.ndarray) -> None:
    gap = np.zeros(int(0.5 * RATE), dtype=np.float32)
    audio = np.concatenate([gap, speech_8k, gap, speech_8k, gap])
    kinds = [e.kind for e in feed_in_frames(StreamingVad(min_silence_ms=300), audio)]
    assert kinds == ["speech_start", "speech_end"] * 2


def test_flush_ends_an_open_utterance(speech_8k: np.ndarray) -> None:
    vad = StreamingVad()
    cut = speech_8k[: speech_8k.size // 2]  # the stream stops mid-sentence
    events = feed_in_frames(vad, np.concatenate([np.zeros(RATE // 2, np.float32), cut]))
    assert [e.kind for e in events] == ["speech_start"] and vad.in_speech
    assert [e.kind for e in vad.flush()] == ["speech_end"]
    assert vad.flush() == []


def test_max_speech_forces_an_end(speech_8k: np.ndarray) -> None:
    events = feed_in_frames(StreamingVad(max_speech_s=1.0), speech_8k)
    assert "speech_end" in [e.kind for e in events]


# ---------------------------------------------------------------- hysteresis (issue 23)


@pytest.fixture(scope="module")
def elena_asks() -> np.ndarray:
    """RHVoice elena: «Вы работаете в субботу?» over a hissing phone line, as μ-law carries
    it; Silero rates «субботу» under 0.35 on this line: the old rule ends before it."""
    from lidia.tts.engines.rhvoice import RHVoiceEngine
    from tests.support.russian_speech import phone_line_8k

    engine = RHVoiceEngine.load()
    try:
        voiced = engine.synthesize("Вы работаете в субботу?", "ru", voice="elena")
    finally:
        engine.close()
    speech = phone_line_8k(resample(voiced, engine.sample_rate, 16000))
    loud = np.flatnonzero(np.abs(speech) > 0.01)
    speech = speech[loud[0] : loud[-1] + 1]
    audio = np.concatenate([np.zeros(RATE), speech, np.zeros(2 * RATE)])
    audio = audio + 0.002 * np.random.default_rng(2).standard_normal(audio.size)
    return mulaw_to_pcm(pcm_to_mulaw(audio.astype(np.float32)))


def test_hysteresis_keeps_a_last_word_that_silero_rates_low(elena_asks: np.ndarray) -> None:
    last_word_end = elena_asks.size - 2 * RATE - int(0.1 * RATE)
    old = feed_in_frames(StreamingVad(keep_threshold=None, min_silence_ms=200), elena_asks)
    new = feed_in_frames(
        StreamingVad(keep_threshold=0.3, energy_start_db=9.0, min_silence_ms=200), elena_asks
    )

    old_end = next(e for e in old if e.kind == "speech_end")
    new_end = next(e for e in new if e.kind == "speech_end")
    assert old_end.voiced_end < last_word_end - int(0.4 * RATE)  # «Вы работаете в |»
    assert new_end.voiced_end >= last_word_end  # «…в субботу?» whole, in one utterance


def test_the_old_rule_is_kept_when_asked_for(speech_8k: np.ndarray) -> None:
    vad = StreamingVad(threshold=0.5, keep_threshold=None)
    assert (vad.neg_threshold, vad.resume_threshold, vad.energy_start_db) == (0.35, 0.5, 0.0)
    audio = np.concatenate([np.zeros(RATE), speech_8k, np.zeros(RATE)]).astype(np.float32)
    explicit = StreamingVad(threshold=0.5, keep_threshold=0.35, energy_start_db=0.0)
    assert feed_in_frames(vad, audio) == feed_in_frames(explicit, audio)
