"""`install_metrics(app)` on any FastAPI app: HTTP metrics per route template, `/metrics`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lidia.core.metrics import UNMATCHED_ROUTE, LiveCollector, install_metrics
from tests.support.prometheus import scrape, value


def bare_app(*collectors: Collector) -> FastAPI:
    """An app that knows nothing of engines or calls: what the metrics must work for."""
    app = FastAPI()

    @app.get("/calls/{call_id}")
    async def call(call_id: str) -> dict:
        if call_id == "missing":
            raise HTTPException(status_code=404, detail="no such call")
        return {"call_id": call_id}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def pieces() -> AsyncIterator[bytes]:
            for piece in (b"Alo", b"-alo"):
                yield piece

        return StreamingResponse(pieces(), media_type="text/plain")

    install_metrics(app, *collectors)
    return app


class Queue:
    """A stand-in for an app's live state."""

    def __init__(self, depth: int) -> None:
        self.depth = depth


class QueueCollector(LiveCollector[Queue]):
    def collect_from(self, source: Queue) -> Iterator[Metric]:
        gauge = GaugeMetricFamily("test_queue_depth", "Items waiting")
        gauge.add_metric([], float(source.depth))
        yield gauge


def test_any_app_counts_requests_per_route_template_and_status() -> None:
    with TestClient(bare_app()) as client:
        assert client.get("/calls/CA1").status_code == 200
        assert client.get("/calls/CA2").status_code == 200
        assert client.get("/calls/missing").status_code == 404
        assert client.get("/stream").text == "Alo-alo"
        assert client.get("/no/such/page").status_code == 404
        samples = scrape(client)
    route = {"method": "GET", "route": "/calls/{call_id}"}
    assert value(samples, "lidia_http_requests_total", **route, status="200") == 2
    assert value(samples, "lidia_http_requests_total", **route, status="404") == 1
    assert value(samples, "lidia_http_request_duration_seconds_count", **route, status="200") == 2
    stream = {"method": "GET", "route": "/stream", "status": "200"}
    assert value(samples, "lidia_http_requests_total", **stream) == 1
    unmatched = {"method": "GET", "route": UNMATCHED_ROUTE, "status": "404"}
    assert value(samples, "lidia_http_requests_total", **unmatched) == 1


def test_without_collectors_only_http_families_are_exposed() -> None:
    with TestClient(bare_app()) as client:
        client.get("/calls/CA1")
        names = {name for name, _ in scrape(client)}
    assert names, "the scrape returned no samples"
    assert all(name.startswith("lidia_http_") for name in names), sorted(names)


def test_live_collectors_are_read_at_scrape_time_once_the_state_is_up() -> None:
    state: dict[str, Queue | None] = {"queue": None}
    with TestClient(bare_app(QueueCollector(lambda: state["queue"]))) as client:
        assert value(scrape(client), "test_queue_depth") is None  # not up yet: not exposed
        state["queue"] = Queue(0)
        assert value(scrape(client), "test_queue_depth") == 0
        state["queue"] = Queue(3)
        assert value(scrape(client), "test_queue_depth") == 3


def test_each_app_has_its_own_registry() -> None:
    with TestClient(bare_app()) as first, TestClient(bare_app()) as second:
        first.get("/calls/CA1")
        first.get("/calls/CA1")
        second.get("/calls/CA1")
        route = {"method": "GET", "route": "/calls/{call_id}", "status": "200"}
        assert value(scrape(first), "lidia_http_requests_total", **route) == 2
        assert value(scrape(second), "lidia_http_requests_total", **route) == 1
