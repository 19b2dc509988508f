"""Every TTS engine the service knows, and the choice of which ones to load.

The one place that names engines: adding an engine means a loader and an `EngineSpec`
here, and the engine module itself. Everything else asks this module (`names()`,
`CLONED_ENGINE`, `fastest_first()`, `label()`). Engine modules are imported only by their
loader, so a box running on the offline voices need not have torch or coqui-tts installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lidia.core.errors import EngineUnavailableError
from lidia.core.settings import Settings
from lidia.tts.base import SpeechSynthesizer
from lidia.tts.voice_clips import voice_clips

log = logging.getLogger(__name__)

AUTO = "auto"  # TTS_ENGINE=auto: the best engine that loads
CLONED_ENGINE = "xtts"  # the engine that speaks with the owner's cloned voice ("lidia")


def _load_xtts(settings: Settings) -> SpeechSynthesizer:
    checkpoint = settings.xtts_dir
    if not all((checkpoint / name).is_file() for name in ("config.json", "model.pth")):
        raise EngineUnavailableError(
            f"XTTS: no checkpoint at {_shown(checkpoint)} (run `make models`)"
        )
    clips = cloned_voice_clips(settings)
    if not clips:
        raise EngineUnavailableError(
            f"XTTS: no voice clips in {_shown(settings.voice_samples_dir)}"
        )
    try:
        # Imported only when a checkpoint exists: it imports torch and coqui-tts (seconds).
        from lidia.tts.engines.xtts import XttsEngine
    except ImportError as exc:
        raise EngineUnavailableError(f"XTTS: coqui-tts not installed ({exc})") from exc
    return XttsEngine.load(
        checkpoint,
        clips,
        device=settings.tts_device,
        cache_dir=settings.models_dir / "voice_cache",
        temperature=settings.xtts_temperature,
        stream_chunk_size=settings.xtts_stream_chunk_size,
        stream_mode=settings.xtts_stream_mode,
        half_precision=settings.xtts_half_precision,
        warmup=settings.xtts_warmup,
    )


def _load_rhvoice(settings: Settings) -> SpeechSynthesizer:
    from lidia.tts.engines.rhvoice import RHVoiceEngine

    return RHVoiceEngine.load(
        voice=settings.rhvoice_voice,
        data_path=settings.rhvoice_data_path,
        config_path=settings.rhvoice_config_path,
        lib=settings.rhvoice_lib,
    )


def _load_espeak(settings: Settings) -> SpeechSynthesizer:
    from lidia.tts.engines.espeak import EspeakEngine

    return EspeakEngine.load(voice=settings.espeak_voice)


@dataclass(frozen=True)
class EngineSpec:
    name: str  # TTS_ENGINE value, `SpeechSynthesizer.name`, the "engine" of requests
    label: str  # how people write it, in reasons and logs
    load: Callable[[Settings], SpeechSynthesizer]  # blocking; raises when unavailable
    offline: bool  # cheap to load: always loaded beside the primary, as a fallback
    speed_rank: int  # order for "give me a quick voice" (OpenAI's tts-1): lower first


# Best voice first: the order TTS_ENGINE=auto tries.
ENGINES: tuple[EngineSpec, ...] = (
    EngineSpec("xtts", "XTTS", _load_xtts, offline=False, speed_rank=2),
    EngineSpec("rhvoice", "RHVoice", _load_rhvoice, offline=True, speed_rank=0),
    EngineSpec("espeak", "espeak-ng", _load_espeak, offline=True, speed_rank=1),
)
_BY_NAME = {spec.name: spec for spec in ENGINES}


def names() -> tuple[str, ...]:
    """Every engine's name, best voice first."""
    return tuple(_BY_NAME)


def offline_names() -> tuple[str, ...]:
    return tuple(spec.name for spec in ENGINES if spec.offline)


def fastest_first() -> tuple[str, ...]:
    """Engine names, the quick good-enough voices first and the heavy clone last."""
    return tuple(spec.name for spec in sorted(ENGINES, key=lambda spec: spec.speed_rank))


def label(name: str) -> str:
    return _BY_NAME[name].label


def setting_choices() -> tuple[str, ...]:
    """What TTS_ENGINE may be set to."""
    return (AUTO, *names())


