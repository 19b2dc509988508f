"""Which of our engines and voices speaks an OpenAI speech request's (model, voice).

Leniency on purpose: OpenWebUI sends whatever model and voice its admin typed, so an unknown
model or voice maps to the default engine/voice (logged) instead of failing.

Model → engine:
  `tts-1` fastest loaded engine (rhvoice > espeak > xtts); `tts-1-hd` and `lidia` XTTS when
  loaded, else the primary engine; `xtts`/`rhvoice`/`espeak` that engine when loaded; any
  other model: the primary engine.
Voice → (engine, voice):
  `lidia` the cloned voice on XTTS (the primary engine's default voice when XTTS is absent);
  an engine's own voice id (`rhvoice-anna`, `espeak-en`, ...) that voice on its engine;
  OpenAI's names on the engine the model chose: XTTS speaks all of them as `lidia`, espeak
  in its default voice, RHVoice in a Russian voice of the same gender (`OPENAI_VOICES`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from lidia.core.settings import Settings
from lidia.orchestrator.metrics import loaded_engine_names
from lidia.orchestrator.routes.openai_models import CHAT_MODEL
from lidia.tts.registry import CLONED_ENGINE, fastest_first
from lidia.tts.service import VoiceService

log = logging.getLogger(__name__)

# OpenAI voice name → (gender, rank among that gender's RHVoice voices). The rank spreads
# OpenAI's names over the installed voices so different names sound different.
OPENAI_VOICES: dict[str, tuple[Literal["female", "male"], int]] = {
    "alloy": ("female", 0),
    "coral": ("female", 1),
    "marin": ("female", 2),
    "nova": ("female", 3),
    "sage": ("female", 4),
    "shimmer": ("female", 5),
    "ash": ("male", 0),
    "ballad": ("male", 1),
    "cedar": ("male", 2),
    "echo": ("male", 3),
    "fable": ("male", 4),
    "onyx": ("male", 5),
    "verse": ("male", 6),
}
RHVOICE_FEMALE = ("anna", "elena", "irina", "tatiana", "victoria", "arina")
RHVOICE_MALE = (
    "aleksandr",
    "mikhail",
    "artemiy",
    "pavel",
    "yuriy",
    "vitaliy",
    "evgeniy-rus",
    "aleksandr-hq",
)


@dataclass(frozen=True)
class SpeechChoice:
    engine: str
    voice: str | None  # None: the engine's default voice
    wanted_clone: bool  # the caller asked for the cloned voice (counts fallback use)


def engine_for_model(model: str, engines: list[str], primary: str) -> str:
    """The engine a speech `model` name selects among the loaded `engines`."""
    name = model.strip().lower()
    if name == "tts-1":
        return next((e for e in fastest_first() if e in engines), primary)
    if name in ("tts-1-hd", CHAT_MODEL, CLONED_ENGINE):
        return CLONED_ENGINE if CLONED_ENGINE in engines else primary
    if name in engines:
        return name
    log.info("speech model %r is not loaded here; using the primary engine %s", model, primary)
    return primary


def rhvoice_for(openai_voice: str, voice_ids: set[str], default: str) -> str | None:
    """The RHVoice voice id an OpenAI voice name maps to (same gender, spread by rank)."""
    gender, rank = OPENAI_VOICES[openai_voice]
    names = RHVOICE_FEMALE if gender == "female" else RHVOICE_MALE
    if default in names:  # the configured voice is its gender's first choice
        names = (default, *(n for n in names if n != default))
    available = [f"rhvoice-{n}" for n in names if f"rhvoice-{n}" in voice_ids]
    return available[rank % len(available)] if available else None


def choose_speech(
    model: str, voice_name: str, service: VoiceService, settings: Settings
) -> SpeechChoice:
    """Map OpenAI's (model, voice) to one of our engines and voices; never raises."""
    voices = {v.id.lower(): v for v in service.voices()}
    engines = loaded_engine_names(service)
    requested = voice_name.strip().lower()
    model_engine = engine_for_model(model, engines, service.primary)
    wants_hd = model.strip().lower() in ("tts-1-hd", CHAT_MODEL, CLONED_ENGINE)
    if requested == "lidia":
        if "lidia" in voices:
            return SpeechChoice(voices["lidia"].engine, voices["lidia"].id, True)
        return SpeechChoice(service.primary, None, True)
    if requested in voices:
        found = voices[requested]
        return SpeechChoice(found.engine, found.id, wants_hd and found.engine == CLONED_ENGINE)
    if requested in OPENAI_VOICES:
        mapped = None
        if model_engine == "rhvoice":
            mapped = rhvoice_for(requested, set(voices), settings.rhvoice_voice)
        return SpeechChoice(model_engine, mapped, wants_hd)
    log.warning("unknown voice %r: speaking with the default voice of %s", voice_name, model_engine)
    return SpeechChoice(model_engine, None, wants_hd)


def voice_name(voice: str | dict) -> str:
    # OpenAI's newer API also accepts {"id": "..."} for custom voices.
    if isinstance(voice, dict):
        return str(voice.get("id") or voice.get("name") or "")
    return voice


def speech_language(choice: SpeechChoice, service: VoiceService, default: str) -> str:
    """The configured TTS language, unless the chosen voice cannot speak it (espeak-en)."""
    if choice.voice is None:
        return default
    voice = next((v for v in service.voices() if v.id == choice.voice), None)
    if voice is None or not voice.languages or default in voice.languages:
        return default
    return voice.languages[0]
