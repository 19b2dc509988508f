"""What voice the playground really speaks with, read from the orchestrator's `/health`.

When the cloned voice (XTTS) is not the one speaking, the owner is told why (the
orchestrator's own reason) and how to get it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ENGINE_NAMES = {
    "xtts": "клонированный голос Лидии (XTTS v2)",
    "rhvoice": "запасной голос RHVoice",
    "espeak": "запасной голос espeak-ng (робот)",
}
HOW_TO_CLONE = [
    "положите образцы голоса (WAV) в папку Лидия/;",
    "make models — скачать модель XTTS v2 в models/ (нужен интернет);",
    "make voice — подготовить клонированный голос по образцам;",
    "перезапустите make run.",
]


@dataclass(frozen=True)
class VoiceStatus:
    speaking: str  # which voice answers the callers now, in Russian
    cloned: bool
    reason: str | None = None  # the orchestrator's reason, when the clone is not speaking
    steps: tuple[str, ...] = ()  # how to get the cloned voice


def voice_status(health: dict[str, Any]) -> VoiceStatus:
    tts = health.get("tts") or {}
    primary = tts.get("primary")
    if not tts.get("loaded") or primary is None:
        reason = tts.get("error") or "ни один движок синтеза не загрузился"
        return VoiceStatus("никакой: синтез речи недоступен", False, reason, tuple(HOW_TO_CLONE))
    speaking = ENGINE_NAMES.get(primary, primary)
    if primary == "xtts":
        return VoiceStatus(speaking, True)
    reason = tts.get("fallback_reason")
    if reason is None:  # TTS_ENGINE names this engine: the clone is off on purpose
        reason = f"{tts.get('reason', '')} — клонированный голос выключен (TTS_ENGINE)".lstrip(" —")
        steps = ("TTS_ENGINE=auto или xtts в .env, затем перезапустите make run.",)
        return VoiceStatus(speaking, False, reason, steps)
    return VoiceStatus(speaking, False, reason, tuple(HOW_TO_CLONE))


def voice_label(voice: dict[str, Any], status: VoiceStatus | None) -> str:
    """The dropdown's name for a voice; "lidia" says what really speaks as Лидия."""
    if voice.get("id") != "lidia" or status is None:
        return str(voice.get("name") or voice.get("id"))
    if status.cloned:
        return "Лидия — клонированный голос"
    return f"Лидия — сейчас {status.speaking} (клона нет)"
