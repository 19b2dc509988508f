"""Linear XTTS streaming: the same audio as one-shot synthesis, each latent vocoded once.

The pieces are checked against PyTorch itself (`F.interpolate`, the whole-sequence
decoder) and the engine against its own one-shot path, on the tiny random checkpoint
loaded through the production path, with Russian text.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lidia.tts.engines.xtts import XttsEngine
from lidia.tts.engines.xtts_device import half_precision_dtype
from lidia.tts.engines.xtts_stream import (
    LinearResampler,
    WindowedVocoder,
    vocoder_context_frames,
)
from lidia.tts.registry import choose_engine
from tests.conftest import make_settings

TEXT = "Добрый день, вы позвонили в компанию «Ромашка»."
OTHER_TEXT = "Оставьте, пожалуйста, ваш номер телефона."


@pytest.fixture(scope="module")
def engine(
    tiny_checkpoint: Path, voice_clips: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> XttsEngine:
    # Pieces of 4, 8, 16, 16 … tokens: many joins in one short sentence.
    return XttsEngine.load(
        tiny_checkpoint,
        voice_clips,
        device="cpu",
        cache_dir=tmp_path_factory.mktemp("stream_cache"),
        stream_chunk_size=4,
    )


def seeded(seed: int, make_audio):
    torch.manual_seed(seed)
    return make_audio()


def streamed(engine: XttsEngine, text: str = TEXT, **kwargs) -> tuple[np.ndarray, list[int]]:
    pieces = list(engine.synthesize_stream(text, "ru", **kwargs))
    return np.concatenate(pieces), [len(piece) for piece in pieces]


def spectral_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of log STFT magnitudes over the common length."""
    length = min(len(a), len(b))
    window = torch.hann_window(1024)

    def log_spectrum(audio: np.ndarray) -> torch.Tensor:
        signal = torch.from_numpy(audio[:length].astype(np.float32))
        spectrum = torch.stft(signal, 1024, hop_length=256, window=window, return_complex=True)
        return torch.log(spectrum.abs() + 1e-5)

    return float((log_spectrum(a) - log_spectrum(b)).abs().mean())


# --- The parts against PyTorch ------------------------------------------------------------------


@pytest.mark.parametrize("scale", [4.0, 24000 / 22050, 1 / 1.5, 1 / 0.7])
def test_incremental_resampling_equals_interpolating_the_whole(scale: float) -> None:
    frames = torch.randn(97, 6)
    whole = F.interpolate(frames.T[None], scale_factor=scale, mode="linear")[0].T
    resampler = LinearResampler(scale)
    sizes = np.random.default_rng(1).integers(1, 15, size=40)
    bounds = np.minimum(np.cumsum(np.concatenate([[0], sizes])), 97)
    parts = [
        resampler.push(frames[start:end], final=end == 97)
        for start, end in itertools.pairwise(bounds)
        if end > start
    ]
    joined = torch.cat(parts)
    assert joined.shape == whole.shape
    torch.testing.assert_close(joined, whole, atol=1e-4, rtol=1e-4)


def test_context_covers_the_decoders_reach(engine: XttsEngine) -> None:
    generator = engine._model.hifigan_decoder.waveform_decoder
    speaker = torch.randn(1, 512, 1)
    frames = torch.randn(1, 64, 80)
    poked = frames.clone()
    poked[:, :, 40] += 1.0
    with torch.inference_mode():
        changed = (generator(poked, g=speaker) - generator(frames, g=speaker)).abs()[0, 0] > 0
    touched = torch.nonzero(changed).flatten()
    reach_left = 40 - int(touched.min()) / 256
    reach_right = (int(touched.max()) + 1) / 256 - 41
    context = vocoder_context_frames(generator)
    assert max(reach_left, reach_right) <= context <= max(reach_left, reach_right) + 4


