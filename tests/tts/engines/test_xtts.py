"""XttsEngine on a tiny random XTTS checkpoint, loaded through the production path."""

from __future__ import annotations

import hashlib
import shutil
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from lidia.core.errors import (
    EngineUnavailableError,
    InvalidAudioError,
    InvalidTextError,
    UnknownVoiceError,
    UnsupportedLanguageError,
)
from lidia.tts.engines.latents_cache import LatentsCache, edges_sha256
from lidia.tts.engines.xtts import XttsEngine, prepare_voice_latents
from lidia.tts.engines.xtts_audio import SPEED_RANGE, clamp_speed, trim_trailing_noise
from lidia.tts.engines.xtts_device import resolve_device
from lidia.tts.service import SpeechSynthesizer
from tests.support.xtts_tiny import make_voice_clips

TEXT = "Здравствуйте, меня зовут Лидия."


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("voice_cache")


@pytest.fixture(scope="module")
def engine(tiny_checkpoint: Path, voice_clips: list[Path], cache_dir: Path) -> XttsEngine:
    return XttsEngine.load(tiny_checkpoint, voice_clips, device="cpu", cache_dir=cache_dir)


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


# --- Loading and synthesis --------------------------------------------------------------------


def test_load_describes_the_engine(engine: XttsEngine, tiny_checkpoint: Path) -> None:
    assert isinstance(engine, SpeechSynthesizer)
    assert engine.name == "xtts"
    assert engine.sample_rate == 24000
    assert engine.languages == frozenset({"ru", "en"})
    [voice] = engine.voices()
    assert (voice.id, voice.engine, voice.languages) == ("lidia", "xtts", ("en", "ru"))
    info = engine.info()
    assert info["engine"] == "xtts"
    assert info["model"] == str(tiny_checkpoint)
    assert info["device"] == "cpu"
    assert info["sample_rate"] == 24000
    assert info["voice_clips"] == 3


def test_synthesize_returns_audible_float32_mono(engine: XttsEngine) -> None:
    audio = engine.synthesize(TEXT, "ru")
    assert audio.dtype == np.float32
    assert audio.ndim == 1 and len(audio) > 0
    assert np.isfinite(audio).all()
    assert np.abs(audio).max() <= 1.0
    assert rms(audio) > 1e-3


def test_stream_yields_non_empty_pieces(engine: XttsEngine) -> None:
    pieces = list(engine.synthesize_stream("Добрый день.", "ru-RU"))
    assert len(pieces) >= 1
    for piece in pieces:
        assert piece.dtype == np.float32 and piece.ndim == 1 and len(piece) > 0
        assert np.isfinite(piece).all()
    assert rms(np.concatenate(pieces)) > 1e-3


def test_calls_from_several_worker_threads_are_serialised(engine: XttsEngine) -> None:
    # The lock makes overlapping calls take turns instead of sharing the GPT's kv-cache.
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(engine.synthesize, "Алло.", "ru") for _ in range(2)]
        results = [future.result(timeout=120) for future in futures]
    for audio in results:
        assert audio.dtype == np.float32 and len(audio) > 0 and np.isfinite(audio).all()


def test_faster_speed_gives_shorter_audio(engine: XttsEngine) -> None:
    torch.manual_seed(7)
    normal = engine.synthesize(TEXT, "ru", speed=1.0)
    torch.manual_seed(7)
    fast = engine.synthesize(TEXT, "ru", speed=2.0)
    assert len(fast) < 0.75 * len(normal)


def test_request_errors_are_domain_errors(engine: XttsEngine) -> None:
    with pytest.raises(UnknownVoiceError):
        engine.synthesize(TEXT, "ru", voice="alloy")
    with pytest.raises(UnsupportedLanguageError):
        engine.synthesize("Guten Tag.", "de")
    with pytest.raises(InvalidTextError):
        engine.synthesize("   ", "ru")
    # The stream checks its arguments when called, not on the first `next`.
    with pytest.raises(UnknownVoiceError):
        engine.synthesize_stream(TEXT, "ru", voice="nova")
    with pytest.raises(UnsupportedLanguageError):
        engine.synthesize_stream(TEXT, "fr")


# --- Conditioning latents cache ---------------------------------------------------------------


def test_latents_computed_once_then_served_from_cache(
    engine: XttsEngine, tiny_checkpoint: Path, voice_clips: list[Path], cache_dir: Path
) -> None:
    assert engine.info()["latents_source"] == "computed"
    assert engine.info()["latents_computed"] == 1
    torch.manual_seed(3)
    first = engine.synthesize(TEXT, "ru")
    assert engine.info()["latents_computed"] == 1  # requests reuse the loaded latents

    restarted = XttsEngine.load(tiny_checkpoint, voice_clips, device="cpu", cache_dir=cache_dir)
    info = restarted.info()
    assert (info["latents_source"], info["latents_computed"], info["latents_cache_hits"]) == (
        "cache",
        0,
        1,
    )
    # Same latents, same seed → the same samples: the cache holds what was computed.
    torch.manual_seed(3)
    np.testing.assert_array_equal(restarted.synthesize(TEXT, "ru"), first)


