# ruff: noqa: F811  (pytest fixtures imported from test_media_stream share their names)
"""The phone app wired like the orchestrator: JSON errors, its own `/metrics`, one context."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from lidia.phone.app import create_app
from lidia.phone.context import PhoneContext
from tests.conftest import make_settings
from tests.phone.test_media_stream import (  # noqa: F401  (module fixtures reused)
    Phone,
    greeted_call,
    orchestrator_url,
    phone,
)

# Nothing listens on port 9 of the loopback: the prompts fall back to espeak-ng.
NO_ORCHESTRATOR = "http://127.0.0.1:9"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(make_settings(tmp_path), orchestrator_url=NO_ORCHESTRATOR)
    with TestClient(app) as client:
        yield client


def samples(exposition: str) -> dict[str, float]:
    """`name{labels}` → value, for every sample in a Prometheus text exposition."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


def test_the_context_is_stored_once_and_typed(client: TestClient) -> None:
    phone = client.app.state.phone
    assert isinstance(phone, PhoneContext)
    assert phone.prompts.apology is not None and phone.prompts.apology.source == "espeak"


def test_metrics_answer_prometheus_text(client: TestClient) -> None:
    assert client.get("/health").status_code == 200
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert found["lidia_http_requests_total{method=GET,route=/health,status=200}"] == 1
    assert found["lidia_phone_active_calls{}"] == 0


def test_an_unknown_route_is_a_json_error(client: TestClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "http_404" and error["type"] == "invalid_request_error"
    assert error["message"]


def test_a_webhook_with_a_bad_signature_is_a_json_403_not_a_5xx(client: TestClient) -> None:
    response = client.post("/twilio/voice", data={"CallSid": "CA" + "0" * 32})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "http_403"


async def test_a_live_media_stream_counts_as_an_active_call(phone: Phone) -> None:
    async with httpx.AsyncClient(base_url=phone.url) as http:
        async with greeted_call(phone):
            during = samples((await http.get("/metrics")).text)
        assert during["lidia_phone_active_calls{}"] == 1
