"""The orchestrator's own Prometheus families, beside the HTTP ones of `lidia.core.metrics`.

- `lidia_tts_synthesis_seconds{engine}`, `lidia_stt_transcription_seconds{engine}`: time
  spent producing speech / transcripts, recorded by the routes through `engine_metrics()`.
- `lidia_tts_fallback_total{engine}`: requests that wanted the cloned voice (XTTS) but were
  spoken by another engine.
- Read from the live services at scrape time (no bookkeeping to drift):
  `lidia_tts_queue_depth{engine}`, `lidia_stt_queue_depth`, `lidia_stt_workers`,
  `lidia_tts_fallback_active`, `lidia_engine_loaded{kind}`,
  `lidia_llm_errors_total{kind}`, `lidia_llm_retries_total{kind}`,
  `lidia_llm_turns_total{outcome}`, `lidia_llm_up`.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from lidia.core.metrics import LiveCollector, install_metrics
from lidia.orchestrator.queued_stt import QueuedSpeechToText
from lidia.tts.registry import CLONED_ENGINE, wants_cloned_voice

_ENGINE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60, 120)


class EngineMetrics:
    """Time spent in the speech engines, and cloned-voice requests spoken by a fallback."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.synthesis = Histogram(
            "lidia_tts_synthesis_seconds",
            "Time to synthesize one request's speech",
            ["engine"],
            buckets=_ENGINE_BUCKETS,
            registry=registry,
        )
        self.transcription = Histogram(
            "lidia_stt_transcription_seconds",
            "Time to decode and transcribe one upload",
            ["engine"],
            buckets=_ENGINE_BUCKETS,
            registry=registry,
        )
        self.fallback = Counter(
            "lidia_tts_fallback",
            "Requests for the cloned voice spoken by another engine",
            ["engine"],
            registry=registry,
        )

    def observe_synthesis(self, engine: str, seconds: float, *, wanted_clone: bool) -> None:
        """Record one synthesis; `wanted_clone` = the caller asked for XTTS / "lidia"."""
        self.synthesis.labels(engine).observe(seconds)
        if wanted_clone and engine != CLONED_ENGINE:
            self.fallback.labels(engine).inc()

    def observe_transcription(self, engine: str, seconds: float) -> None:
        self.transcription.labels(engine).observe(seconds)


def install_orchestrator_metrics(app: FastAPI) -> EngineMetrics:
    """`/metrics` with the HTTP families, the engine timings and the services' live state."""
    metrics = install_metrics(app, ServicesCollector(lambda: getattr(app.state, "services", None)))
    engines = EngineMetrics(metrics.registry)
    app.state.engine_metrics = engines
    return engines


def engine_metrics(app: object) -> EngineMetrics | None:
    """The app's `EngineMetrics`, or None for an app built without them."""
    return getattr(getattr(app, "state", None), "engine_metrics", None)


class ServicesCollector(LiveCollector[object]):
    """Reads queue depths, engine state and LLM counters from the services when scraped."""

    def collect_from(self, services: object) -> Iterator[Metric]:
        yield _engines_loaded(services)
        stt = getattr(services, "stt", None)
        if isinstance(stt, QueuedSpeechToText):
            yield from _stt_load(stt)
        voice = getattr(services, "voice", None)
        if voice is not None:
            yield from _voice_metrics(voice, services)
        health = getattr(services, "llm_health", None)
        if health is not None:
            yield from _llm_metrics(health.snapshot())


def _engines_loaded(services: object) -> Metric:
    family = GaugeMetricFamily(
        "lidia_engine_loaded", "1 when the engine kind is loaded and serving", labels=["kind"]
    )
    family.add_metric(["stt"], float(getattr(services, "stt", None) is not None))
    family.add_metric(["tts"], float(getattr(services, "voice", None) is not None))
    return family


def _stt_load(stt: QueuedSpeechToText) -> Iterator[Metric]:
    load = stt.load()
    depth = GaugeMetricFamily(
        "lidia_stt_queue_depth", "Transcriptions waiting for or holding an STT worker"
    )
    depth.add_metric([], float(load["running"] + load["queued"]))
    yield depth
    workers = GaugeMetricFamily("lidia_stt_workers", "Threads of the STT engine's own executor")
    workers.add_metric([], float(load["workers"]))
    yield workers


def _voice_metrics(voice: object, services: object) -> Iterator[Metric]:
    depth = GaugeMetricFamily(
        "lidia_tts_queue_depth",
        "Synthesis requests waiting for or holding an engine",
        labels=["engine"],
    )
    for engine in loaded_engine_names(voice):
        depth.add_metric([engine], float(voice.queue_depth(engine)))  # type: ignore[attr-defined]
    yield depth
    settings = getattr(services, "settings", None)
    wanted_clone = wants_cloned_voice(getattr(settings, "tts_engine", "auto"))
    active = GaugeMetricFamily(
        "lidia_tts_fallback_active",
        "1 when the cloned voice (XTTS) is wanted but a fallback engine is the primary",
    )
    active.add_metric([], float(wanted_clone and voice.primary != CLONED_ENGINE))  # type: ignore[attr-defined]
    yield active


def loaded_engine_names(voice: object) -> list[str]:
    """Names of the engines a `VoiceService` has loaded, primary first."""
    primary: str = voice.primary  # type: ignore[attr-defined]
    names = {v.engine for v in voice.voices()}  # type: ignore[attr-defined]
    return [primary, *sorted(names - {primary})]


def _llm_metrics(snapshot: dict) -> Iterator[Metric]:
    errors = CounterMetricFamily(
        "lidia_llm_errors", "LLM turns that failed after retries, by kind", labels=["kind"]
    )
    for kind, count in sorted(snapshot.get("errors_by_kind", {}).items()):
        errors.add_metric([kind], float(count))
    yield errors
    retries = CounterMetricFamily(
        "lidia_llm_retries", "LLM calls retried, by the error kind", labels=["kind"]
    )
    for kind, count in sorted(snapshot.get("retries_by_kind", {}).items()):
        retries.add_metric([kind], float(count))
    yield retries
    turns = CounterMetricFamily("lidia_llm_turns", "LLM turns by outcome", labels=["outcome"])
    turns.add_metric(["success"], float(snapshot.get("successes", 0)))
    turns.add_metric(["failure"], float(snapshot.get("failures", 0)))
    yield turns
    up = GaugeMetricFamily("lidia_llm_up", "1 when the LLM is configured and its last turn worked")
    up.add_metric([], float(snapshot.get("status") == "ok"))
    yield up
