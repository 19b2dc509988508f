"""The phone service's own Prometheus gauges, read from the live context at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from fastapi import FastAPI
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lidia.phone.context import PhoneContext


class PhoneCollector(Collector):
    """`lidia_phone_active_calls`: media streams in progress right now; capacity (issue 15):
    `lidia_phone_max_concurrent_calls`, `lidia_phone_calls_in_progress`,
    `lidia_phone_calls_refused_total{at="webhook"|"stream"}`."""

    def __init__(self, phone_of: Callable[[], PhoneContext | None]) -> None:
        self._phone_of = phone_of

    def describe(self) -> Iterable[Metric]:
        return []  # values appear only once the context is up; nothing to pre-declare

    def collect(self) -> Iterator[Metric]:
        phone = self._phone_of()
        if phone is None:
            return
        active = GaugeMetricFamily("lidia_phone_active_calls", "Twilio media streams in progress")
        active.add_metric([], float(len(phone.active_calls)))
        yield active
        yield from _capacity_metrics(phone.capacity.snapshot(phone.active_calls))


def _capacity_metrics(capacity: dict) -> Iterator[Metric]:
    """MAX_CONCURRENT_CALLS, the calls it counts now, and the calls told «все линии заняты»."""
    if capacity["max_concurrent_calls"] is not None:
        limit = GaugeMetricFamily("lidia_phone_max_concurrent_calls", "MAX_CONCURRENT_CALLS")
        limit.add_metric([], float(capacity["max_concurrent_calls"]))
        yield limit
    in_progress = GaugeMetricFamily(
        "lidia_phone_calls_in_progress", "Calls counted against MAX_CONCURRENT_CALLS"
    )
    in_progress.add_metric([], float(capacity["calls_in_progress"]))
    yield in_progress
    refused = CounterMetricFamily(
        "lidia_phone_calls_refused", "Calls beyond capacity, told all lines are busy", labels=["at"]
    )
    for where, count in sorted(capacity["refused"].items()):
        refused.add_metric([where], float(count))
    yield refused


def install_phone_metrics(app: FastAPI) -> None:
    """Add the phone gauges to the registry `core.metrics.install_metrics(app)` created."""
    app.state.metrics.registry.register(PhoneCollector(lambda: getattr(app.state, "phone", None)))