def check_engine_setting(value: str) -> str:
    """TTS_ENGINE's value, or ValueError naming the setting and its valid values.
    Called at startup: a misspelt engine must stop the service, not degrade it."""
    if value not in setting_choices():
        raise ValueError(
            f"TTS_ENGINE={value!r} is not a TTS engine; valid: {', '.join(setting_choices())}"
        )
    return value


def wants_cloned_voice(configured: str) -> bool:
    """Whether TTS_ENGINE asks for the cloned voice (so any other primary is a fallback)."""
    return configured in (AUTO, CLONED_ENGINE)


def cloned_voice_clips(settings: Settings) -> list[Path]:
    """The clips the cloned voice is made from (VOICE_SAMPLES_DIR, VOICE_SAMPLES_COUNT)."""
    return voice_clips(settings.voice_samples_dir, settings.voice_samples_count)


# --------------------------------------------------------------------------------------
# Engine choice
# --------------------------------------------------------------------------------------


@dataclass
class EngineChoice:
    """What `choose_engine` loaded: the primary engine (None when nothing could load), a
    human reason for `/health` and the logs, the engines tried as primary in order, and
    every loaded engine by name (the primary plus the offline fallbacks)."""

    engine: SpeechSynthesizer | None
    reason: str
    tried: list[str]
    engines: dict[str, SpeechSynthesizer] = field(default_factory=dict)


def choose_engine(settings: Settings) -> EngineChoice:
    """Load the best engine `settings` allow, and the offline engines beside it. Blocking.

    `TTS_ENGINE=auto` tries the engines best voice first (XTTS needs its checkpoint and
    voice clips). An explicit engine that fails still falls back to the offline engines
    (the service must speak), and the reason says the configured engine failed and why.
    Heavy engines are never loaded as mere fallbacks; offline ones always are, so requests
    can ask for them by voice id ("rhvoice-anna") while XTTS is primary.
    Raises ValueError for a TTS_ENGINE that names no engine.
    """
    configured = check_engine_setting(settings.tts_engine)
    skipped: list[str] = []
    tried: list[str] = []
    engines: dict[str, SpeechSynthesizer] = {}
    for name in _primary_candidates(configured):
        tried.append(name)
        try:
            engines[name] = _BY_NAME[name].load(settings)
            break
        except Exception as exc:  # any failure means: try the next engine
            skipped.append(_failure_text(name, exc))
            log.info("TTS engine %s not loaded: %s", name, skipped[-1])
    primary = next(iter(engines), None)
    reason = _describe_choice(configured, primary, skipped)
    if primary is None:
        log.error("no TTS engine: %s", reason)
        return EngineChoice(engine=None, reason=reason, tried=tried)
    (log.warning if skipped else log.info)("TTS engine: %s", reason)
    for name in offline_names():
        if name not in tried:
            _load_secondary(name, settings, engines)
    return EngineChoice(engine=engines[primary], reason=reason, tried=tried, engines=engines)


def _primary_candidates(configured: str) -> list[str]:
    if configured == AUTO:
        return list(names())
    return [configured, *(name for name in offline_names() if name != configured)]


def _load_secondary(name: str, settings: Settings, engines: dict[str, SpeechSynthesizer]) -> None:
    try:
        engines[name] = _BY_NAME[name].load(settings)
    except Exception as exc:  # a missing extra voice is not an error of the service
        log.info("optional TTS engine %s not loaded: %s", name, _failure_text(name, exc))


def _describe_choice(configured: str, primary: str | None, skipped: list[str]) -> str:
    if primary is None:
        return "no TTS engine could be loaded: " + "; ".join(skipped)
    if configured == AUTO:
        return "; ".join([*skipped, f"using {primary}"]) if skipped else f"auto: using {primary}"
    if primary == configured:
        return f"TTS_ENGINE={configured}: using {primary}"
    return (
        f"configured TTS_ENGINE={configured} failed to load: "
        + "; ".join(skipped)
        + f"; falling back to {primary}"
    )


def _failure_text(name: str, exc: Exception) -> str:
    engine_label = label(name)
    message = str(exc) or type(exc).__name__
    return message if message.startswith(engine_label) else f"{engine_label}: {message}"


def _shown(path: Path) -> str:
    """A path as a person reads it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