def test_windowed_vocoding_equals_decoding_everything_at_once(engine: XttsEngine) -> None:
    generator = engine._model.hifigan_decoder.waveform_decoder
    speaker = torch.randn(1, 512, 1)
    frames = torch.randn(100, 64)  # [time, channels]
    vocoder = WindowedVocoder(
        generator, speaker, hop=256, context=vocoder_context_frames(generator)
    )
    bounds = [0, 9, 30, 31, 70, 100]
    with torch.inference_mode():
        whole = generator(frames.T[None], g=speaker).reshape(-1)
        pieces = [
            vocoder.push(frames[start:end], final=end == 100)
            for start, end in itertools.pairwise(bounds)
        ]
    joined = torch.cat(pieces)
    assert len(joined) == len(whole) == 100 * 256
    torch.testing.assert_close(joined, whole, atol=1e-4, rtol=0)


# --- The engine: streamed against one-shot ------------------------------------------------------


def test_stream_is_the_one_shot_audio(engine: XttsEngine) -> None:
    whole = seeded(11, lambda: engine.synthesize(TEXT, "ru"))
    stream, sizes = seeded(11, lambda: streamed(engine))
    other_seed = seeded(12, lambda: engine.synthesize(TEXT, "ru"))
    assert len(sizes) >= 3  # several pieces, so several joins
    assert abs(len(stream) - len(whole)) <= 0.02 * len(whole)
    # The spread of one-shot runs is the yardstick; the stream sits well inside it.
    spread = spectral_distance(whole, other_seed)
    assert spectral_distance(stream, whole) <= 0.01 * spread
    # Sample for sample, the trimmed end included: no seam at any join, the same cut.
    assert len(stream) == len(whole)
    np.testing.assert_allclose(stream, whole, atol=1e-4)


def test_stream_at_another_speed_matches_one_shot(engine: XttsEngine) -> None:
    whole = seeded(5, lambda: engine.synthesize(TEXT, "ru", speed=1.5))
    stream, _ = seeded(5, lambda: streamed(engine, speed=1.5))
    normal = seeded(5, lambda: engine.synthesize(TEXT, "ru"))
    assert len(whole) < 0.8 * len(normal)
    assert len(stream) == len(whole)
    np.testing.assert_allclose(stream, whole, atol=1e-4)


def test_coqui_mode_is_kept_for_comparison(
    tiny_checkpoint: Path, voice_clips: list[Path], tmp_path: Path
) -> None:
    coqui = XttsEngine.load(
        tiny_checkpoint, voice_clips, device="cpu", cache_dir=tmp_path, stream_mode="coqui"
    )
    assert coqui.info()["stream_mode"] == "coqui"
    whole = seeded(3, lambda: coqui.synthesize(OTHER_TEXT, "ru"))
    stream, sizes = seeded(3, lambda: streamed(coqui, OTHER_TEXT))
    assert len(sizes) >= 2
    assert abs(len(stream) - len(whole)) <= 0.02 * len(whole)
    assert spectral_distance(stream, whole) < spectral_distance(
        whole, seeded(4, lambda: coqui.synthesize(OTHER_TEXT, "ru"))
    )


def test_streams_taking_turns_on_one_model_keep_their_own_sentences(
    tiny_checkpoint: Path, voice_clips: list[Path], tmp_path: Path
) -> None:
    # A near-zero temperature makes sampling deterministic, so turns cannot hide behind RNG.
    calm = XttsEngine.load(
        tiny_checkpoint,
        voice_clips,
        device="cpu",
        cache_dir=tmp_path,
        temperature=1e-4,
        stream_chunk_size=4,
    )
    alone = {text: streamed(calm, text)[0] for text in (TEXT, OTHER_TEXT)}
    streams = {text: calm.synthesize_stream(text, "ru") for text in (TEXT, OTHER_TEXT)}
    pieces: dict[str, list[np.ndarray]] = {text: [] for text in streams}
    while streams:
        for text, stream in list(streams.items()):  # one piece each, in turns
            piece = next(stream, None)
            if piece is None:
                del streams[text]
            else:
                pieces[text].append(piece)
    for text, reference in alone.items():
        np.testing.assert_allclose(np.concatenate(pieces[text]), reference, atol=1e-4)


