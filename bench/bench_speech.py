"""Issue "Foundation" benchmark: HTTP overhead of /stt and /tts, loop responsiveness, latents.

    python -m bench.bench_speech

- /stt wall time ÷ a direct faster-whisper call on the same audio        (goal ≤ 1.10)
- /tts wall time ÷ a direct engine call on the same text                  (goal ≤ 1.10)
- /health p99 while 4 /tts requests are in flight ÷ /health p99 idle      (goal ≤ 2)
- XTTS voice latents: engine load with an empty cache ÷ with the cache    (informative)
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.common import (
    Row,
    bench_settings,
    bench_stt,
    interleaved_median_times,
    percentile,
    print_rows,
)

REPEATS = 15
TTS_TEXT = "Здравствуйте! Вы позвонили в компанию Ромашка. Чем я могу вам помочь?"
BUSY_TEXT = (
    "Наш офис работает с понедельника по пятницу с девяти до восемнадцати. "
    "Оставьте, пожалуйста, ваше имя и номер телефона. "
) * 3


def run() -> list[Row]:
    from lidia.orchestrator.app import create_app
    from lidia.tts.service import VoiceService
    from tests.support.live_server import live_server
    from tests.support.speech_fixtures import ENGLISH_SENTENCE, espeak_wav

    with tempfile.TemporaryDirectory() as scratch:
        settings = bench_settings(Path(scratch), stt_language="auto", orchestrator_api_key=None)
        stt = bench_stt(settings)
        voice = VoiceService.from_settings(settings)
        wav = espeak_wav(ENGLISH_SENTENCE)
        details: dict[str, float] = {}
        try:
            app = create_app(settings, stt=stt, tts=voice)
            with live_server(app) as base_url, httpx.Client(base_url=base_url, timeout=120) as http:
                rows = [
                    _stt_ratio(http, stt, wav, details),
                    _tts_ratio(http, voice, details),
                    _health_ratio(http, base_url, details),
                ]
        finally:
            voice.close()
        rows.append(_latents_ratio(Path(scratch), settings, details))
    print_rows("speech: HTTP overhead, loop responsiveness, voice latents", rows, details)
    return rows


def _stt_ratio(http: httpx.Client, stt, wav: bytes, details: dict) -> Row:
    from lidia.audio.codecs import decode_audio
    from lidia.stt.base import STT_SAMPLE_RATE

    samples = decode_audio(wav, sample_rate=STT_SAMPLE_RATE)
    language = "en" if "en" in stt.languages else None

    def over_http() -> None:
        response = http.post(
            "/stt",
            files={"audio": ("a.wav", wav, "audio/wav")},
            data={"language": language or "auto"},
        )
        response.raise_for_status()

    medians = interleaved_median_times(
        {"direct": lambda: stt.transcribe(samples, language), "http": over_http}, REPEATS
    )
    direct, served = medians["direct"], medians["http"]
    details["stt direct faster-whisper, s"] = direct
    details["stt POST /stt, s"] = served
    return ("/stt ÷ direct faster-whisper", served / direct, "≤ 1.10")


def _tts_ratio(http: httpx.Client, voice, details: dict) -> Row:
    engine = voice.engine_for(None)
    chunks = voice.prepare_text(TTS_TEXT, "ru")

    def direct_call() -> None:
        for chunk in chunks:
            engine.synthesize(chunk, "ru")

    def over_http() -> None:
        http.post("/tts", json={"text": TTS_TEXT, "language": "ru"}).raise_for_status()

    medians = interleaved_median_times({"direct": direct_call, "http": over_http}, REPEATS)
    direct, served = medians["direct"], medians["http"]
    details[f"tts direct {engine.name}, s"] = direct
    details["tts POST /tts, s"] = served
    return (f"/tts ÷ direct {engine.name} call", served / direct, "≤ 1.10")


def _health_latencies(http: httpx.Client, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        http.get("/health").raise_for_status()
        latencies.append(time.perf_counter() - started)
        time.sleep(0.005)
    return latencies


def _health_ratio(http: httpx.Client, base_url: str, details: dict) -> Row:
    idle = percentile(_health_latencies(http, 200), 99)
    stop = threading.Event()

    def keep_synthesizing() -> None:
        with httpx.Client(base_url=base_url, timeout=300) as own:
            while not stop.is_set():
                own.post("/tts", json={"text": BUSY_TEXT}).raise_for_status()

    workers = [threading.Thread(target=keep_synthesizing) for _ in range(4)]
    for worker in workers:
        worker.start()
    time.sleep(0.5)  # let all four requests reach the engine
    busy = percentile(_health_latencies(http, 200), 99)
    stop.set()
    for worker in workers:
        worker.join()
    details["/health p99 idle, ms"] = idle * 1000
    details["/health p99 with 4 /tts in flight, ms"] = busy * 1000
    return ("/health p99 busy ÷ idle", busy / idle, "≤ 2")


def _latents_ratio(scratch: Path, settings, details: dict) -> Row:
    from lidia.tts.engines.xtts import XttsEngine
    from lidia.tts.voice_clips import voice_clips

    checkpoint = settings.xtts_dir
    clips_dir = settings.voice_samples_dir
    clips = voice_clips(clips_dir, settings.voice_samples_count) if clips_dir.is_dir() else []
    real = (checkpoint / "model.pth").is_file() and bool(clips)
    if not real:  # no production model here: the tiny random checkpoint, same code path
        from tests.support.xtts_tiny import build_tiny_xtts_checkpoint, make_voice_clips

        checkpoint = build_tiny_xtts_checkpoint(scratch / "xtts_tiny")
        clips = make_voice_clips(scratch / "clips", n=3)

    def load(cache_dir: Path) -> float:
        started = time.perf_counter()
        XttsEngine.load(checkpoint, clips, device=settings.tts_device, cache_dir=cache_dir)
        return time.perf_counter() - started

    load(scratch / "warm-up")  # reads the checkpoint into the page cache for both sides
    cold = load(scratch / "voice_cache")  # empty cache: latents computed
    cached = min(load(scratch / "voice_cache") for _ in range(3))
    label = "production" if real else "tiny test"
    details[f"XTTS ({label} checkpoint) load with latents computed, s"] = cold
    details[f"XTTS ({label} checkpoint) load with cached latents, s"] = cached
    return (f"XTTS load: latents computed ÷ cached ({label})", cold / cached, "> 1 (informative)")


if __name__ == "__main__":
    run()
