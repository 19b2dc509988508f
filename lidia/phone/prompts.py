"""Fixed phrases (greeting, apology) ready to play, and the beep before a message."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

from lidia.audio.codecs import decode_audio
from lidia.audio.mulaw import MULAW_SAMPLE_RATE, pcm_to_mulaw
from lidia.phone.orchestrator_client import OrchestratorClient

log = logging.getLogger("phone.prompts")


@dataclass(frozen=True)
class PhonePrompt:
    """A fixed phrase ready to play: μ-law 8 kHz for the stream, WAV for `<Play>`."""

    text: str
    mulaw: bytes
    wav: bytes
    source: str  # "orchestrator" (cloned voice) | "espeak" (local, always available)


def espeak_wav(text: str, voice: str = "ru") -> bytes:
    """espeak-ng speaking `text` as WAV. Blocking (~50 ms): call from a worker thread."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed")
    return subprocess.run(
        ["espeak-ng", "-v", voice, "--stdout", text], check=True, capture_output=True, timeout=30
    ).stdout


def _prompt_from_wav(text: str, wav: bytes, source: str) -> PhonePrompt:
    samples = decode_audio(wav, sample_rate=MULAW_SAMPLE_RATE)
    return PhonePrompt(text, pcm_to_mulaw(samples), wav, source)


class PromptCache:
    """Greeting and apology audio, synthesized once per text in the cloned voice.

    When the orchestrator cannot speak, espeak-ng speaks instead (so there is always
    something to play); such a stand-in is not cached, the cloned voice is tried again
    on the next request.
    """

    def __init__(
        self, orchestrator: OrchestratorClient, *, language: str, espeak_voice: str
    ) -> None:
        self._orchestrator = orchestrator
        self._language = language
        self._espeak_voice = espeak_voice
        self._cache: dict[str, PhonePrompt] = {}
        self.apology: PhonePrompt | None = None

    async def get(self, text: str) -> PhonePrompt:
        if (cached := self._cache.get(text)) is not None:
            return cached
        try:
            wav = await self._orchestrator.tts_wav(text, self._language)
            prompt = await asyncio.to_thread(_prompt_from_wav, text, wav, "orchestrator")
            self._cache[text] = prompt
            return prompt
        except Exception as exc:  # any failure: the caller must still hear something
            log.warning("cloned voice unavailable for a prompt (%s); using espeak-ng", exc)
            wav = await asyncio.to_thread(espeak_wav, text, self._espeak_voice)
            return await asyncio.to_thread(_prompt_from_wav, text, wav, "espeak")

    async def load_apology(self, text: str) -> PhonePrompt:
        self.apology = await self.get(text)
        return self.apology


def beep_mulaw(seconds: float = 0.3, frequency: float = 1000.0) -> bytes:
    t = np.arange(int(seconds * MULAW_SAMPLE_RATE)) / MULAW_SAMPLE_RATE
    return pcm_to_mulaw((0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32))
