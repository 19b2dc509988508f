"""Prometheus metrics for any of our apps: `GET /metrics` in the text exposition format.

Each app gets its own `CollectorRegistry` (never the process-global one), so several apps in
one process (tests, embedders) do not collide. Every app measures its HTTP traffic:

- `lidia_http_requests_total{method,route,status}` and
  `lidia_http_request_duration_seconds{method,route,status}`: per route *template*
  (`/v1/audio/speech`, not the raw path, so label values stay bounded). Streamed responses
  count until their last byte is sent.

An app adds its own families by passing collectors to `install_metrics` or by registering
metrics on `Metrics.registry` (the orchestrator's engines: `lidia.orchestrator.metrics`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED_ROUTE = "<unmatched>"
SourceT = TypeVar("SourceT")
# Speech requests take seconds, health checks milliseconds: buckets cover both.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

router = APIRouter(tags=["service"])


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """The HTTP metrics of one app. Counters/histograms are thread-safe (prometheus-client)."""

    def __init__(self, collectors: Iterable[Collector] = ()) -> None:
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
        for collector in collectors:
            self.registry.register(collector)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        # Only known methods become labels: made-up ones must not grow the series without end.
        labels = (method if method in KNOWN_METHODS else "OTHER", route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


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


class LiveCollector(Collector, Generic[SourceT]):
    """Families read from an app's live state when scraped, so no bookkeeping can drift.

    `source_of` returns that state (None until the app's lifespan has built it: then nothing
    is exposed); subclasses turn it into metric families in `collect_from`.
    """

    def __init__(self, source_of: Callable[[], SourceT | None]) -> None:
        self._source_of = source_of

    def describe(self) -> Iterable[Metric]:
        return []  # values appear only once the state is up; nothing to pre-declare

    def collect(self) -> Iterator[Metric]:
        source = self._source_of()
        if source is not None:
            yield from self.collect_from(source)

    def collect_from(self, source: SourceT) -> Iterator[Metric]:
        raise NotImplementedError


def install_metrics(app: FastAPI, *collectors: Collector) -> Metrics:
    """Create the app's `Metrics` (with any extra `collectors`), the middleware and `/metrics`.

    Call before the app starts and *after* other middleware, so this one is outermost.
    """
    metrics = Metrics(collectors)
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
