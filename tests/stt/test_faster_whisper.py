"""FasterWhisperEngine with the real tiny.en model on espeak-ng speech (CPU, int8)."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ctranslate2
import numpy as np
import pytest

from lidia.audio import codecs as audio
from lidia.core import errors
from lidia.stt.base import STT_SAMPLE_RATE, SpeechToText, Transcript
from lidia.stt.faster_whisper import (
    FasterWhisperEngine,
    choose_cuda_compute_type,
    cuda_compute_capability,
    resolve_compute_type,
    resolve_device,
    resolve_model_path,
)
from tests.support.speech_fixtures import (
    ENGLISH_EXPECTED_WORDS,
    ENGLISH_SENTENCE,
    espeak_wav,
    tiny_en_model_path,
)

pytestmark = pytest.mark.slow


def words_of(text: str) -> list[str]:
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> FasterWhisperEngine:
    return FasterWhisperEngine.load(
        str(tiny_en_model_path()),
        models_dir=tmp_path_factory.mktemp("models"),
        device="cpu",
        cpu_threads=2,
    )


@pytest.fixture(scope="module")
def speech_wav() -> bytes:
    return espeak_wav(ENGLISH_SENTENCE)


@pytest.fixture(scope="module")
def speech(speech_wav: bytes) -> np.ndarray:
    return audio.decode_audio(speech_wav, sample_rate=STT_SAMPLE_RATE)


@pytest.fixture(scope="module")
def english_transcript(engine: FasterWhisperEngine, speech: np.ndarray) -> Transcript:
    return engine.transcribe(speech, "en")


# --------------------------------------------------------------------------- transcription


def test_engine_implements_the_protocol(engine: FasterWhisperEngine) -> None:
    assert isinstance(engine, SpeechToText)
    assert engine.name == "faster-whisper"
    assert engine.device == "cpu"


def test_transcribes_english_speech(english_transcript: Transcript, speech: np.ndarray) -> None:
    heard = words_of(english_transcript.text)

    assert set(ENGLISH_EXPECTED_WORDS) <= set(heard), english_transcript.text
    assert english_transcript.text == english_transcript.text.strip()
    assert english_transcript.language == "en"
    assert english_transcript.duration == pytest.approx(speech.size / STT_SAMPLE_RATE)


def test_segments_are_ordered_and_inside_the_audio(english_transcript: Transcript) -> None:
    segments = english_transcript.segments

    assert segments, "speech must give at least one segment"
    assert [s.id for s in segments] == list(range(len(segments)))
    for segment in segments:
        assert 0.0 <= segment.start < segment.end <= english_transcript.duration
    starts = [s.start for s in segments]
    assert starts == sorted(starts)
    assert " ".join(s.text for s in segments) == english_transcript.text


def test_language_none_on_english_only_model_is_english(
    engine: FasterWhisperEngine, speech: np.ndarray
) -> None:
    transcript = engine.transcribe(speech, None)

    assert transcript.language == "en"
    assert "world" in words_of(transcript.text)


def test_regional_language_tag_is_accepted(engine: FasterWhisperEngine) -> None:
    transcript = engine.transcribe(audio.silence(0.5, STT_SAMPLE_RATE), "en-US")

    assert transcript.language == "en"


def test_word_timestamps_when_asked(
    engine: FasterWhisperEngine, speech: np.ndarray, english_transcript: Transcript
) -> None:
    transcript = engine.transcribe(speech, "en", word_timestamps=True)

    words = [word for segment in transcript.segments for word in segment.words]
    assert "world" in words_of(" ".join(w.word for w in words))
    for word in words:
        assert 0.0 <= word.start <= word.end <= transcript.duration
        assert 0.0 <= word.probability <= 1.0
    assert [w.start for w in words] == sorted(w.start for w in words)
    # Without the option there are none.
    assert all(not segment.words for segment in english_transcript.segments)


@pytest.mark.parametrize("seconds", [0.0, 2.0])
def test_silence_gives_empty_text(engine: FasterWhisperEngine, seconds: float) -> None:
    transcript = engine.transcribe(audio.silence(seconds, STT_SAMPLE_RATE), None)

    assert transcript.text == ""
    assert transcript.segments == ()
    assert transcript.duration == pytest.approx(seconds)


def test_russian_on_english_only_model_is_refused(
    engine: FasterWhisperEngine, speech: np.ndarray
) -> None:
    with pytest.raises(errors.UnsupportedLanguageError) as caught:
        engine.transcribe(speech, "ru")

    assert caught.value.supported == ["en"]
    assert "supported: en" in caught.value.message
    assert caught.value.status_code == 422


def test_languages_and_info(engine: FasterWhisperEngine) -> None:
    assert engine.languages == frozenset({"en"})

    info = engine.info()

    assert info["engine"] == "faster-whisper"
    assert info["device"] == "cpu"
    assert info["compute_type"] == "int8"
    assert info["multilingual"] is False
    assert info["languages"] == 1
    assert info["path"] == str(tiny_en_model_path())


def test_concurrent_calls_from_threads_give_the_same_text(
    engine: FasterWhisperEngine, speech: np.ndarray, english_transcript: Transcript
) -> None:
    # No lock around transcribe(): CTranslate2 queues concurrent calls safely.
    with ThreadPoolExecutor(max_workers=2) as pool:
        texts = list(pool.map(lambda _: engine.transcribe(speech, "en").text, range(2)))

    assert texts == [english_transcript.text] * 2


# Containers a browser, phone or OpenWebUI may upload, made with the ffmpeg CLI.
FFMPEG_ENCODINGS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "ogg": ["-c:a", "libopus", "-b:a", "64k"],  # at 32k tiny.en hears "The low world"
    "webm": ["-c:a", "libopus", "-ar", "48000", "-ac", "2"],
    "flac": ["-c:a", "flac", "-ar", "44100"],
    "m4a": ["-c:a", "aac", "-b:a", "64k"],
}


@pytest.mark.parametrize("extension", FFMPEG_ENCODINGS)
def test_transcribes_speech_in_every_container(
    engine: FasterWhisperEngine, speech_wav: bytes, extension: str, tmp_path: Path
) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.fail("the ffmpeg CLI (Debian package ffmpeg) is needed to make test files")
    source, target = tmp_path / "speech.wav", tmp_path / f"speech.{extension}"
    source.write_bytes(speech_wav)
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-i",
            str(source),
            *FFMPEG_ENCODINGS[extension],
            str(target),
        ],
        check=True,
        timeout=60,
    )

    samples = audio.decode_audio(target.read_bytes())
    transcript = engine.transcribe(samples, "en")

    assert set(ENGLISH_EXPECTED_WORDS) <= set(words_of(transcript.text)), transcript.text


# --------------------------------------------------------------------------- model paths


def make_model_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    for name in ("model.bin", "config.json", "tokenizer.json"):
        (path / name).write_bytes(b"")
    return path


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Forbid the hub and record any attempt to open a network connection."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def test_a_directory_is_used_as_is(tmp_path: Path) -> None:
    model_dir = make_model_dir(tmp_path / "anywhere" / "my-whisper")

    assert resolve_model_path(str(model_dir), tmp_path / "models") == model_dir


@pytest.mark.parametrize(
    "layout", ["whisper/{name}", "{name}", "faster-whisper-{name}"], ids=["whisper", "flat", "fw"]
)
def test_a_name_resolves_under_models_dir(tmp_path: Path, layout: str) -> None:
    expected = make_model_dir(tmp_path / layout.format(name="large-v3-turbo"))

    assert resolve_model_path("large-v3-turbo", tmp_path) == expected


def test_models_whisper_wins_over_other_layouts(tmp_path: Path) -> None:
    make_model_dir(tmp_path / "tiny.en")
    preferred = make_model_dir(tmp_path / "whisper" / "tiny.en")

    assert resolve_model_path("tiny.en", tmp_path) == preferred


def test_hub_id_resolves_by_its_last_part(tmp_path: Path) -> None:
    expected = make_model_dir(tmp_path / "whisper" / "faster-whisper-small")

    assert resolve_model_path("Systran/faster-whisper-small", tmp_path) == expected


def test_missing_model_names_the_places_and_the_fix(tmp_path: Path, offline: list) -> None:
    with pytest.raises(errors.EngineUnavailableError) as caught:
        FasterWhisperEngine.load("large-v3-turbo", models_dir=tmp_path, device="cpu")

    message = caught.value.message
    assert "make models" in message
    assert str(tmp_path / "whisper" / "large-v3-turbo") in message
    assert str(tmp_path / "faster-whisper-large-v3-turbo") in message
    assert caught.value.status_code == 503
    assert offline == []  # never asked a hub


def test_directory_without_tokenizer_is_refused(tmp_path: Path, offline: list) -> None:
    # faster-whisper would fetch a missing tokenizer.json from the hub.
    model_dir = make_model_dir(tmp_path / "whisper" / "tiny")
    (model_dir / "tokenizer.json").unlink()

    with pytest.raises(errors.EngineUnavailableError, match=r"missing tokenizer\.json"):
        resolve_model_path("tiny", tmp_path)
    assert offline == []


def test_loading_the_real_model_stays_offline(tmp_path: Path, offline: list) -> None:
    whisper_dir = tmp_path / "whisper"
    whisper_dir.mkdir()
    (whisper_dir / "tiny.en").symlink_to(tiny_en_model_path(), target_is_directory=True)

    loaded = FasterWhisperEngine.load("tiny.en", models_dir=tmp_path, device="cpu")

    assert loaded.path == whisper_dir / "tiny.en"
    assert loaded.languages == frozenset({"en"})
    assert offline == []


# --------------------------------------------------------------------------- devices


def test_device_resolution() -> None:
    has_cuda = ctranslate2.get_cuda_device_count() > 0

    assert resolve_device("cpu") == ("cpu", 0)
    assert resolve_device("auto") == (("cuda", 0) if has_cuda else ("cpu", 0))
    with pytest.raises(errors.EngineUnavailableError, match="unknown device"):
        resolve_device("tpu")
    with pytest.raises(errors.EngineUnavailableError, match="CUDA device"):
        resolve_device("cuda:99")


def test_compute_type_auto_is_int8_on_cpu() -> None:
    assert resolve_compute_type("auto", "cpu", 0) == "int8"
    assert resolve_compute_type("float32", "cpu", 0) == "float32"


@pytest.mark.parametrize(
    ("capability", "expected"),
    [
        ((6, 1), "int8_float32"),  # Pascal (P104-100, GTX 1080): no fast float16
        ((7, 5), "float16"),
        ((8, 6), "float16"),  # RTX 3060
        (None, "int8_float32"),  # capability unknown: the choice that is never slow
    ],
)
def test_cuda_compute_type_rule(capability: tuple[int, int] | None, expected: str) -> None:
    # CTranslate2 lists float16 as supported on Pascal too; the rule must not take it.
    supported = {"float32", "float16", "int8", "int8_float32", "int8_float16"}

    assert choose_cuda_compute_type(supported, capability) == expected


def test_cuda_compute_type_falls_back_to_what_is_supported() -> None:
    assert choose_cuda_compute_type({"float32", "int8"}, (6, 1)) == "int8"
    assert choose_cuda_compute_type({"float32"}, (8, 0)) == "float32"


def test_cuda_capability_is_unknown_without_a_gpu() -> None:
    if ctranslate2.get_cuda_device_count() > 0:
        major, minor = cuda_compute_capability(0) or (0, 0)
        assert major >= 3 and minor >= 0
    else:
        assert cuda_compute_capability(0) is None