def test_closing_a_stream_frees_the_model(engine: XttsEngine) -> None:
    stream = engine.synthesize_stream(TEXT, "ru")
    assert len(next(stream)) > 0
    stream.close()
    done = threading.Event()

    def speak() -> None:
        engine.synthesize("Алло.", "ru")
        done.set()

    threading.Thread(target=speak, daemon=True).start()
    assert done.wait(timeout=300)


def test_an_aborted_piece_stops_at_its_next_token_with_no_audio(engine: XttsEngine) -> None:
    # What the queue does when the caller hangs up mid-piece (`Abortable`).
    whole = engine.synthesize_stream(TEXT, "ru")
    pieces = [len(piece) for piece in whole]
    stream = engine.synthesize_stream(TEXT, "ru")
    first = next(stream)
    stream.abort()
    rest = [len(piece) for piece in stream]  # at most the tail the trim held back
    assert len(pieces) > 2 and len(rest) <= 1
    assert len(first) + sum(rest) < sum(pieces) // 2


# --- Precision, warm-up, settings ------------------------------------------------------------


def test_half_precision_rules_on_a_cpu() -> None:
    cpu = torch.device("cpu")
    assert half_precision_dtype(cpu, "auto") is None  # CPUs have no fast fp16
    assert half_precision_dtype(cpu, "off") is None
    assert half_precision_dtype(cpu, "on") == torch.bfloat16


def test_half_precision_stream_speaks(
    tiny_checkpoint: Path, voice_clips: list[Path], tmp_path: Path
) -> None:
    half = XttsEngine.load(
        tiny_checkpoint,
        voice_clips,
        device="cpu",
        cache_dir=tmp_path,
        half_precision="on",
        stream_chunk_size=4,
    )
    assert half.info()["half_precision"] == "bfloat16"
    stream = half.synthesize_stream("Алло, слушаю вас.", "ru")
    piece = next(stream)  # bfloat16 is slow on CPUs: the first piece proves the path
    stream.close()
    assert piece.dtype == np.float32 and len(piece) > 0 and np.isfinite(piece).all()
    assert float(np.sqrt(np.mean(piece**2))) > 1e-3


def test_warm_up_is_reported(
    tiny_checkpoint: Path, voice_clips: list[Path], tmp_path: Path
) -> None:
    cold = XttsEngine.load(tiny_checkpoint, voice_clips, device="cpu", cache_dir=tmp_path)
    assert cold.info()["warmup_s"] is None  # auto: CUDA only
    warm = XttsEngine.load(
        tiny_checkpoint, voice_clips, device="cpu", cache_dir=tmp_path, warmup="on"
    )
    assert warm.info()["warmup_s"] > 0
    assert len(warm.synthesize("Да.", "ru")) > 0


def test_settings_choose_the_stream_mode(
    tiny_checkpoint: Path, voice_clips: list[Path], tmp_path: Path
) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "xtts_v2").symlink_to(tiny_checkpoint)
    (tmp_path / "voice").mkdir()
    for clip in voice_clips:
        (tmp_path / "voice" / clip.name).symlink_to(clip)
    settings = make_settings(
        tmp_path, tts_engine="xtts", tts_device="cpu", xtts_stream_mode="coqui"
    )
    choice = choose_engine(settings)
    for loaded in choice.engines.values():  # RHVoice holds a thread
        if hasattr(loaded, "close"):
            loaded.close()
    assert choice.engine is not None and choice.engine.name == "xtts"
    info = choice.engine.info()
    assert (info["stream_mode"], info["half_precision"], info["warmup_s"]) == ("coqui", "off", None)
