"""Coqui XTTS v2 voice cloning: the "lidia" voice, from reference clips, behind `SpeechSynthesizer`.

Load once (`XttsEngine.load`, blocking, seconds to a minute), then call `synthesize` /
`synthesize_stream` from a worker thread. One XTTS model serves one request at a time:
`VoiceService` queues requests, and an internal lock serialises inference as a second
line of defence (parallel calls garble audio or crash CUDA).

Conditioning latents (the cloned voice) are computed once per (clips, checkpoint,
parameters) and cached on disk by `tts_engines.latents_cache`; `prepare_voice_latents`
precomputes them for the CLI. Clips are read with soundfile and resampled with soxr, not
torchaudio/torchcodec, which would need ffmpeg at runtime.

CPU threads: torch's defaults are left alone (`torch.set_num_threads` is never called
here); the deployment sets `OMP_NUM_THREADS` if it wants fewer.
"""

from __future__ import annotations

import logging
import math
import os
import pickletools
import threading
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf
import soxr
import torch

from lidia.core.errors import (
    EngineUnavailableError,
    InvalidAudioError,
    InvalidTextError,
    TextTooLongError,
    UnknownVoiceError,
    UnsupportedLanguageError,
)
from lidia.tts.engines.latents_cache import (
    LatentsCache,
    checkpoint_fingerprint,
    file_sha256,
    latents_key,
)
from lidia.tts.service import Voice

if TYPE_CHECKING:
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

logger = logging.getLogger(__name__)

VOICE_ID = "lidia"
VOICE_NAME = "Лидия (cloned voice)"
# XTTS changes speed by stretching GPT latents linearly before the vocoder; outside this
# range the result slurs or chirps, so requests (OpenAI allows 0.25-4.0) are clamped.
SPEED_RANGE = (0.5, 2.0)
GPT_SAMPLE_RATE = 22050  # the GPT conditioning encoder's rate
SPEAKER_ENCODER_SAMPLE_RATE = 16000  # the HiFi-GAN speaker encoder's rate
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
REQUIRED_CHECKPOINT_FILES = ("config.json", "model.pth", "vocab.json")
# Audio a stream keeps back until the next piece, so the end can still be trimmed.
STREAM_HOLDBACK_S = 0.3


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


# --- Devices and checkpoints -------------------------------------------------------------


