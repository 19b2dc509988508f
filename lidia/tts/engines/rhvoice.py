"""RHVoice: the good offline fallback voice (natural Russian, RTF ~0.03, 24 kHz, no GPU).

Driven through PyPI `rhvoice-wrapper` over the Debian library `libRHVoice.so.5`. Facts of
that wrapper this module is built around (checked in its source, version 1.8.0 of the lib):

- `TTS(...)` starts a worker thread that owns the RHVoice engine; it is a non-daemon
  thread, so a process that never calls `join()` hangs at exit. `close()` joins it, and
  the worker is started from a daemon thread so that it inherits `daemon=True`: a
  forgotten `close()` cannot hang the interpreter (no reliance on `__del__`).
- `stream=False` with `format_="pcm"` is broken (it reads its buffer after closing it: the
  worker thread dies and the caller waits forever), and `stream=True` with `format_="wav"`
  writes a placeholder length. So we use `stream=True` with raw `pcm` only: no header at
  all, and `say()` hands out real pieces as RHVoice produces them (first piece in a few ms).
- Rate: RHVoice clips the rate to 0.5–2× unless the `dont_clip_rate` flag is set; with it,
  `relative_rate` multiplies the tempo (the wrapper accepts at most 2.5) and
  `absolute_rate` = 1 doubles it. Changing the rate does not change the pitch.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from lidia.core.errors import EngineUnavailableError, UnknownVoiceError, UnsupportedLanguageError
from lidia.tts.base import Voice

log = logging.getLogger(__name__)

SAMPLE_RATE = 24_000  # every Debian RHVoice voice; a voice at another rate is resampled
VOICE_PREFIX = "rhvoice-"
MIN_SPEED, MAX_SPEED = 0.25, 4.0
MAX_RELATIVE_RATE = 2.5  # the wrapper rejects more
DONT_CLIP_RATE = 1  # RHVoice_synth_flag.dont_clip_rate
PIECE_SAMPLES = SAMPLE_RATE // 5  # synthesize_stream yields 200 ms pieces
INSTALL_HINT = "apt-get install rhvoice rhvoice-russian (Debian non-free)"


class RHVoiceEngine:
    """`SpeechSynthesizer` over RHVoice. Every method blocks; call them from a worker thread.

    The wrapper runs one RHVoice worker thread: concurrent calls wait for each other inside
    the wrapper (up to 30 s, then it raises); `VoiceService` queues calls before that.
    Call `close()` once at shutdown.
    """

    name = "rhvoice"

    def __init__(self, tts: Any, voices_info: dict[str, dict], default_voice: str) -> None:
        self._tts = tts
        self._voices_info = voices_info  # lower-case key ("anna") -> the library's info
        self._default_voice = default_voice
        self._voice_rates: dict[str, int] = {}  # probed on first use of each voice
        self._rates_lock = threading.Lock()
        self._closed = False
        self.sample_rate = SAMPLE_RATE

    @classmethod
    def load(
        cls,
        *,
        voice: str = "anna",
        data_path: Path | str = Path("/usr/share/RHVoice"),
        config_path: Path | str = Path("/etc/RHVoice"),
        lib: str = "libRHVoice.so.5",
    ) -> RHVoiceEngine:
        """Start RHVoice and check that the default voice speaks. Blocking (~0.1 s).

        `voice`: the default voice, "anna" or "rhvoice-anna". Raises `EngineUnavailableError`
        (wrapper, library or voices missing) or `UnknownVoiceError` (no such voice).
        """
        try:
            from rhvoice_wrapper import TTS  # optional dependency: a box may not have it
        except ImportError as exc:
            raise EngineUnavailableError(
                f"RHVoice: Python package rhvoice-wrapper not installed ({exc})"
            ) from exc
        voices_dir = Path(data_path) / "voices"
        if not voices_dir.is_dir() or not any(voices_dir.iterdir()):
            raise EngineUnavailableError(f"RHVoice: no voices in {voices_dir} ({INSTALL_HINT})")

        def start() -> Any:
            return TTS(
                lib_path=lib,
                data_path=str(data_path),
                config_path=str(config_path),
                quiet=True,
                stream=True,
            )

        try:
            tts = _construct_in_daemon_thread(start)
        except OSError as exc:  # ctypes could not load the shared library
            raise EngineUnavailableError(
                f"RHVoice: library not installed ({lib}: {exc}; {INSTALL_HINT})"
            ) from exc
        except RuntimeError as exc:
            raise EngineUnavailableError(f"RHVoice: engine failed to start: {exc}") from exc
        try:
            return cls._checked(tts, voice)
        except BaseException:
            tts.join()
            raise

    @classmethod
    def _checked(cls, tts: Any, voice: str) -> RHVoiceEngine:
        voices_info = dict(tts.voices_info)
        if not voices_info:
            raise EngineUnavailableError(f"RHVoice: the library found no voices ({INSTALL_HINT})")
        default_voice = _voice_key(voice, voices_info)
        engine = cls(tts, voices_info, default_voice)
        engine._rate_of(default_voice)  # fails early if the default voice cannot speak
        log.info(
            "RHVoice %s loaded: voices %s, default %s",
            tts.lib_version,
            sorted(voices_info),
            default_voice,
        )
        return engine

    def close(self) -> None:
        """Stop and join RHVoice's worker thread. Idempotent; blocking (milliseconds)."""
        if not self._closed:
            self._closed = True
            self._tts.join()

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(info["lang"] for info in self._voices_info.values())

    def voices(self) -> list[Voice]:
        return [
            Voice(
                id=f"{VOICE_PREFIX}{key}",
                name=f"{info['name']} (RHVoice, {info['gender']})",
                engine=self.name,
                languages=(info["lang"],),
            )
            for key, info in self._voices_info.items()
        ]

    def synthesize(
        self, text: str, language: str, *, voice: str | None = None, speed: float = 1.0
    ) -> np.ndarray:
        """float32 mono at 24 kHz. Blocking (RTF ~0.03).

        `voice`: "rhvoice-anna" or "anna"; None = the default voice, or the first voice of
        `language` when the default speaks another one. `speed` is clamped to 0.25–4.0.
        """
        key = self._voice_for(voice, language)
        if not text.strip():
            return np.zeros(0, dtype=np.float32)
        self._check_open()
        self._rate_of(key)
        pcm = self._tts.get(text, voice=key, format_="pcm", sets=rate_settings(speed))
        return self._to_float(pcm, key)

    def synthesize_stream(
        self, text: str, language: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Iterator[np.ndarray]:
        """The same audio as `synthesize`, in ~200 ms pieces as RHVoice produces them.

        Closing the iterator early stops RHVoice's synthesis of the rest.
        """
        key = self._voice_for(voice, language)
        if not text.strip():
            return
        self._check_open()
        self._rate_of(key)  # before say(): the wrapper serves one request at a time
        piece_bytes = 2 * PIECE_SAMPLES
        with self._tts.say(
            text, voice=key, format_="pcm", buff=piece_bytes, sets=rate_settings(speed)
        ) as pieces:
            for pcm in pieces:
                yield self._to_float(pcm, key)

    def info(self) -> dict:
        return {
            "engine": self.name,
            "library_version": self._tts.lib_version,
            "sample_rate": self.sample_rate,
            "default_voice": f"{VOICE_PREFIX}{self._default_voice}",
            "languages": sorted(self.languages),
            "voices": [v.id for v in self.voices()],
            "closed": self._closed,
        }

    def _voice_for(self, voice: str | None, language: str) -> str:
        if language not in self.languages:
            raise UnsupportedLanguageError(language, self.languages, what="RHVoice")
        if voice is not None:
            return _voice_key(voice, self._voices_info)
        if self._voices_info[self._default_voice]["lang"] == language:
            return self._default_voice
        return next(k for k, info in self._voices_info.items() if info["lang"] == language)

    def _check_open(self) -> None:
        if self._closed:
            raise EngineUnavailableError("RHVoice engine is closed")

    def _rate_of(self, key: str) -> int:
        with self._rates_lock:
            if key not in self._voice_rates:
                self._voice_rates[key] = _probe_rate(self._tts, key)
            return self._voice_rates[key]

    def _to_float(self, pcm: bytes, key: str) -> np.ndarray:
        pcm = pcm[: len(pcm) - len(pcm) % 2]
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        rate = self._voice_rates[key]
        if rate != self.sample_rate:
            samples = soxr.resample(samples, rate, self.sample_rate).astype(np.float32)
        return samples


def rate_settings(speed: float) -> dict[str, float | int]:
    """RHVoice synthesis settings for a tempo multiplier (clamped to 0.25–4.0)."""
    speed = min(max(speed, MIN_SPEED), MAX_SPEED)
    if speed <= MAX_RELATIVE_RATE:
        return {"flags": DONT_CLIP_RATE, "absolute_rate": 0.0, "relative_rate": speed}
    # absolute_rate 1.0 is RHVoice's 2× tempo; relative_rate multiplies it.
    return {"flags": DONT_CLIP_RATE, "absolute_rate": 1.0, "relative_rate": speed / 2}


def _voice_key(voice: str, voices_info: dict[str, dict]) -> str:
    """ "rhvoice-anna", "anna" or "Anna" → "anna"; unknown → UnknownVoiceError."""
    key = voice.lower().removeprefix(VOICE_PREFIX)
    if key not in voices_info:
        valid = ", ".join(f"{VOICE_PREFIX}{k}" for k in voices_info)
        raise UnknownVoiceError(f"unknown RHVoice voice {voice!r}; valid: {valid}", param="voice")
    return key


def _probe_rate(tts: Any, key: str) -> int:
    """A voice's sample rate, read from the header of a one-word WAV (only its length
    field is a placeholder in stream mode)."""
    header = tts.get("а", voice=key, format_="wav")
    if len(header) < 28 or header[:4] != b"RIFF":
        raise EngineUnavailableError(f"RHVoice: voice {key!r} produced no audio")
    return struct.unpack("<I", header[24:28])[0]


def _construct_in_daemon_thread(factory: Callable[[], Any]) -> Any:
    """Call `factory` in a daemon thread: threads it starts inherit `daemon=True`."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = factory()
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="rhvoice-start", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
