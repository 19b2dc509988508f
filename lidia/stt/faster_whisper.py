"""Speech to text on faster-whisper (CTranslate2): the `SpeechToText` engine and its loaders.

The interface (`SpeechToText`, `Transcript`, `Segment`, `Word`) lives in `lidia.stt.base`.
"""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import _LANGUAGE_CODES
from faster_whisper.transcribe import Segment as WhisperSegment
from faster_whisper.vad import VadOptions, get_speech_timestamps

from lidia.core import errors
from lidia.stt.base import STT_SAMPLE_RATE, Fragment, Segment, Transcript, Word
from lidia.stt.fragment import first_words

GET_MODELS_HINT = "run `make models` to download it, or set WHISPER_MODEL to a local directory"
# OpenAI's rule for temperature 0: retry with rising temperature when a decode looks
# like a failure (compression ratio, log-probability); faster-whisper's default ladder.
_FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
_MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")
# Whisper often drops or garbles a first word that starts at t=0 ("Hello world" heard
# as "The world"), and a phone VAD cuts utterances right at the speech onset. A short
# silent lead-in fixes that; timestamps are shifted back so callers never see it.
LEAD_IN_SECONDS = 0.3


def resolve_model_path(model: str, models_dir: Path) -> Path:
    """Find the CTranslate2 Whisper model directory for `model`, offline.

    An existing directory is used as is. A name ("large-v3-turbo", "tiny.en", or a hub id
    like "Systran/faster-whisper-small", whose last part counts) is looked up as
    `models_dir/whisper/<name>`, `models_dir/<name>`, `models_dir/faster-whisper-<name>`.
    Never contacts a model hub (faster-whisper would download a bare name; production
    boxes are offline). Raises `errors.EngineUnavailableError` naming what was tried.
    """
    given = Path(model).expanduser()
    if given.is_dir():
        return _checked_model_dir(given)
    name = given.name
    candidates = [
        models_dir / "whisper" / name,
        models_dir / name,
        models_dir / f"faster-whisper-{name}",
    ]
    for candidate in candidates:
        if candidate.is_dir():
            return _checked_model_dir(candidate)
    tried = ", ".join(str(path) for path in [given, *candidates] if path != Path(name))
    raise errors.EngineUnavailableError(
        f"Whisper model {model!r} not found (looked in: {tried}); {GET_MODELS_HINT}"
    )


def _checked_model_dir(directory: Path) -> Path:
    # tokenizer.json matters: without it faster-whisper fetches one from the hub.
    missing = [name for name in _MODEL_FILES if not (directory / name).is_file()]
    if missing:
        raise errors.EngineUnavailableError(
            f"{directory} is not a CTranslate2 Whisper model (missing {', '.join(missing)}); "
            f"{GET_MODELS_HINT}"
        )
    return directory


def resolve_device(device: str) -> tuple[str, int]:
    """("cpu"|"cuda", index) for "auto", "cpu", "cuda" or "cuda:N".

    "auto" takes the first CUDA device CTranslate2 sees, else the CPU.
    Raises `errors.EngineUnavailableError` for a CUDA device that is not there.
    """
    spec = device.strip().lower()
    cuda_count = ctranslate2.get_cuda_device_count()
    if spec == "auto":
        return ("cuda", 0) if cuda_count > 0 else ("cpu", 0)
    if spec == "cpu":
        return ("cpu", 0)
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if match is None:
        raise errors.EngineUnavailableError(
            f"unknown device {device!r}; use auto, cpu, cuda or cuda:N"
        )
    index = int(match.group(1) or 0)
    if index >= cuda_count:
        raise errors.EngineUnavailableError(
            f"device {device!r} requested but CTranslate2 sees {cuda_count} CUDA device(s)"
        )
    return ("cuda", index)


def cuda_compute_capability(index: int) -> tuple[int, int] | None:
    """(major, minor) of CUDA device `index` via the driver API; None when unknown.

    Uses libcuda directly (present wherever the NVIDIA driver is) so no torch is needed;
    device numbering honours CUDA_VISIBLE_DEVICES exactly as CTranslate2's does.
    """
    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None
    device = ctypes.c_int()
    major, minor = ctypes.c_int(), ctypes.c_int()
    compute_capability_major, compute_capability_minor = 75, 76  # CUdevice_attribute
    calls = (
        lambda: libcuda.cuInit(0),
        lambda: libcuda.cuDeviceGet(ctypes.byref(device), index),
        lambda: libcuda.cuDeviceGetAttribute(ctypes.byref(major), compute_capability_major, device),
        lambda: libcuda.cuDeviceGetAttribute(ctypes.byref(minor), compute_capability_minor, device),
    )
    if any(call() != 0 for call in calls):  # CUDA_SUCCESS is 0
        return None
    return (major.value, minor.value)