def resolve_device(device: str) -> torch.device:
    """`"auto"` → CUDA when available, else CPU; an explicit `"cuda:1"` is respected.

    Raises `EngineUnavailableError` for a CUDA device on a machine without (that) CUDA.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise EngineUnavailableError(f"invalid XTTS device {device!r}: {exc}") from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise EngineUnavailableError(
                f"XTTS device {device!r} asked for, but CUDA is not available here "
                "(CPU-only torch or no GPU); set TTS_DEVICE=auto or cpu"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise EngineUnavailableError(
                f"XTTS device {device!r} asked for, but only "
                f"{torch.cuda.device_count()} CUDA device(s) exist"
            )
    return resolved


def checkpoint_pickles_config(model_path: Path) -> bool:
    """True if `model.pth` stores a pickled `XttsConfig` object (the released XTTS v2 does).

    coqui's `Xtts._load_checkpoint` rewrites such a file in place on load (it converts the
    config to a dict and `torch.save`s over `model.pth`), which fails on a read-only mount.
    Reads only the small pickle inside the zip, not the weights. A file in torch's old
    non-zip format answers False (coqui will tell).
    """
    try:
        with zipfile.ZipFile(model_path) as archive:
            pickle_name = next(
                (name for name in archive.namelist() if name.endswith("data.pkl")), None
            )
            if pickle_name is None:
                return False
            data = archive.read(pickle_name)
    except zipfile.BadZipFile:
        return False
    return _pickle_references_class(data, "XttsConfig")


def _pickle_references_class(data: bytes, class_name: str) -> bool:
    last_strings: list[str] = []
    for opcode, arg, _position in pickletools.genops(data):
        if opcode.name == "GLOBAL" and str(arg).split(" ")[-1] == class_name:
            return True
        if opcode.name == "STACK_GLOBAL" and last_strings[-1:] == [class_name]:
            return True
        if isinstance(arg, str):
            last_strings = [*last_strings[-1:], arg]
    return False


def _check_checkpoint_dir(checkpoint_dir: Path) -> None:
    missing = [name for name in REQUIRED_CHECKPOINT_FILES if not (checkpoint_dir / name).is_file()]
    if missing:
        raise EngineUnavailableError(
            f"XTTS checkpoint in {checkpoint_dir} lacks {', '.join(missing)}: run "
            f"`python model_download.py --xtts` or copy the files there"
        )
    model_path = checkpoint_dir / "model.pth"
    if checkpoint_pickles_config(model_path):
        if not os.access(model_path, os.W_OK):
            raise EngineUnavailableError(
                f"{model_path} still pickles an XttsConfig, so loading it would rewrite it, "
                f"but it is read-only: convert it once with `python model_download.py --xtts "
                f"--models-dir {checkpoint_dir.parent}` on a writable copy"
            )
        logger.warning(
            "%s pickles an XttsConfig: coqui converts it in place on this first load", model_path
        )


def _load_model(checkpoint_dir: Path, device: torch.device) -> tuple[Xtts, XttsConfig]:
    """The production load path: config.json → Xtts → load_checkpoint(eval) → device."""
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

    _check_checkpoint_dir(checkpoint_dir)
    config = XttsConfig()
    config.load_json(str(checkpoint_dir / "config.json"))
    # `Xtts(config)` is what the deprecated `Xtts.init_from_config(config)` returns.
    model = Xtts(config)
    model.load_checkpoint(config, checkpoint_dir=str(checkpoint_dir), eval=True)
    model.to(device)
    return model, config


# --- Reference clips and latents ----------------------------------------------------------


def list_voice_clips(folder: Path) -> list[Path]:
    """The audio files of a voice folder, sorted by name (the order is part of the cache key)."""
    if not folder.is_dir():
        raise InvalidAudioError(f"voice samples folder {folder} does not exist")
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS
    )


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
    model, _config = _load_model(checkpoint_dir, resolve_device(device))
    gpt_cond_latent, speaker_embedding = compute_conditioning_latents(
        model, clips, params, progress=progress
    )
    return cache.save(key, gpt_cond_latent, speaker_embedding, meta=_cache_meta(clips, params))


def _cache_meta(clips: Sequence[Path], params: ConditioningParams) -> dict[str, Any]:
    return {"clips": [path.name for path in clips], "params": asdict(params)}


# --- Output clean-up -----------------------------------------------------------------------


def clamp_speed(speed: float) -> float:
    """Clamp a requested speed into `SPEED_RANGE`; NaN/inf are a caller bug."""
    if not math.isfinite(speed):
        raise ValueError(f"speed must be a finite number, got {speed!r}")
    return min(max(speed, SPEED_RANGE[0]), SPEED_RANGE[1])


def frame_rms(audio: np.ndarray, frame: int) -> np.ndarray:
    """RMS of consecutive frames of `frame` samples (the last partial frame included)."""
    padded = np.pad(audio, (0, (-len(audio)) % frame))
    return np.sqrt(np.mean(padded.reshape(-1, frame) ** 2, axis=1))


def trim_trailing_noise(
    audio: np.ndarray,
    sample_rate: int,
    *,
    floor_db: float = -35.0,
    keep_ms: float = 120.0,
    fade_ms: float = 15.0,
    peak_rms: float | None = None,
) -> np.ndarray:
    """Cut the quiet tail XTTS often leaves after a sentence, then fade out.

    Frames of 20 ms quieter than `floor_db` below the loudest frame (`peak_rms`, or this
    audio's own) are trailing noise; the audio ends `keep_ms` after the last louder frame
    so natural decays survive, with a `fade_ms` fade against clicks. Loud babble after
    the sentence is not detected (that needs alignment with the text); this guard only
    removes low-level hiss, breath and silence so pauses between chunks stay even.
    """
    if audio.size == 0:
        return audio
    frame = max(1, sample_rate // 50)
    energies = frame_rms(audio, frame)
    reference = peak_rms if peak_rms is not None else float(energies.max())
    loud = np.flatnonzero(energies > reference * 10 ** (floor_db / 20))
    if loud.size == 0:
        return audio[:0] if peak_rms is not None else audio
    end = min(len(audio), (int(loud[-1]) + 1) * frame + int(sample_rate * keep_ms / 1000))
    trimmed = audio[:end].copy()
    fade = min(len(trimmed), int(sample_rate * fade_ms / 1000))
    if fade:
        trimmed[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return trimmed


def _as_float_audio(wav: torch.Tensor | np.ndarray) -> np.ndarray:
    array = wav.detach().float().cpu().numpy() if isinstance(wav, torch.Tensor) else wav
    return np.clip(np.nan_to_num(np.asarray(array, dtype=np.float32).reshape(-1)), -1.0, 1.0)


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
    ) -> None:
        self._model = model
        self._config = config
        self._checkpoint_dir = checkpoint_dir
        self._device = device
        self._voice_clips = list(voice_clips)
        self._temperature = temperature
        self._stream_chunk_size = stream_chunk_size
        self._lock = threading.Lock()
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
        params: ConditioningParams | None = None,
    ) -> XttsEngine:
        """Load the checkpoint and the voice (latents from the disk cache or computed).

        Blocking: about a minute for the real model on CPU, under a second for the tiny
        test one. `checkpoint_dir` may be read-only once converted (see model_download.py).
        `voice_samples`: a list of clips or a folder (all its audio files, sorted).
        Raises `EngineUnavailableError` (missing files, unusable device) or
        `InvalidAudioError` (unreadable or too short clips).
        """
        checkpoint_dir = Path(checkpoint_dir)
        torch_device = resolve_device(device)
        clips = _clips_from(voice_samples)
        if not clips:
            raise InvalidAudioError("no voice clips given for the XTTS voice")
        model, config = _load_model(checkpoint_dir, torch_device)
        engine = cls(
            model,
            config,
            checkpoint_dir=checkpoint_dir,
            device=torch_device,
            voice_clips=clips,
            temperature=temperature,
            stream_chunk_size=stream_chunk_size,
        )
        engine._load_voice(LatentsCache(cache_dir), params or ConditioningParams())
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

    def _inference_kwargs(self, speed: float) -> dict[str, Any]:
        return {
            "temperature": self._temperature,
            "speed": clamp_speed(speed),
            "enable_text_splitting": False,  # chunking is VoiceService's job
        }

    def synthesize(
        self, text: str, language: str, *, voice: str | None = None, speed: float = 1.0
    ) -> np.ndarray:
        """float32 mono in [-1, 1] at `sample_rate`, trailing noise trimmed. Blocking."""
        resolved = self._check_request(text, language, voice)
        kwargs = self._inference_kwargs(speed)
        with self._lock:
            output = self._model.inference(
                text, resolved, self._gpt_cond_latent, self._speaker_embedding, **kwargs
            )
        return trim_trailing_noise(_as_float_audio(output["wav"]), self.sample_rate)

    def synthesize_stream(
        self, text: str, language: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Iterator[np.ndarray]:
        """The audio of `synthesize` in pieces, each yielded as soon as it is decoded.

        Arguments are checked now (errors raise here, not on the first `next`). The
        iterator holds the model lock until exhausted or closed: consume it or `close()`
        it. The last `STREAM_HOLDBACK_S` of audio is held back so the trailing-noise trim
        can apply to the end. coqui's `inference_stream` re-decodes all latents so far on
        every piece (quadratic in the chunk's length); fine for one sentence chunk
        (≤ 180 characters), not for paragraphs.
        """
        resolved = self._check_request(text, language, voice)
        kwargs = self._inference_kwargs(speed)
        return self._stream(text, resolved, kwargs)

    def _stream(self, text: str, language: str, kwargs: dict[str, Any]) -> Iterator[np.ndarray]:
        holdback = int(self.sample_rate * STREAM_HOLDBACK_S)
        frame = max(1, self.sample_rate // 50)
        pending = np.zeros(0, dtype=np.float32)
        peak_rms = 0.0
        with self._lock:
            pieces = self._model.inference_stream(
                text,
                language,
                self._gpt_cond_latent,
                self._speaker_embedding,
                stream_chunk_size=self._stream_chunk_size,
                **kwargs,
            )
            for piece in pieces:
                audio = np.concatenate([pending, _as_float_audio(piece)])
                if audio.size:
                    peak_rms = max(peak_rms, float(frame_rms(audio, frame).max()))
                if len(audio) > holdback:
                    yield audio[:-holdback]
                    audio = audio[-holdback:]
                pending = audio
        tail = trim_trailing_noise(pending, self.sample_rate, peak_rms=peak_rms or None)
        if tail.size:
            yield tail

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
        }
