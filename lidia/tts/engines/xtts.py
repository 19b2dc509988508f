"""Coqui XTTS v2 voice cloning: the "lidia" voice, from reference clips, behind `SpeechSynthesizer`.

Load once (`XttsEngine.load`, blocking, seconds to a minute), then call `synthesize` /
`synthesize_stream` from a worker thread. One XTTS model runs one step at a time:
`VoiceService` queues requests, and an internal lock serialises every call and every
streamed piece as a second line of defence (parallel calls garble audio or crash CUDA).
Streaming is linear in the sentence's length (`xtts_stream`); devices, half precision
and the warm-up are in `xtts_device`, checkpoint loading in `xtts_checkpoint`.

Conditioning latents (the cloned voice) are computed once per (clips, checkpoint,
parameters) and cached on disk by `tts_engines.latents_cache`; `prepare_voice_latents`
precomputes them for the CLI. Clips are read with soundfile and resampled with soxr, not
torchaudio/torchcodec, which would need ffmpeg at runtime.

CPU threads: torch's defaults are left alone (`torch.set_num_threads` is never called
here); the deployment sets `OMP_NUM_THREADS` if it wants fewer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import soundfile as sf
import soxr
import torch

from lidia.core.errors import (
    InvalidAudioError,
    InvalidTextError,
    TextTooLongError,
    UnknownVoiceError,
    UnsupportedLanguageError,
)
from lidia.tts.base import Voice
from lidia.tts.engines.latents_cache import (
    LatentsCache,
    checkpoint_fingerprint,
    file_sha256,
    latents_key,
)
from lidia.tts.engines.xtts_audio import (
    TAIL_FADE_MS,
    TailTrimmer,
    as_float_audio,
    clamp_speed,
    trim_trailing_noise,
)
from lidia.tts.engines.xtts_checkpoint import (
    checkpoint_pickles_config as checkpoint_pickles_config,  # re-exported for model_download
)
from lidia.tts.engines.xtts_checkpoint import load_model
from lidia.tts.engines.xtts_device import (
    HalfPrecision,
    half_precision_dtype,
    inference_context,
    resolve_device,
    synchronize,
)
from lidia.tts.engines.xtts_stream import STREAM_SOURCES, PieceSource, Sampling
from lidia.tts.voice_clips import voice_clips

if TYPE_CHECKING:
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

logger = logging.getLogger(__name__)

StreamMode = Literal["linear", "coqui"]
Warmup = Literal["auto", "on", "off"]

VOICE_ID = "lidia"
VOICE_NAME = "Лидия (cloned voice)"
GPT_SAMPLE_RATE = 22050  # the GPT conditioning encoder's rate
SPEAKER_ENCODER_SAMPLE_RATE = 16000  # the HiFi-GAN speaker encoder's rate
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
# Audio a turn's first piece yields when callers share the model (`XttsStream.start_small`):
# barely a syllable, so that four turns starting at once all speak within ~1.5 pieces' time.
SHARED_FIRST_AUDIO_S = 0.05


@dataclass(frozen=True)
class ConditioningParams:
    """How clips become latents; defaults are those of `Xtts.get_conditioning_latents`.

    Part of the cache key: changing any of them recomputes the latents.
    """

    gpt_cond_len: int = 6  # seconds of the concatenated clips fed to the GPT encoder
    gpt_cond_chunk_len: int = 6  # seconds per chunk; chunk latents are averaged
    max_ref_length: int = 30  # seconds of each clip used at all
    sound_norm_refs: bool = False  # peak-normalise each clip to 0.75
    librosa_trim_db: float | None = None  # trim leading/trailing silence below this


# --- Reference clips and latents ----------------------------------------------------------


def list_voice_clips(folder: Path) -> list[Path]:
    """The audio files of a voice folder, sorted by name (the order is part of the cache key)."""
    if not folder.is_dir():
        raise InvalidAudioError(f"voice samples folder {folder} does not exist")
    return voice_clips(folder)  # the one rule the service and `manage voice` share


def read_clip_mono(path: Path) -> tuple[np.ndarray, int]:
    """A clip as float32 mono in [-1, 1] and its sample rate (any rate, stereo averaged)."""
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise InvalidAudioError(f"cannot read voice clip {path}: {exc}") from exc
    if audio.size == 0:
        raise InvalidAudioError(f"voice clip {path} is empty")
    mono = np.nan_to_num(audio.mean(axis=1))
    return np.clip(mono, -1.0, 1.0).astype(np.float32), int(rate)


def _prepare_clip(path: Path, params: ConditioningParams) -> tuple[np.ndarray, np.ndarray]:
    """One clip at the GPT encoder's rate and at the speaker encoder's rate."""
    audio, rate = read_clip_mono(path)
    audio = audio[: rate * params.max_ref_length]
    if params.sound_norm_refs:
        audio = audio / max(float(np.abs(audio).max()), 1e-8) * 0.75
    if params.librosa_trim_db is not None:
        import librosa

        audio = librosa.effects.trim(audio, top_db=params.librosa_trim_db)[0]
    return _resample(audio, rate, GPT_SAMPLE_RATE), _resample(
        audio, rate, SPEAKER_ENCODER_SAMPLE_RATE
    )


def _resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    if source_rate == target_rate:
        return audio
    return soxr.resample(audio, source_rate, target_rate).astype(np.float32)


def compute_conditioning_latents(
    model: Xtts,
    clips: Sequence[Path],
    params: ConditioningParams,
    *,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`(gpt_cond_latent, speaker_embedding)` from clips, as `get_conditioning_latents` does.

    The same steps on tensors: the speaker embedding is the mean of per-clip embeddings,
    the GPT latent comes from the clips concatenated. Blocking; `progress` shows tqdm.
    """
    from tqdm import tqdm

    if not clips:
        raise InvalidAudioError("no voice clips given for the XTTS voice")
    device = model.device
    gpt_audio: list[np.ndarray] = []
    embeddings: list[torch.Tensor] = []
    with torch.inference_mode():
        for path in tqdm(clips, desc="voice clips", unit="clip", disable=not progress):
            audio_22k, audio_16k = _prepare_clip(path, params)
            speaker_input = torch.from_numpy(audio_16k).unsqueeze(0).to(device)
            embeddings.append(
                model.get_speaker_embedding(speaker_input, SPEAKER_ENCODER_SAMPLE_RATE)
            )
            gpt_audio.append(audio_22k)
        full_audio = torch.from_numpy(np.concatenate(gpt_audio)).unsqueeze(0).to(device)
        try:
            gpt_cond_latent = model.get_gpt_cond_latents(
                full_audio,
                GPT_SAMPLE_RATE,
                length=params.gpt_cond_len,
                chunk_length=params.gpt_cond_chunk_len,
            )
        except RuntimeError as exc:  # coqui's "reference audio too short"
            raise InvalidAudioError(f"voice clips unusable for XTTS: {exc}") from exc
        speaker_embedding = torch.stack(embeddings).mean(dim=0)
    return gpt_cond_latent, speaker_embedding


