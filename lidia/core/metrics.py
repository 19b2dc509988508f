"""Prometheus metrics for the orchestrator: `GET /metrics` in the text exposition format.

Each app gets its own `CollectorRegistry` (never the process-global one), so several apps in
one process (tests, embedders) do not collide. What is measured:

- `lidia_http_requests_total{method,route,status}` and
  `lidia_http_request_duration_seconds{method,route,status}`: per route *template*
  (`/v1/audio/speech`, not the raw path, so label values stay bounded). Streamed responses
  count until their last byte is sent.
- `lidia_tts_synthesis_seconds{engine}`, `lidia_stt_transcription_seconds{engine}`: time
  spent producing speech / transcripts, recorded by the routes through `app_metrics()`.
- `lidia_tts_fallback_total{engine}`: requests that wanted the cloned voice (XTTS) but were
  spoken by another engine.
- Read from the live services at scrape time (no bookkeeping to drift):
  `lidia_tts_queue_depth{engine}`, `lidia_tts_fallback_active`, `lidia_engine_loaded{kind}`,
  `lidia_llm_errors_total{kind}`, `lidia_llm_retries_total{kind}`,
  `lidia_llm_turns_total{outcome}`, `lidia_llm_up`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

UNMATCHED_ROUTE = "<unmatched>"
# Speech requests take seconds, health checks milliseconds: buckets cover both.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_ENGINE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60, 120)

router = APIRouter(tags=["service"])


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """The metrics of one app. Counters/histograms are thread-safe (prometheus-client)."""

    def __init__(self, services_of: Callable[[], object | None]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "lidia_http_requests",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "lidia_http_request_duration_seconds",
            "Time from request to last response byte",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.synthesis = Histogram(
            "lidia_tts_synthesis_seconds",
            "Time to synthesize one request's speech",
            ["engine"],
            buckets=_ENGINE_BUCKETS,
            registry=self.registry,
        )
        self.transcription = Histogram(
            "lidia_stt_transcription_seconds",
            "Time to decode and transcribe one upload",
            ["engine"],
            buckets=_ENGINE_BUCKETS,
            registry=self.registry,
        )
        self.fallback = Counter(
            "lidia_tts_fallback",
            "Requests for the cloned voice spoken by another engine",
            ["engine"],
            registry=self.registry,
        )
        self.registry.register(ServicesCollector(services_of))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        # Only known methods become labels: made-up ones must not grow the series without end.
        labels = (method if method in KNOWN_METHODS else "OTHER", route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def observe_synthesis(self, engine: str, seconds: float, *, wanted_clone: bool) -> None:
        """Record one synthesis; `wanted_clone` = the caller asked for XTTS / "lidia"."""
        self.synthesis.labels(engine).observe(seconds)
        if wanted_clone and engine != "xtts":
            self.fallback.labels(engine).inc()

    def observe_transcription(self, engine: str, seconds: float) -> None:
        self.transcription.labels(engine).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class ServicesCollector(Collector):
    """Reads queue depths, engine state and LLM counters from the services when scraped."""

    def __init__(self, services_of: Callable[[], object | None]) -> None:
        self._services_of = services_of

    def describe(self) -> Iterable[Metric]:
        return []  # values appear only once the services are up; nothing to pre-declare

    def collect(self) -> Iterator[Metric]:
        services = self._services_of()
        if services is None:
            return
        yield _engines_loaded(services)
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
    wanted_clone = getattr(settings, "tts_engine", "auto") in ("auto", "xtts")
    active = GaugeMetricFamily(
        "lidia_tts_fallback_active",
        "1 when the cloned voice (XTTS) is wanted but a fallback engine is the primary",
    )
    active.add_metric([], float(wanted_clone and voice.primary != "xtts"))  # type: ignore[attr-defined]
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


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request until its response has been sent.

    Outermost, so requests rejected by other middleware (401 from auth) are counted too.
    """

    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, templates: Callable[[], Iterable[str]]
    ) -> None:
        self.app = app
        self._metrics = metrics
        self._templates = templates
        self._patterns: list[tuple[re.Pattern[str], str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees when the app fails before responding

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            route = self._route_template(scope)
            self._metrics.observe_request(
                scope["method"], route, status, time.perf_counter() - started
            )

    def _route_template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None and hasattr(route, "path"):
            return route.path
        # Not routed (rejected by auth before routing, or a 404): match the templates.
        path = scope["path"]
        for pattern, template in self._compiled():
            if pattern.fullmatch(path):
                return template
        return UNMATCHED_ROUTE

    def _compiled(self) -> list[tuple[re.Pattern[str], str]]:
        if self._patterns is None:  # routes are fixed once the app serves: compile once
            self._patterns = [(template_regex(t), t) for t in self._templates()]
        return self._patterns


def template_regex(template: str) -> re.Pattern[str]:
    """`/v1/models/{model_id}` → a regex matching `/v1/models/<one path segment>`."""
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def install_metrics(app: FastAPI) -> Metrics:
    """Create the app's `Metrics`, add the middleware and the `/metrics` route.

    Call before the app starts and *after* other middleware, so this one is outermost.
    """
    metrics = Metrics(lambda: getattr(app.state, "services", None))
    app.state.metrics = metrics
    # The OpenAPI schema lists every route template, whatever routers they came from.
    app.add_middleware(
        MetricsMiddleware, metrics=metrics, templates=lambda: app.openapi().get("paths", {})
    )
    app.include_router(router)
    return metrics


def app_metrics(app: object) -> Metrics | None:
    """The app's `Metrics`, or None for an app built without them."""
    return getattr(getattr(app, "state", None), "metrics", None)


@router.get("/metrics", response_class=Response)
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus text format; open without the API key (scrapers send none)."""
    metrics = app_metrics(request.app)
    body = metrics.exposition() if metrics is not None else b""
    return Response(body, media_type=CONTENT_TYPE_LATEST)