def test_different_clips_change_the_key_and_recompute(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    clips_a = make_voice_clips(tmp_path / "a", n=2, variant=0)
    clips_b = make_voice_clips(tmp_path / "b", n=2, variant=1)
    XttsEngine.load(tiny_checkpoint, clips_a, device="cpu", cache_dir=cache)
    other = XttsEngine.load(tiny_checkpoint, clips_b, device="cpu", cache_dir=cache)
    assert other.info()["latents_source"] == "computed"
    assert other.info()["latents_computed"] == 1
    assert len(list(cache.glob("*.pt"))) == 2


def test_prepare_voice_latents_is_used_by_a_later_load(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "voice"
    make_voice_clips(folder, n=4)
    cache = tmp_path / "cache"
    path = prepare_voice_latents(
        tiny_checkpoint, folder, cache_dir=cache, device="cpu", progress=False
    )
    assert path.is_file() and path.parent == cache
    written_at = path.stat().st_mtime_ns
    # Already cached: returns the same file without recomputing it.
    assert prepare_voice_latents(tiny_checkpoint, folder, cache_dir=cache, progress=False) == path
    assert path.stat().st_mtime_ns == written_at

    engine = XttsEngine.load(tiny_checkpoint, folder, device="cpu", cache_dir=cache)
    assert engine.info()["voice_clips"] == 4
    assert engine.info()["latents_source"] == "cache"
    assert engine.latents_cache_path == path


def test_unreadable_cache_file_is_a_miss(tmp_path: Path) -> None:
    cache = LatentsCache(tmp_path)
    cache.save("k", torch.ones(1, 32, 64), torch.zeros(1, 512, 1))
    gpt, speaker = cache.load("k")
    assert torch.equal(gpt, torch.ones(1, 32, 64)) and torch.equal(speaker, torch.zeros(1, 512, 1))
    assert [path.name for path in tmp_path.iterdir()] == [cache.path_for("k").name]  # no temp
    cache.path_for("k").write_bytes(b"not a torch file")
    assert cache.load("k") is None
    assert cache.load("absent") is None


def test_checkpoint_fingerprint_sees_a_changed_tail(tmp_path: Path) -> None:
    big = tmp_path / "model.pth"
    big.write_bytes(bytes(3 * 1024 * 1024))
    before = edges_sha256(big)
    with big.open("r+b") as handle:
        handle.seek(-1, 2)
        handle.write(b"\x01")
    assert edges_sha256(big) != before


# --- Checkpoint, device and clip problems -----------------------------------------------------


def snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    return {
        path.name: (
            path.stat().st_size,
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(folder.iterdir())
    }


@pytest.fixture
def read_only_checkpoint(tiny_checkpoint: Path, tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "ro_checkpoint"
    shutil.copytree(tiny_checkpoint, folder)
    for path in folder.iterdir():
        path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    yield folder
    folder.chmod(stat.S_IRWXU)  # let pytest clean up


def test_read_only_checkpoint_loads_and_is_left_untouched(
    read_only_checkpoint: Path, voice_clips: list[Path], tmp_path: Path
) -> None:
    # chmod alone does not stop root, so also prove that nothing in the folder changed.
    before = snapshot(read_only_checkpoint)
    engine = XttsEngine.load(
        read_only_checkpoint, voice_clips, device="cpu", cache_dir=tmp_path / "cache"
    )
    assert len(engine.synthesize("Да.", "ru")) > 0
    assert snapshot(read_only_checkpoint) == before


def test_missing_checkpoint_files_are_reported(voice_clips: list[Path], tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailableError, match=r"model\.pth"):
        XttsEngine.load(tmp_path, voice_clips, device="cpu", cache_dir=tmp_path / "cache")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(EngineUnavailableError, match="CUDA is not available"):
        resolve_device("cuda:1")


def test_unusable_clips_are_invalid_audio(tiny_checkpoint: Path, tmp_path: Path) -> None:
    not_audio = tmp_path / "broken.wav"
    not_audio.write_text("this is not a wav file")
    with pytest.raises(InvalidAudioError, match=r"broken\.wav"):
        XttsEngine.load(tiny_checkpoint, [not_audio], device="cpu", cache_dir=tmp_path)
    too_short = tmp_path / "short.wav"
    sf.write(too_short, np.full(1600, 0.1, dtype=np.float32), 16000)  # 0.1 s
    with pytest.raises(InvalidAudioError, match="too short"):
        XttsEngine.load(tiny_checkpoint, [too_short], device="cpu", cache_dir=tmp_path)


# --- Output clean-up ---------------------------------------------------------------------------


def test_trailing_quiet_noise_is_trimmed_and_faded() -> None:
    rate = 24000
    rng = np.random.default_rng(0)
    speech = 0.5 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate).astype(np.float32)
    hiss = (0.002 * rng.standard_normal(rate)).astype(np.float32)
    trimmed = trim_trailing_noise(np.concatenate([speech, hiss]), rate)
    assert rate <= len(trimmed) <= rate + int(0.15 * rate)  # speech + a short natural tail
    assert abs(trimmed[-1]) < 1e-6  # faded out, no click
    assert len(trim_trailing_noise(speech, rate)) == len(speech)  # nothing to cut


def test_speed_is_clamped_to_the_safe_range() -> None:
    assert clamp_speed(0.25) == SPEED_RANGE[0]
    assert clamp_speed(4.0) == SPEED_RANGE[1]
    assert clamp_speed(1.2) == 1.2
    with pytest.raises(ValueError):
        clamp_speed(float("nan"))