def choose_cuda_compute_type(
    supported: set[str] | frozenset[str], capability: tuple[int, int] | None
) -> str:
    """The compute type for a CUDA device with these supported types and capability.

    float16 only from Volta (7.0) on: CTranslate2 reports float16 as "supported" on
    Pascal (6.x, e.g. the P104-100) but those chips run it at a fraction of float32
    speed. Pascal 6.1 has fast int8 (DP4A), so int8 weights with float32 compute are
    the best choice there, and the safe choice when the capability is unknown.
    """
    if capability is not None and capability >= (7, 0) and "float16" in supported:
        return "float16"
    for candidate in ("int8_float32", "int8", "float32"):
        if candidate in supported:
            return candidate
    return "float32"


def resolve_compute_type(compute_type: str, device: str, index: int) -> str:
    """Turn "auto" into a concrete CTranslate2 compute type; others pass through."""
    if compute_type != "auto":
        return compute_type
    if device == "cpu":
        return "int8"  # int8 is the fastest CPU type (and RTF 0.17 for tiny.en on 2 cores)
    supported = set(ctranslate2.get_supported_compute_types("cuda", index))
    return choose_cuda_compute_type(supported, cuda_compute_capability(index))


class FasterWhisperEngine:
    """`SpeechToText` on faster-whisper (CTranslate2).

    Thread safety: `transcribe` may be called from several worker threads at once
    without a lock. faster-whisper keeps no per-call state on the model object, and
    CTranslate2 models are thread-safe: concurrent calls are queued to its worker pool
    (`num_workers`, 1 here, so they run one after another; see the `num_workers`
    docstring of `WhisperModel` and CTranslate2's docs/parallel.md).
    """

    name = "faster-whisper"

    def __init__(
        self,
        whisper: WhisperModel,
        *,
        model: str,
        path: Path,
        device: str,
        compute_type: str,
        beam_size: int = 1,
        vad_min_silence_ms: int = 300,
    ) -> None:
        self._whisper = whisper
        self.model = model
        self.path = path
        self.device = device
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.vad_min_silence_ms = vad_min_silence_ms
        # English-only checkpoints are named *.en; the model flag is the ground truth.
        english_only_name = model.endswith(".en") or path.name.endswith(".en")
        self.multilingual = bool(whisper.model.is_multilingual) and not english_only_name
        self._languages = frozenset(_LANGUAGE_CODES) if self.multilingual else frozenset({"en"})

    @classmethod
    def load(
        cls,
        model: str,
        *,
        models_dir: Path,
        device: str = "auto",
        compute_type: str = "auto",
        cpu_threads: int = 0,
        beam_size: int = 1,
        vad_min_silence_ms: int = 300,
    ) -> FasterWhisperEngine:
        """Load a Whisper model from disk (blocking: seconds for large models).

        `model` is a local directory or a name resolved by `resolve_model_path`.
        `cpu_threads=0` lets CTranslate2 choose (OMP_NUM_THREADS or 4).
        Raises `errors.EngineUnavailableError` when the model or device is unusable.
        """
        path = resolve_model_path(model, models_dir)
        kind, index = resolve_device(device)
        chosen_type = resolve_compute_type(compute_type, kind, index)
        try:
            whisper = WhisperModel(
                str(path),
                device=kind,
                device_index=index,
                compute_type=chosen_type,
                cpu_threads=cpu_threads,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise errors.EngineUnavailableError(
                f"cannot load Whisper model {path} on {kind}:{index} as {chosen_type}: {exc}"
            ) from exc
        warm_up(whisper)
        return cls(
            whisper,
            model=model,
            path=path,
            device="cpu" if kind == "cpu" else f"cuda:{index}",
            compute_type=chosen_type,
            beam_size=beam_size,
            vad_min_silence_ms=vad_min_silence_ms,
        )

    @property
    def languages(self) -> frozenset[str]:
        return self._languages

    def transcribe(
        self,
        audio: np.ndarray,
        language: str | None,
        *,
        prompt: str | None = None,
        temperature: float = 0.0,
        word_timestamps: bool = False,
    ) -> Transcript:
        """Transcribe float32 mono 16 kHz audio. Blocking: call from a worker thread.

        `language` None (or "auto") detects it; "ru-RU" is read as "ru". Temperature 0
        means OpenAI's rule: retry hotter when a decode looks broken. Silence gives
        text "" (language "" when it had to be detected from silence).
        """
        samples = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        duration = samples.size / STT_SAMPLE_RATE
        code = self._checked_language(language)
        if code is None and not self.multilingual:
            code = "en"
        vad = VadOptions(min_silence_duration_ms=self.vad_min_silence_ms)
        if code is None and not get_speech_timestamps(samples, vad):
            # Language detection on audio the VAD emptied fails inside faster-whisper.
            return Transcript(text="", language="", language_probability=0.0, duration=duration)
        lead_in = np.zeros(round(LEAD_IN_SECONDS * STT_SAMPLE_RATE), dtype=np.float32)
        segments, info = self._whisper.transcribe(
            np.concatenate([lead_in, samples]),
            language=code,
            beam_size=self.beam_size,
            temperature=_FALLBACK_TEMPERATURES if temperature == 0 else temperature,
            initial_prompt=prompt or None,
            word_timestamps=word_timestamps,
            condition_on_previous_text=False,  # stops one hallucination feeding the next
            vad_filter=True,  # Whisper invents text for silence; cut it out first
            vad_parameters=vad,
        )
        # `segments` is a lazy generator: decoding happens while it is iterated, so
        # consume it here, in the caller's worker thread, never on the event loop.
        results = tuple(
            _segment(index, seg, shift=LEAD_IN_SECONDS, duration=duration)
            for index, seg in enumerate(segments)
        )
        return Transcript(
            text=" ".join(seg.text for seg in results if seg.text),
            language=info.language,
            language_probability=float(info.language_probability),
            duration=duration,
            segments=results,
        )

    def transcribe_fragment(self, audio: np.ndarray, language: str | None) -> Fragment:
        """The first words of a short fragment, fast (see `lidia.stt.fragment`). Blocking."""
        return first_words(self._whisper, audio, self._checked_language(language))

    def info(self) -> dict:
        return {
            "engine": self.name,
            "model": self.model,
            "path": str(self.path),
            "device": self.device,
            "compute_type": self.compute_type,
            "multilingual": self.multilingual,
            "languages": len(self._languages),
            "beam_size": self.beam_size,
            "vad_min_silence_ms": self.vad_min_silence_ms,
        }

    def _checked_language(self, language: str | None) -> str | None:
        if language is None or language.strip().lower() in ("", "auto"):
            return None
        code = re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]
        if code not in self._languages:
            raise errors.UnsupportedLanguageError(
                language, self._languages, what=f"speech recognition model {self.model!r}"
            )
        return code


def warm_up(whisper: WhisperModel) -> None:
    """Half a second of silence through encoder and decoder (no VAD, which would skip it),
    so the first caller does not pay for CUDA's lazy initialisation. Blocking."""
    silence = np.zeros(STT_SAMPLE_RATE // 2, dtype=np.float32)
    segments, _info = whisper.transcribe(
        silence,
        beam_size=1,
        temperature=0.0,
        vad_filter=False,
        without_timestamps=True,
        max_new_tokens=4,
    )
    for _segment in segments:  # lazy: the decoder runs only when iterated
        pass


def _segment(index: int, segment: WhisperSegment, *, shift: float, duration: float) -> Segment:
    """Our `Segment` from faster-whisper's, on the caller's timeline (lead-in removed)."""

    def at(seconds: float) -> float:
        return min(max(float(seconds) - shift, 0.0), duration)

    words = tuple(
        Word(start=at(w.start), end=at(w.end), word=w.word, probability=float(w.probability))
        for w in (segment.words or ())
    )
    return Segment(
        id=index,
        start=at(segment.start),
        end=at(segment.end),
        text=segment.text.strip(),
        avg_logprob=float(segment.avg_logprob),
        no_speech_prob=float(segment.no_speech_prob),
        words=words,
    )
