"""espeak-ng: the last-resort offline voice (robotic, but it speaks Russian and needs nothing).

Runs the `espeak-ng` command line tool once per chunk (`espeak-ng -v ru -s <wpm> --stdout`,
text on stdin so no text can ever be read as an option). It is very fast (RTF ~0.003), so
`synthesize_stream` yields the whole chunk as one piece.
"""

from __future__ import annotations

import logging
import shutil
import struct
import subprocess
from collections.abc import Iterator

import numpy as np

from lidia.core.errors import EngineUnavailableError, UnknownVoiceError, UnsupportedLanguageError
from lidia.tts.base import Voice

log = logging.getLogger(__name__)

BINARY = "espeak-ng"
BASE_WPM = 175  # espeak-ng's default rate: speed 1.0
MIN_WPM, MAX_WPM = 80, 450  # espeak-ng's own limits
RUN_TIMEOUT_S = 30.0
VOICE_PREFIX = "espeak-"

# Languages we offer (espeak-ng has ~130, most are not worth listing to a phone secretary's
# clients). Only those the installed espeak-ng actually has are kept.
OFFERED_LANGUAGES = ("ru", "en", "uk", "be", "kk", "de", "fr", "es", "it", "pl", "tr")
# When espeak-ng has only regional variants of a language, the variant to use.
PREFERRED_VARIANT = {"en": "en-gb", "fr": "fr-fr", "es": "es"}
LANGUAGE_NAMES = {
    "ru": "Russian",
    "en": "English",
    "uk": "Ukrainian",
    "be": "Belarusian",
    "kk": "Kazakh",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pl": "Polish",
    "tr": "Turkish",
}


