"""The phone service's own Prometheus gauges, read from the live context at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from fastapi import FastAPI
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lidia.phone.context import PhoneContext


class PhoneCollector(Collector):
    """`lidia_phone_active_calls`: media streams in progress right now."""

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


def install_phone_metrics(app: FastAPI) -> None:
    """Add the phone gauges to the registry `core.metrics.install_metrics(app)` created."""
    app.state.metrics.registry.register(PhoneCollector(lambda: getattr(app.state, "phone", None)))
