"""All settings of both services, in one place, read from the environment and `.env`.

Names match the original design's `.env` (GEMINI_API_KEY, OPENWEBUI_URL, VOICE_SAMPLES_DIR, ...).
Secrets are `SecretStr` so they never show up in logs, reprs or `/health`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lidia.core.opening_hours import parse_hours

PROJECT_DIR = Path(__file__).resolve().parents[2]  # the checkout: models/, Лидия/, calls_log/


class Settings(BaseSettings):
    # env_ignore_empty: `.env` lines like `OPENWEBUI_API_KEY=` (and empty variables) mean
    # "not set": the field keeps its default instead of becoming the empty string.
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
    )

    # --- Service -------------------------------------------------------------------------
    orchestrator_host: str = "0.0.0.0"
    orchestrator_port: int = 8002
    orchestrator_api_key: SecretStr | None = None
    log_level: str = "INFO"

    # --- Folders -------------------------------------------------------------------------
    models_dir: Path = PROJECT_DIR / "models"
    temp_dir: Path = PROJECT_DIR / "temp"
    calls_log_dir: Path = PROJECT_DIR / "calls_log"

    # --- Languages -----------------------------------------------------------------------
    stt_language: str = "ru"  # "auto" = detect
    tts_language: str = "ru"

    # --- Speech to text (faster-whisper) -------------------------------------------------
    whisper_model: str = "large-v3-turbo"  # a name resolved under models/, or a local dir
    whisper_device: str = "auto"  # auto | cpu | cuda | cuda:0 ...
    whisper_compute_type: str = "auto"  # auto picks int8 on CPU, int8_float32 on CUDA
    whisper_beam_size: int = Field(default=1, ge=1, le=10)
    whisper_cpu_threads: int = Field(default=0, ge=0)
    stt_vad_min_silence_ms: int = Field(default=300, ge=50)
    stt_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1)

    # --- Text to speech -------------------------------------------------------------------
    tts_engine: str = "auto"  # "auto" or an engine name; lidia.tts.registry checks it at startup
    tts_device: str = "auto"  # auto | cpu | cuda | cuda:1 ...
    tts_max_chars: int = Field(default=5000, ge=1)
    tts_chunk_chars: int = Field(default=180, ge=40, le=182)
    tts_pause_ms: int = Field(default=250, ge=0, le=2000)
    # A streamed reply's first clause ("Здравствуйте,") is spoken as soon as it is written
    # when it has at least this many characters; 0 waits for whole sentences.
    tts_first_clause_chars: int = Field(default=12, ge=0)
    xtts_model_dir: Path | None = None  # default: models/xtts_v2
    voice_samples_dir: Path = PROJECT_DIR / "Лидия"
    voice_samples_count: int = Field(default=3, ge=0)  # 0 = all clips
    xtts_temperature: float = Field(default=0.65, gt=0.0, le=2.0)
    xtts_stream_chunk_size: int = Field(default=20, ge=4)
    # linear: each streamed piece vocoded once; coqui: its quadratic inference_stream.
    xtts_stream_mode: Literal["linear", "coqui"] = "linear"
    # float16 autocast; auto = CUDA with compute capability >= 7.0 (never Pascal, CPU).
    xtts_half_precision: Literal["auto", "on", "off"] = "auto"
    xtts_warmup: Literal["auto", "on", "off"] = "auto"  # auto = on CUDA only
    rhvoice_voice: str = "anna"
    rhvoice_data_path: Path = Path("/usr/share/RHVoice")
    rhvoice_config_path: Path = Path("/etc/RHVoice")
    rhvoice_lib: str = "libRHVoice.so.5"
    espeak_voice: str = "ru"
    tts_server_port: int = 5002  # kept from the original design; unused by this service

    # --- LLM ------------------------------------------------------------------------------
    llm_backend: Literal["auto", "gemini", "openwebui", "openai"] = "auto"
    gemini_api_key: SecretStr | None = None
    gemini_model: str = "gemini-2.5-flash"
    gemini_base_url: str | None = None
    openwebui_url: str | None = None
    openwebui_api_key: SecretStr | None = None
    openwebui_model: str = "gemini-pro"
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_model: str = "llama3.1"
    llm_temperature: float = Field(default=0.6, ge=0.0, le=2.0)
    llm_max_output_tokens: int = Field(default=400, ge=1)
    llm_timeout_s: float = Field(default=20.0, gt=0)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    llm_retry_base_s: float = Field(default=0.5, ge=0)

    # --- The secretary --------------------------------------------------------------------
    secretary_prompt_file: Path = PROJECT_DIR / "prompts" / "secretary_ru.md"
    company_name: str = "наша компания"
    company_hours: str = "с понедельника по пятницу с девяти до восемнадцати"
    company_services: str = ""
    company_contacts: str = ""
    history_max_turns: int = Field(default=12, ge=1)
    history_max_chars: int = Field(default=6000, ge=200)
    session_ttl_s: int = Field(default=3600, ge=1)
    redis_url: str | None = None
    redis_key_prefix: str = "lidia:"

    # --- Phone service (phone_service.py, Twilio) ------------------------------------------
    phone_service_host: str = "0.0.0.0"
    phone_service_port: int = 8001
    orchestrator_url: str = "http://localhost:8002"
    public_base_url: str | None = None  # the https URL Twilio reaches this service at
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_validate_signature: bool = True
    # Hosts (and their subdomains) that may receive the account's credentials when the
    # phone service downloads a recording; any other RecordingUrl is refused.
    twilio_media_hosts: str = "twilio.com"
    # Asterisk (issue 20): chan_websocket connects to `WS /asterisk/media`, and the dialplan
    # calls `/asterisk/calls/…`, both with HTTP Basic (these two); off while either is unset.
    # AudioSocket (older PBXs) listens on ASTERISK_AUDIOSOCKET_PORT (off when unset).
    asterisk_ws_username: SecretStr | None = None
    asterisk_ws_password: SecretStr | None = None
    asterisk_audiosocket_host: str = "0.0.0.0"
    asterisk_audiosocket_port: int | None = Field(default=None, ge=1, le=65535)
    phone_mode: Literal["stream", "gather"] = "stream"
    greeting_text: str = "Здравствуйте! Вы позвонили в нашу компанию. Чем могу помочь?"
    apology_text: str = (
        "Извините, у нас технические неполадки. Оставьте, пожалуйста, сообщение после сигнала."
    )
    phone_turn_timeout_s: float = Field(default=15.0, gt=0)
    audio_ttl_s: int = Field(default=600, ge=1)
    # Gather mode's <Play> audio, shared by the phone replicas (None: calls_log/audio_cache).
    audio_cache_dir: Path | None = None
    database_url: str | None = None  # None: SQLite at calls_log/calls.db
    # Storage faults (issue 15): call writes journaled locally first, replayed when the
    # database is back; audio the disk refuses waits in memory up to CALL_AUDIO_MEMORY_MB.
    call_journal_path: Path | None = None  # None: calls_log/journal.db
    call_store_retry_s: float = Field(default=2.0, gt=0)
    call_audio_memory_mb: int = Field(default=64, ge=1)
    vad_threshold: float = Field(default=0.5, gt=0.0, lt=1.0)  # P(speech) that starts speech
    # Hysteresis (issue 23): under this P(speech) is silence; a window this likely and
    # VAD_ENERGY_START_DB over the line's noise floor also starts speech (0: energy not used).
    # VAD_KEEP_THRESHOLD = VAD_THRESHOLD - 0.15 with VAD_ENERGY_START_DB=0 is the old rule.
    vad_keep_threshold: float = Field(default=0.3, gt=0.0, lt=1.0)
    vad_energy_start_db: float = Field(default=9.0, ge=0.0)
    vad_min_silence_ms: int = Field(default=300, ge=32)  # <300 splits at commas
    vad_min_speech_ms: int = Field(default=150, ge=0)
    vad_speech_pad_ms: int = Field(default=100, ge=0)
    vad_pre_roll_ms: int = Field(default=500, ge=0)  # kept before speech start
    max_utterance_s: float = Field(default=30.0, gt=0)
    # A turn whose audio edge still holds speech energy is widened from the call's recording;
    # an empty transcript over audio that holds speech is retried wider (issue 23).
    hearing_reread_edges: bool = True
    # Turn-taking on the phone (issue 11): end of turn by meaning, backchannels, fillers.
    end_of_turn_model: bool = True  # Smart Turn v3.2; off: VAD_MIN_SILENCE_MS ends a turn
    end_of_turn_pause_ms: int = Field(default=200, ge=32)  # silence before asking the model
    end_of_turn_threshold: float = Field(default=0.5, gt=0.0, lt=1.0)  # P(complete) to answer
    end_of_turn_max_silence_ms: int = Field(default=2000, ge=100)  # "incomplete": answer anyway
    # "complete" still waits for this much silence (a breath mid-sentence is ~0.4-0.8 s); the
    # speculative transcript is made meanwhile, so on a CPU box the wait costs nothing.
    end_of_turn_confirm_ms: int = Field(default=1000, ge=0)
    end_of_turn_speculative_stt: bool = True  # recognise at the pause; send words, not audio
    end_of_turn_speculative_reply: bool = True  # reply prepared in the pause, heard once confirmed
    barge_in_min_speech_ms: int = Field(default=500, ge=0)  # longer speech over Лидия: stop
    # After this much speech over Лидия its first words are recognised (fast): «Нет»,
    # «Подождите» stop her at once. 0: off. Words count only when the recogniser is this sure.
    barge_in_quick_ms: int = Field(default=250, ge=0)
    barge_in_min_confidence: float = Field(default=0.55, ge=0.0, le=1.0)
    backchannel_recognition_s: float = Field(default=1.5, ge=0)  # /stt of a short fragment
    filler_delay_s: float = Field(default=1.2, gt=0)  # no reply audio yet: say a filler
    filler_texts: list[str] = ["Секундочку…", "Сейчас посмотрю…", "Одну минуту…"]
    phone_inference_threads: int = Field(default=2, ge=1)  # VAD + end of turn, own pool
    max_call_s: float = Field(default=1800.0, gt=0)
    max_message_s: int = Field(default=120, ge=1)
    # The calls dashboard at /admin (HTTP Basic; disabled while ADMIN_PASSWORD is unset).
    admin_username: str = "admin"
    admin_password: SecretStr | None = None
    admin_secret: SecretStr | None = None  # signs CSRF tokens; random per process when unset
    # Abuse guards (issue 15): wrong admin passwords / API keys per client address, JSON bounds.
    auth_max_failures: int = Field(default=10, ge=1)  # then 429 + Retry-After for that address
    auth_failure_window_s: float = Field(default=300.0, gt=0)  # sliding window of those failures
    json_max_bytes: int = Field(default=1024 * 1024, ge=1024)  # a JSON request body, at most
    json_max_depth: int = Field(default=32, ge=2)  # nesting of a JSON request body, at most
    calls_retention_days: int | None = Field(default=None, ge=1)  # None: keep forever
    timezone: str = "Europe/Moscow"  # IANA zone the dashboard shows times in (stored in UTC)

    # --- Telling the owner (every channel whose settings are set gets each call's notice) --
    telegram_bot_token: SecretStr | None = None
    telegram_chat_id: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org"
    smtp_url: SecretStr | None = None  # smtp://user:password@host:587 (STARTTLS)
    notify_email_to: str | None = None  # comma-separated addresses
    notify_email_from: str | None = None
    notify_webhook_url: str | None = None
    notify_webhook_secret: SecretStr | None = None  # signs the body: X-Lidia-Signature

    # --- Acting on the call: transfer, hang-up, knowledge (issue 12) ------------------------
    transfer_number: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$")  # E.164
    transfer_hours: str | None = None  # e.g. "Mo-Fr 09:00-18:00" in TIMEZONE; None: always
    transfer_timeout_s: int = Field(default=25, ge=5, le=600)  # <Dial timeout>: ring this long
    knowledge_file: Path | None = None  # Markdown about the company, put into the persona
    twilio_api_base_url: str = "https://api.twilio.com"  # the only host given the credentials

    # --- Appointments in the owner's CalDAV calendar (issue 21); off while the URL is unset -
    booking_caldav_url: str | None = None  # e.g. https://caldav.yandex.ru
    booking_caldav_username: str | None = None
    booking_caldav_password: SecretStr | None = None  # an app password, not the account's
    booking_calendar: str | None = None  # the calendar written to, by display name
    booking_busy_calendars: str = ""  # more calendars whose events block time, ";"-separated
    booking_hours: str = "Mo-Fr 09:00-18:00"  # TRANSFER_HOURS' syntax, in TIMEZONE
    booking_services: str = "Консультация=30"  # "Консультация=30; Стрижка=60": minutes
    booking_slot_step_min: int = Field(default=30, ge=5, le=240)
    booking_buffer_min: int = Field(default=0, ge=0, le=240)
    booking_min_notice_min: int = Field(default=60, ge=0)
    booking_horizon_days: int = Field(default=30, ge=1, le=366)
    booking_database: str | None = None  # None: DATABASE_URL, else SQLite calls_log/bookings.db

    # --- Capacity and graceful overload (issue 15) ------------------------------------------
    stt_workers: int = Field(default=1, ge=1, le=32)  # threads of the STT engine's own executor
    # Calls beyond it hear BUSY_TEXT. 3: measured on the 2-CPU dev box (tiny.en, RHVoice) by
    # `python -m bench.bench_load --find-capacity`; measure yours the same way.
    max_concurrent_calls: int = Field(default=3, ge=1)
    # A turn's one deadline: no reply audio (nor filler) this long after the caller stopped
    # speaking → the apology plays, so nobody waits 3 s in silence.
    phone_first_audio_deadline_s: float = Field(default=2.5, gt=0, le=10)
    busy_text: str = "Все линии сейчас заняты. Оставьте, пожалуйста, сообщение после сигнала."
    message_ack_text: str = "Записала. Что-нибудь ещё?"  # said after each part of a message

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (an IANA name: Europe/Moscow)") from exc
        return value

    @field_validator("transfer_hours", "booking_hours")
    @classmethod
    def _readable_transfer_hours(cls, value: str | None) -> str | None:
        if value is not None:
            parse_hours(value)  # a ValueError names the part it does not understand
        return value

    @property
    def xtts_dir(self) -> Path:
        return self.xtts_model_dir or self.models_dir / "xtts_v2"


@lru_cache
def get_settings() -> Settings:
    return Settings()
