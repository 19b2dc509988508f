"""The offline voices, for real: RHVoice (libRHVoice + Russian voices) and espeak-ng."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from lidia.core.errors import EngineUnavailableError, UnknownVoiceError, UnsupportedLanguageError
from lidia.tts.base import SpeechSynthesizer
from lidia.tts.engines.espeak import EspeakEngine, words_per_minute
from lidia.tts.engines.rhvoice import RHVoiceEngine, rate_settings

GREETING = "Здравствуйте, вы позвонили в компанию."


def duration_s(audio: np.ndarray, engine: SpeechSynthesizer) -> float:
    return len(audio) / engine.sample_rate


def assert_is_speech(audio: np.ndarray, engine: SpeechSynthesizer) -> None:
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 1.0 <= duration_s(audio, engine) <= 6.0
    assert np.sqrt(np.mean(audio**2)) > 0.02  # clearly not silence
    assert np.abs(audio).max() <= 1.0


# --- RHVoice ---------------------------------------------------------------------------


def test_rhvoice_speaks_russian_at_24k(rhvoice: RHVoiceEngine) -> None:
    audio = rhvoice.synthesize(GREETING, "ru")
    assert rhvoice.sample_rate == 24_000
    assert_is_speech(audio, rhvoice)


def test_rhvoice_is_a_speech_synthesizer_listing_russian_voices(rhvoice: RHVoiceEngine) -> None:
    assert isinstance(rhvoice, SpeechSynthesizer)
    assert rhvoice.languages == frozenset({"ru"})
    voices = rhvoice.voices()
    ids = {v.id for v in voices}
    assert {"rhvoice-anna", "rhvoice-aleksandr", "rhvoice-irina"} <= ids
    assert len(voices) >= 10  # Debian's rhvoice-russian ships 14
    assert all(v.engine == "rhvoice" and v.languages == ("ru",) for v in voices)
    assert rhvoice.info()["default_voice"] == "rhvoice-anna"


@pytest.mark.parametrize(
    "voice",
    ["rhvoice-aleksandr", "rhvoice-irina", "rhvoice-evgeniy-rus", "rhvoice-aleksandr-hq", "anna"],
)
def test_each_rhvoice_voice_speaks(rhvoice: RHVoiceEngine, voice: str) -> None:
    assert_is_speech(rhvoice.synthesize(GREETING, "ru", voice=voice), rhvoice)


def test_rhvoice_voices_sound_different(rhvoice: RHVoiceEngine) -> None:
    anna = rhvoice.synthesize(GREETING, "ru", voice="rhvoice-anna")
    same_anna = rhvoice.synthesize(GREETING, "ru", voice="anna")
    aleksandr = rhvoice.synthesize(GREETING, "ru", voice="rhvoice-aleksandr")
    assert np.array_equal(anna, same_anna)
    assert len(anna) != len(aleksandr) or not np.allclose(anna, aleksandr)


def test_rhvoice_speed_changes_tempo(rhvoice: RHVoiceEngine) -> None:
    normal = duration_s(rhvoice.synthesize(GREETING, "ru"), rhvoice)
    fast = duration_s(rhvoice.synthesize(GREETING, "ru", speed=2.0), rhvoice)
    slow = duration_s(rhvoice.synthesize(GREETING, "ru", speed=0.5), rhvoice)
    fastest = duration_s(rhvoice.synthesize(GREETING, "ru", speed=4.0), rhvoice)
    assert fast == pytest.approx(normal / 2, rel=0.1)
    assert slow == pytest.approx(normal * 2, rel=0.1)
    # Beyond RHVoice's default 2x clip: the dont_clip_rate flag and absolute_rate at work.
    assert fastest == pytest.approx(normal / 4, rel=0.15)


def test_rhvoice_rate_settings_stay_in_the_wrappers_range() -> None:
    for speed in (0.1, 0.25, 1.0, 2.5, 3.0, 4.0, 9.0):
        sets = rate_settings(speed)
        assert 0 < sets["relative_rate"] <= 2.5
        assert sets["flags"] == 1


def test_rhvoice_unknown_voice_lists_valid_ids(rhvoice: RHVoiceEngine) -> None:
    with pytest.raises(UnknownVoiceError, match="rhvoice-anna") as caught:
        rhvoice.synthesize(GREETING, "ru", voice="rhvoice-bob")
    assert caught.value.status_code == 422


def test_rhvoice_rejects_a_language_it_has_no_voice_for(rhvoice: RHVoiceEngine) -> None:
    with pytest.raises(UnsupportedLanguageError, match="ru"):
        rhvoice.synthesize("Hello", "de")


def test_rhvoice_stream_gives_the_same_audio_in_pieces(rhvoice: RHVoiceEngine) -> None:
    text = "Наш офис работает с понедельника по пятницу, с девяти утра до шести вечера."
    whole = rhvoice.synthesize(text, "ru")
    pieces = list(rhvoice.synthesize_stream(text, "ru"))
    assert len(pieces) > 1
    assert np.array_equal(np.concatenate(pieces), whole)


def test_rhvoice_stream_closed_early_leaves_engine_usable(rhvoice: RHVoiceEngine) -> None:
    stream = rhvoice.synthesize_stream(GREETING * 3, "ru")
    assert len(next(stream)) > 0
    stream.close()
    assert_is_speech(rhvoice.synthesize(GREETING, "ru"), rhvoice)


def test_rhvoice_close_joins_its_daemon_worker_thread() -> None:
    before = set(threading.enumerate())
    engine = RHVoiceEngine.load(voice="irina")
    [worker] = set(threading.enumerate()) - before
    assert worker.daemon  # a forgotten close() cannot hang the interpreter at exit
    engine.close()
    assert not worker.is_alive()
    engine.close()  # idempotent
    with pytest.raises(EngineUnavailableError, match="closed"):
        engine.synthesize(GREETING, "ru")


def test_rhvoice_missing_library_is_engine_unavailable() -> None:
    with pytest.raises(EngineUnavailableError, match=r"library not installed.*apt-get"):
        RHVoiceEngine.load(lib="libRHVoice-missing.so.5")


def test_rhvoice_unknown_default_voice_fails_to_load() -> None:
    with pytest.raises(UnknownVoiceError, match="rhvoice-anna"):
        RHVoiceEngine.load(voice="nobody")


# --- espeak-ng -------------------------------------------------------------------------


def test_espeak_speaks_russian_at_22050(espeak: EspeakEngine) -> None:
    audio = espeak.synthesize(GREETING, "ru")
    assert espeak.sample_rate == 22_050
    assert_is_speech(audio, espeak)


def test_espeak_speaks_english(espeak: EspeakEngine) -> None:
    audio = espeak.synthesize("Hello, you have reached our company.", "en")
    assert_is_speech(audio, espeak)
    assert np.array_equal(
        audio, espeak.synthesize("Hello, you have reached our company.", "ru", voice="espeak-en")
    )


def test_espeak_languages_and_voices(espeak: EspeakEngine) -> None:
    assert isinstance(espeak, SpeechSynthesizer)
    assert {"ru", "en"} <= espeak.languages
    ids = {v.id for v in espeak.voices()}
    assert {"espeak-ru", "espeak-en"} <= ids
    assert all(v.engine == "espeak" for v in espeak.voices())


def test_espeak_speed_changes_tempo(espeak: EspeakEngine) -> None:
    normal = duration_s(espeak.synthesize(GREETING, "ru"), espeak)
    fast = duration_s(espeak.synthesize(GREETING, "ru", speed=2.0), espeak)
    slow = duration_s(espeak.synthesize(GREETING, "ru", speed=0.5), espeak)
    assert fast < 0.7 * normal
    assert slow > 1.4 * normal


def test_espeak_speed_maps_to_its_word_rate_limits() -> None:
    assert words_per_minute(1.0) == 175
    assert words_per_minute(2.0) == 350
    assert words_per_minute(0.25) == 80
    assert words_per_minute(4.0) == 450


def test_espeak_text_is_never_read_as_options(espeak: EspeakEngine) -> None:
    audio = espeak.synthesize("--help -v en; $(rm -rf /)", "ru")
    assert len(audio) > 0  # spoken, not interpreted


def test_espeak_stream_is_one_piece_of_the_same_audio(espeak: EspeakEngine) -> None:
    [piece] = list(espeak.synthesize_stream(GREETING, "ru"))
    assert np.array_equal(piece, espeak.synthesize(GREETING, "ru"))


def test_espeak_unknown_voice_and_language(espeak: EspeakEngine) -> None:
    with pytest.raises(UnknownVoiceError, match="espeak-ru"):
        espeak.synthesize(GREETING, "ru", voice="espeak-xx")
    with pytest.raises(UnsupportedLanguageError, match="en"):
        espeak.synthesize(GREETING, "xx")


def test_espeak_missing_binary_says_how_to_install() -> None:
    with pytest.raises(EngineUnavailableError, match="apt-get install espeak-ng"):
        EspeakEngine.load(binary="espeak-ng-not-installed")
