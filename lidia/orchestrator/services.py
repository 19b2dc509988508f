"""The orchestrator's loaded engines and state, built once per process in the lifespan.

Loading is blocking (model weights) so it runs in worker threads; STT and TTS load in
parallel. An engine that fails to load leaves the service *degraded*, not down: the
reason is kept for `/health` and for the 503 the affected routes return.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from lidia.booking.desk import BookingDesk
from lidia.core.clock import SYSTEM_CLOCK, Clock
from lidia.core.settings import Settings
from lidia.llm.base import ChatModel
from lidia.llm.health import LLMHealth
from lidia.llm.registry import build_chat_model
from lidia.llm.retries import with_retries
from lidia.orchestrator.executors import EngineExecutor
from lidia.orchestrator.queued_stt import QueuedSpeechToText
from lidia.secretary.brain import Secretary
from lidia.secretary.sessions import SessionStore, build_session_store
from lidia.stt.base import SpeechToText
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.base import SpeechSynthesizer
from lidia.tts.registry import check_engine_setting
from lidia.tts.service import VoiceService

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    stt: SpeechToText | None
    stt_error: str | None
    voice: VoiceService | None
    voice_error: str | None
    secretary: Secretary
    llm_health: LLMHealth
    sessions: SessionStore
    chat_model: ChatModel | None
    clock: Clock = SYSTEM_CLOCK  # calendar time: the persona's "today", booking
    booking: BookingDesk | None = None  # None: BOOKING_CALDAV_URL unset
    # Engines passed in by the caller belong to the caller: only close what we loaded.
    owns_voice: bool = True
    owns_chat_model: bool = True

    async def aclose(self) -> None:
        """Release what this app opened (engine threads, HTTP clients, Redis)."""
        if isinstance(self.stt, QueuedSpeechToText):
            await asyncio.to_thread(self.stt.executor.shutdown)
        if self.voice is not None and self.owns_voice:
            await asyncio.to_thread(self.voice.close)
        if self.chat_model is not None and self.owns_chat_model:
            await self.chat_model.aclose()
        await self.sessions.aclose()
        if self.booking is not None:
            await self.booking.close()


def load_stt(settings: Settings) -> tuple[SpeechToText | None, str | None]:
    """Blocking. Returns the engine, or None and the reason it could not load."""
    try:
        engine = FasterWhisperEngine.load(
            settings.whisper_model,
            models_dir=settings.models_dir,
            device=settings.whisper_device,
            compute_type=settings.whisper_compute_type,
            cpu_threads=settings.whisper_cpu_threads,
            beam_size=settings.whisper_beam_size,
            vad_min_silence_ms=settings.stt_vad_min_silence_ms,
        )
    except Exception as exc:  # any load failure must leave the service up, degraded
        log.error("STT engine not loaded: %s", exc)
        return None, str(exc)
    log.info("STT engine loaded: %s", engine.info())
    return engine, None


def load_voice(settings: Settings) -> tuple[VoiceService | None, str | None]:
    """Blocking. Returns the voice service, or None and the reason no engine could load."""
    try:
        voice = VoiceService.from_settings(settings)
    except Exception as exc:
        log.error("no TTS engine could be loaded: %s", exc)
        return None, str(exc)
    return voice, None


def wrap_engine(engine: SpeechSynthesizer | VoiceService, settings: Settings) -> VoiceService:
    """Tests and embedders may pass a bare engine: give it the same voice service."""
    if isinstance(engine, VoiceService):
        return engine
    return VoiceService(
        {engine.name: engine},
        engine.name,
        reason="engine passed to create_app()",
        default_language=settings.tts_language,
        max_chars=settings.tts_max_chars,
        chunk_chars=settings.tts_chunk_chars,
        pause_ms=settings.tts_pause_ms,
    )


async def build_services(
    settings: Settings,
    *,
    stt: SpeechToText | None = None,
    llm: ChatModel | None = None,
    tts: SpeechSynthesizer | VoiceService | None = None,
    clock: Clock | None = None,
) -> Services:
    """Load whatever was not injected. Injected engines are used as they are.
    A TTS_ENGINE that names no engine stops the start (ValueError), like a bad setting."""
    if tts is None:
        check_engine_setting(settings.tts_engine)
    stt_task = asyncio.to_thread(load_stt, settings) if stt is None else _ready((stt, None))
    voice_task = (
        asyncio.to_thread(load_voice, settings)
        if tts is None
        else _ready((wrap_engine(tts, settings), None))
    )
    (stt_engine, stt_error), (voice, voice_error) = await asyncio.gather(stt_task, voice_task)

    if llm is None:
        chat_model, llm_description = build_chat_model(settings)
    else:
        chat_model, llm_description = llm, f"{llm.name} ({llm.model}), passed to create_app()"
    llm_health = LLMHealth.for_model(chat_model, llm_description)
    log.info("LLM: %s", llm_description)
    if chat_model is not None:
        chat_model = with_retries(chat_model, settings, llm_health)
    sessions = build_session_store(settings)
    clock = clock or SYSTEM_CLOCK
    booking = BookingDesk.from_settings(settings, clock)
    if booking is not None:
        await booking.start()  # a wrong password: booking unavailable, said in /health
    secretary = Secretary(chat_model, sessions, settings, llm_health, booking=booking, clock=clock)
    return Services(
        settings=settings,
        clock=clock,
        booking=booking,
        stt=with_own_executor(stt_engine, settings),
        stt_error=stt_error,
        voice=voice,
        voice_error=voice_error,
        secretary=secretary,
        llm_health=llm_health,
        sessions=sessions,
        chat_model=chat_model,
        owns_voice=tts is None,
        owns_chat_model=llm is None,
    )


def with_own_executor(stt: SpeechToText | None, settings: Settings) -> SpeechToText | None:
    """The STT engine on `STT_WORKERS` threads of its own (design §2: never the shared pool)."""
    if stt is None or isinstance(stt, QueuedSpeechToText):
        return stt
    return QueuedSpeechToText(stt, EngineExecutor("stt", settings.stt_workers))


async def _ready(value):
    return value