def _cache_key(checkpoint_dir: Path, clips: Sequence[Path], params: ConditioningParams) -> str:
    clip_hashes = [file_sha256(path) for path in clips]
    return latents_key(clip_hashes, checkpoint_fingerprint(checkpoint_dir), asdict(params))


def _clips_from(voice_samples: str | os.PathLike[str] | Sequence[Path]) -> list[Path]:
    """A folder means all its audio files; a sequence means exactly those files."""
    if isinstance(voice_samples, str | os.PathLike):
        return list_voice_clips(Path(voice_samples))
    clips = [Path(path) for path in voice_samples]
    for path in clips:
        if not path.is_file():
            raise InvalidAudioError(f"voice clip {path} does not exist")
    return clips


def prepare_voice_latents(
    checkpoint_dir: Path,
    voice_samples: Path | Sequence[Path],
    *,
    cache_dir: Path,
    device: str = "auto",
    params: ConditioningParams | None = None,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Precompute and cache the voice latents (for `voice prepare`); return the cache file.

    `voice_samples` is a folder (ALL its audio files, sorted by name) or a list of clips.
    A later `XttsEngine.load` with the same clips, checkpoint and params uses the file.
    Already cached → returns at once unless `force`. Blocking; loads the model.
    """
    checkpoint_dir = Path(checkpoint_dir)
    clips = _clips_from(voice_samples)
    params = params or ConditioningParams()
    cache = LatentsCache(cache_dir)
    key = _cache_key(checkpoint_dir, clips, params)
    if not force and cache.load(key) is not None:
        return cache.path_for(key)
    model, _config = load_model(checkpoint_dir, resolve_device(device))
    gpt_cond_latent, speaker_embedding = compute_conditioning_latents(
        model, clips, params, progress=progress
    )
    return cache.save(key, gpt_cond_latent, speaker_embedding, meta=_cache_meta(clips, params))


def _cache_meta(clips: Sequence[Path], params: ConditioningParams) -> dict[str, Any]:
    return {"clips": [path.name for path in clips], "params": asdict(params)}


# --- The engine -----------------------------------------------------------------------------


class XttsEngine:
    """A loaded XTTS v2 model with the "lidia" voice. Implements `SpeechSynthesizer`.

    Create with `XttsEngine.load(...)`. Every method blocks; call from a worker thread.
    Inference is serialised by a lock (one request at a time per model).
    """

    name = "xtts"

    def __init__(
        self,
        model: Xtts,
        config: XttsConfig,
        *,
        checkpoint_dir: Path,
        device: torch.device,
        voice_clips: Sequence[Path],
        temperature: float,
        stream_chunk_size: int,
        stream_mode: StreamMode = "linear",
        half_precision: HalfPrecision = "auto",
    ) -> None:
        self._model = model
        self._config = config
        self._checkpoint_dir = checkpoint_dir
        self._device = device
        self._voice_clips = list(voice_clips)
        self._sampling = Sampling(temperature=temperature)
        self._stream_chunk_size = stream_chunk_size
        self.stream_mode: StreamMode = stream_mode
        self._half_dtype = half_precision_dtype(device, half_precision)
        self._lock = threading.Lock()
        self.warmup_s: float | None = None
        self.sample_rate = int(config.model_args.output_sample_rate)
        self._languages = self._model_languages()
        self._gpt_cond_latent: torch.Tensor | None = None
        self._speaker_embedding: torch.Tensor | None = None
        self.latents_source = "none"
        self.latents_computed = 0
        self.latents_cache_hits = 0
        self.latents_cache_path: Path | None = None

    @classmethod
    def load(
        cls,
        checkpoint_dir: Path,
        voice_samples: Path | Sequence[Path],
        *,
        device: str = "auto",
        cache_dir: Path,
        temperature: float = 0.65,
        stream_chunk_size: int = 20,
        stream_mode: StreamMode = "linear",
        half_precision: HalfPrecision = "auto",
        warmup: Warmup = "auto",
        params: ConditioningParams | None = None,
    ) -> XttsEngine:
        """Load the checkpoint and the voice (latents from the disk cache or computed).

        Blocking: about a minute for the real model on CPU, under a second for the tiny
        test one. `checkpoint_dir` may be read-only once converted (see model_download.py).
        `voice_samples`: a list of clips or a folder (all its audio files, sorted).
        `stream_mode`: "linear" (ours) or "coqui" (`inference_stream`, quadratic, for
        comparison). `half_precision`: see `xtts_device.half_precision_dtype`. `warmup`:
        one short synthesis before returning ("auto": on CUDA, so the first caller does
        not pay for CUDA's lazy initialisation).
        Raises `EngineUnavailableError` (missing files, unusable device) or
        `InvalidAudioError` (unreadable or too short clips).
        """
        checkpoint_dir = Path(checkpoint_dir)
        torch_device = resolve_device(device)
        clips = _clips_from(voice_samples)
        if not clips:
            raise InvalidAudioError("no voice clips given for the XTTS voice")
        model, config = load_model(checkpoint_dir, torch_device)
        engine = cls(
            model,
            config,
            checkpoint_dir=checkpoint_dir,
            device=torch_device,
            voice_clips=clips,
            temperature=temperature,
            stream_chunk_size=stream_chunk_size,
            stream_mode=stream_mode,
            half_precision=half_precision,
        )
        engine._load_voice(LatentsCache(cache_dir), params or ConditioningParams())
        if warmup == "on" or (warmup == "auto" and torch_device.type == "cuda"):
            engine.warm_up()
        return engine

    def _load_voice(self, cache: LatentsCache, params: ConditioningParams) -> None:
        key = _cache_key(self._checkpoint_dir, self._voice_clips, params)
        cached = cache.load(key)
        if cached is not None:
            gpt_cond_latent, speaker_embedding = cached
            self.latents_source = "cache"
            self.latents_cache_hits += 1
        else:
            gpt_cond_latent, speaker_embedding = compute_conditioning_latents(
                self._model, self._voice_clips, params
            )
            self._save_to_cache(cache, key, gpt_cond_latent, speaker_embedding, params)
            self.latents_source = "computed"
            self.latents_computed += 1
        self.latents_cache_path = cache.path_for(key)
        self._gpt_cond_latent = gpt_cond_latent.to(self._device)
        self._speaker_embedding = speaker_embedding.to(self._device)

    def _save_to_cache(
        self,
        cache: LatentsCache,
        key: str,
        gpt_cond_latent: torch.Tensor,
        speaker_embedding: torch.Tensor,
        params: ConditioningParams,
    ) -> None:
        # The cache only saves time: a read-only or full disk must not stop the voice.
        try:
            cache.save(
                key, gpt_cond_latent, speaker_embedding, meta=_cache_meta(self._voice_clips, params)
            )
        except OSError as exc:
            logger.warning("voice latents not cached in %s: %s", cache.cache_dir, exc)

    def _model_languages(self) -> frozenset[str]:
        # A language needs both the config entry and its `[lang]` token in the vocab.
        tokenizer = self._model.tokenizer.tokenizer
        return frozenset(
            lang
            for lang in self._config.languages
            if tokenizer.token_to_id(f"[{lang}]") is not None
        )

    @property
    def languages(self) -> frozenset[str]:
        return self._languages

    def voices(self) -> list[Voice]:
        return [
            Voice(
                id=VOICE_ID,
                name=VOICE_NAME,
                engine=self.name,
                languages=tuple(sorted(self._languages)),
            )
        ]

    # --- Requests ---------------------------------------------------------------------

    def _resolve_language(self, language: str) -> str:
        wanted = language.strip().lower()
        base = wanted.split("-")[0]
        candidates = [wanted, base, *(["zh-cn"] if base == "zh" else [])]  # XTTS says zh-cn
        for candidate in candidates:
            if candidate in self._languages:
                return candidate
        raise UnsupportedLanguageError(language, self._languages, what="XTTS voice")

    def _check_request(self, text: str, language: str, voice: str | None) -> str:
        if voice not in (None, VOICE_ID):
            raise UnknownVoiceError(
                f"voice {voice!r} is not served by XTTS; available: {VOICE_ID}", param="voice"
            )
        resolved = self._resolve_language(language)
        if not text.strip():
            raise InvalidTextError("text is empty", param="input")
        token_count = len(self._model.tokenizer.encode(text.strip().lower(), lang=resolved))
        if token_count >= self._model.args.gpt_max_text_tokens:
            raise TextTooLongError(
                f"text is {token_count} XTTS tokens; the model takes fewer than "
                f"{self._model.args.gpt_max_text_tokens} per chunk",
                param="input",
            )
        return resolved

    def _inference(self) -> contextlib.AbstractContextManager[None]:
        return inference_context(self._device, self._half_dtype)

    def synthesize(
        self, text: str, language: str, *, voice: str | None = None, speed: float = 1.0
    ) -> np.ndarray:
        """float32 mono in [-1, 1] at `sample_rate`, trailing noise trimmed. Blocking."""
        resolved = self._check_request(text, language, voice)
        with self._lock, self._inference():
            output = self._model.inference(
                text,
                resolved,
                self._gpt_cond_latent,
                self._speaker_embedding,
                speed=clamp_speed(speed),
                enable_text_splitting=False,  # chunking is VoiceService's job
                **self._sampling.as_kwargs(),
            )
        return trim_trailing_noise(as_float_audio(output["wav"]), self.sample_rate)

    def synthesize_stream(
        self, text: str, language: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Iterator[np.ndarray]:
        """The audio of `synthesize` in pieces, each yielded as soon as it is decoded.

        Arguments are checked now (errors raise here, not on the first `next`). Each
        `next` holds the model lock for one piece only, so streams of several callers may
        advance in turns (the GPT's per-sentence state is restored on every step); close
        an abandoned iterator. The trailing-noise trim applies to the end as in
        `synthesize`: `TailTrimmer` holds back only audio it could still cut (15 ms while
        the voice is loud). `stream_mode` "linear" vocodes each
        latent once (`xtts_stream`); "coqui" re-decodes everything so far on every piece.
        """
        resolved = self._check_request(text, language, voice)
        source = STREAM_SOURCES[self.stream_mode](
            self._model,
            text,
            resolved,
            (self._gpt_cond_latent, self._speaker_embedding),
            sampling=self._sampling,
            speed=clamp_speed(speed),
            chunk_tokens=self._stream_chunk_size,
        )
        first_audio = int(self.sample_rate * (TAIL_FADE_MS / 1000 + SHARED_FIRST_AUDIO_S))
        return XttsStream(self._stream(source), source, first_audio)

    def _stream(self, source: PieceSource) -> Iterator[np.ndarray]:
        trimmer = TailTrimmer(self.sample_rate)
        try:
            while (piece := self._next_piece(source)) is not None:
                ready = trimmer.push(piece)
                if ready.size:
                    yield ready
        finally:
            # No lock: closing runs no model code, and a collected stream may be closed
            # by the garbage collector inside a thread that holds the lock.
            source.close()
        tail = trimmer.finish()
        if tail.size:
            yield tail

    def _next_piece(self, source: PieceSource) -> np.ndarray | None:
        # The torch modes are per thread: entered and left within this one step.
        with self._lock, self._inference():
            piece = source.next_piece()
            return None if piece is None else as_float_audio(piece)

    def warm_up(self) -> float:
        """One short Russian phrase's first piece, so CUDA kernels are loaded before the
        first caller; returns (and reports in `info`) the seconds it took. Blocking."""
        started = time.perf_counter()
        stream = self.synthesize_stream("Алло, здравствуйте.", self._warmup_language())
        with contextlib.closing(stream):
            next(stream, None)
        synchronize(self._device)
        self.warmup_s = time.perf_counter() - started
        logger.info("XTTS warmed up on %s in %.2f s", self._device, self.warmup_s)
        return self.warmup_s

    def _warmup_language(self) -> str:
        return "ru" if "ru" in self._languages else sorted(self._languages)[0]

    def info(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "model": str(self._checkpoint_dir),
            "device": str(self._device),
            "sample_rate": self.sample_rate,
            "voices": [VOICE_ID],
            "voice_clips": len(self._voice_clips),
            "latents_source": self.latents_source,
            "latents_computed": self.latents_computed,
            "latents_cache_hits": self.latents_cache_hits,
            "stream_mode": self.stream_mode,
            "half_precision": _dtype_name(self._half_dtype),
            "warmup_s": self.warmup_s,
        }


class XttsStream(Iterator[np.ndarray]):
    """`synthesize_stream`'s pieces; closeable; `start_small()` (the queue's
    `ShortFirstPiece`) shrinks the first piece when callers share the model."""

    def __init__(
        self, pieces: Generator[np.ndarray, None, None], source: PieceSource, first_audio: int
    ) -> None:
        self._pieces = pieces
        self._source = source
        self._first_audio = first_audio  # samples past the tail fade-out, then some

    def __next__(self) -> np.ndarray:
        return next(self._pieces)

    def close(self) -> None:
        self._pieces.close()

    def start_small(self) -> None:
        start_small = getattr(self._source, "start_small", None)  # coqui's mode cannot
        if start_small is not None:
            start_small(self._first_audio)

    def abort(self) -> None:
        """From the event loop: the piece in synthesis stops early (the queue's
        `Abortable`); coqui's mode finishes its piece."""
        abort = getattr(self._source, "abort", None)
        if abort is not None:
            abort()


def _dtype_name(dtype: torch.dtype | None) -> str:
    return "off" if dtype is None else str(dtype).removeprefix("torch.")
