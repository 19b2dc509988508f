"""Fixed phrases (greeting, apology, fillers) ready to play, and the beep before a message.

Every phrase is wanted in the cloned voice. When the orchestrator is down at start, the
apology is an espeak-ng stand-in and no filler is ready; the first time the orchestrator
speaks again (any prompt synthesized), the stand-ins are re-synthesized in the background.
"""

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
        self.fillers: list[PhonePrompt] = []  # cloned voice only
        self._filler_texts: list[str] = []
        self._next_filler = 0
        self._upgrade: asyncio.Task[None] | None = None

    async def get(self, text: str) -> PhonePrompt:
        if (cached := self._cache.get(text)) is not None:
            return cached
        prompt = await self._cloned(text)
        if prompt is not None:
            self._upgrade_stand_ins()
            return prompt
        wav = await asyncio.to_thread(espeak_wav, text, self._espeak_voice)
        return await asyncio.to_thread(_prompt_from_wav, text, wav, "espeak")

    async def _cloned(self, text: str) -> PhonePrompt | None:
        """`text` in the cloned voice (cached), or None when the orchestrator cannot speak."""
        if (cached := self._cache.get(text)) is not None:
            return cached
        try:
            wav = await self._orchestrator.tts_wav(text, self._language)
            prompt = await asyncio.to_thread(_prompt_from_wav, text, wav, "orchestrator")
        except Exception as exc:  # any failure: the caller must still hear something
            log.warning("cloned voice unavailable for a prompt (%s); using espeak-ng", exc)
            return None
        self._cache[text] = prompt
        return prompt

    async def load_apology(self, text: str) -> PhonePrompt:
        self.apology = await self.get(text)
        return self.apology

    async def load_fillers(self, texts: list[str]) -> list[PhonePrompt]:
        """Fillers in the cloned voice; none in espeak-ng (silence beats a robot «Секундочку»)."""
        self._filler_texts = list(texts)
        self.fillers = []
        for text in texts:
            prompt = await self._cloned(text)
            if prompt is None:
                break  # the orchestrator is down: the rest would fail the same way
            self.fillers.append(prompt)
        return self.fillers

    def next_filler(self) -> PhonePrompt | None:
        """The fillers in turn, so two slow replies in a row do not sound the same."""
        if not self.fillers:
            return None
        prompt = self.fillers[self._next_filler % len(self.fillers)]
        self._next_filler += 1
        return prompt

    def _stand_ins(self) -> bool:
        apology_robotic = self.apology is not None and self.apology.source != "orchestrator"
        return apology_robotic or len(self.fillers) < len(self._filler_texts)

    def _upgrade_stand_ins(self) -> None:
        """The orchestrator speaks again: re-synthesize what espeak-ng stood in for."""
        if self._stand_ins() and (self._upgrade is None or self._upgrade.done()):
            self._upgrade = asyncio.ensure_future(self.upgrade_stand_ins())

    async def upgrade_stand_ins(self) -> None:
        robotic = self.apology is not None and self.apology.source != "orchestrator"
        if robotic and (apology := await self._cloned(self.apology.text)) is not None:
            self.apology = apology
        if len(self.fillers) < len(self._filler_texts):
            await self.load_fillers(self._filler_texts)
        log.info(
            "prompts re-synthesized (apology: %s, fillers: %d)",
            self.apology.source if self.apology else None,
            len(self.fillers),
        )


def beep_mulaw(seconds: float = 0.3, frequency: float = 1000.0) -> bytes:
    t = np.arange(int(seconds * MULAW_SAMPLE_RATE)) / MULAW_SAMPLE_RATE
    return pcm_to_mulaw((0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32))