class EspeakEngine:
    """`SpeechSynthesizer` over the espeak-ng CLI. Methods block (a subprocess per call)
    and are safe to call from any worker thread (no shared mutable state)."""

    name = "espeak"

    def __init__(
        self,
        binary: str,
        espeak_voices: dict[str, str],
        default_language: str,
        sample_rate: int,
        version: str,
    ) -> None:
        self._binary = binary
        self._espeak_voices = espeak_voices  # our language code -> espeak-ng voice name
        self._default_language = default_language
        self.sample_rate = sample_rate
        self._version = version

    @classmethod
    def load(cls, voice: str = "ru", *, binary: str = BINARY) -> EspeakEngine:
        """Find espeak-ng, list its languages and synthesize one word to learn the rate.

        Blocking (~50 ms). `voice`: the default language ("ru") or voice id ("espeak-ru").
        Raises `EngineUnavailableError` when espeak-ng is missing or broken.
        """
        path = shutil.which(binary)
        if path is None:
            raise EngineUnavailableError(
                f"espeak-ng: `{binary}` not found on PATH (apt-get install espeak-ng)"
            )
        espeak_voices = _pick_espeak_voices(_run(path, ["--voices"]).decode("utf-8", "replace"))
        if not espeak_voices:
            raise EngineUnavailableError("espeak-ng: none of its voices speaks a known language")
        default_language = _language_of_voice(voice, espeak_voices)
        version_line = _run(path, ["--version"]).decode("utf-8", "replace")
        version = version_line.split("Data at")[0].strip()
        probe = _run(path, ["-v", espeak_voices[default_language], "--stdout"], "а")
        _, sample_rate = parse_wav(probe)
        engine = cls(path, espeak_voices, default_language, sample_rate, version)
        log.info("espeak-ng loaded: %s, languages %s", version, sorted(espeak_voices))
        return engine

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(self._espeak_voices)

    def voices(self) -> list[Voice]:
        return [
            Voice(
                id=f"{VOICE_PREFIX}{code}",
                name=f"espeak-ng {LANGUAGE_NAMES.get(code, code)}",
                engine=self.name,
                languages=(code,),
            )
            for code in self._espeak_voices
        ]

    def synthesize(
        self, text: str, language: str, *, voice: str | None = None, speed: float = 1.0
    ) -> np.ndarray:
        """float32 mono at `sample_rate`. Blocking (one espeak-ng run).

        `voice` ("espeak-en") picks the espeak-ng language; None speaks `language`.
        `speed` maps to words per minute (175 × speed), clamped to espeak-ng's 80–450,
        so speeds below ~0.46 or above ~2.57 are as slow/fast as espeak-ng can go.
        """
        code = self._language_for(language, voice)
        if not text.strip():
            return np.zeros(0, dtype=np.float32)
        wav = _run(
            self._binary,
            [
                "-v",
                self._espeak_voices[code],
                "-s",
                str(words_per_minute(speed)),
                "-b",
                "1",
                "--stdout",
            ],
            text,
        )
        samples, rate = parse_wav(wav)
        if rate != self.sample_rate:
            raise EngineUnavailableError(f"espeak-ng changed its sample rate to {rate} Hz")
        return samples

    def synthesize_stream(
        self, text: str, language: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Iterator[np.ndarray]:
        """One piece per chunk: espeak-ng finishes a sentence in milliseconds."""
        audio = self.synthesize(text, language, voice=voice, speed=speed)
        if len(audio):
            yield audio

    def info(self) -> dict:
        return {
            "engine": self.name,
            "version": self._version,
            "sample_rate": self.sample_rate,
            "default_voice": f"{VOICE_PREFIX}{self._default_language}",
            "languages": sorted(self.languages),
            "voices": [v.id for v in self.voices()],
        }

    def _language_for(self, language: str, voice: str | None) -> str:
        if voice is not None:
            return _language_of_voice(voice, self._espeak_voices)
        if language not in self._espeak_voices:
            raise UnsupportedLanguageError(language, self._espeak_voices, what="espeak-ng")
        return language


def words_per_minute(speed: float) -> int:
    return round(min(max(BASE_WPM * speed, MIN_WPM), MAX_WPM))


def _language_of_voice(voice: str, espeak_voices: dict[str, str]) -> str:
    """Accepts "espeak-ru" or plain "ru"."""
    code = voice.removeprefix(VOICE_PREFIX)
    if code not in espeak_voices:
        valid = ", ".join(f"{VOICE_PREFIX}{c}" for c in espeak_voices)
        raise UnknownVoiceError(f"unknown espeak-ng voice {voice!r}; valid: {valid}", param="voice")
    return code


def _pick_espeak_voices(listing: str) -> dict[str, str]:
    """Map each offered language to an installed espeak-ng voice, from `espeak-ng --voices`.

    The listing's second column is the voice's language ("ru", "en-gb", "fr-fr", ...).
    """
    installed = [line.split()[1] for line in listing.splitlines()[1:] if len(line.split()) > 1]
    chosen: dict[str, str] = {}
    for code in OFFERED_LANGUAGES:
        variants = [name for name in installed if name == code or name.startswith(f"{code}-")]
        if not variants:
            continue
        if code in variants:
            chosen[code] = code
        elif PREFERRED_VARIANT.get(code) in variants:
            chosen[code] = PREFERRED_VARIANT[code]
        else:
            chosen[code] = variants[0]
    return chosen


def _run(binary: str, args: list[str], text: str | None = None) -> bytes:
    """Run espeak-ng (never through a shell); its stdout, or EngineUnavailableError."""
    try:
        done = subprocess.run(
            [binary, *args],
            input=None if text is None else text.encode("utf-8"),
            capture_output=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineUnavailableError(f"espeak-ng failed to run: {exc}") from exc
    if done.returncode != 0 or not done.stdout:
        message = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
        raise EngineUnavailableError(f"espeak-ng failed: {message}")
    return done.stdout


def parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """16-bit mono PCM WAV → (float32 samples, rate).

    espeak-ng writes its WAV to a pipe before it knows the length, so the RIFF and data
    sizes in the header are placeholders (0x7ffff000): the data runs to the end of the
    bytes, whatever the header says.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise EngineUnavailableError("espeak-ng did not produce a WAV file")
    pos, rate = 12, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            audio_format, channels, rate, _, _, bits = struct.unpack(
                "<HHIIHH", data[body : body + 16]
            )
            if (audio_format, channels, bits) != (1, 1, 16):
                raise EngineUnavailableError("espeak-ng produced a WAV that is not 16-bit mono")
        elif chunk_id == b"data":
            if rate is None:
                break
            pcm = data[body : body + size]  # a placeholder size just runs to the end
            pcm = pcm[: len(pcm) - len(pcm) % 2]
            return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0, rate
        pos = body + size + size % 2
    raise EngineUnavailableError("espeak-ng produced a WAV without audio data")
