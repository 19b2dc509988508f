"""LLMHealth: the status, last error and counts that /health and metrics show."""

from __future__ import annotations

from lidia.llm.errors import LLMTimeoutError
from lidia.llm.health import LLMHealth
from lidia.llm.registry import NOT_CONFIGURED_REASON


def test_health_tracks_status_last_error_and_counts() -> None:
    health = LLMHealth(backend="gemini", model="m", configured=True, description="gemini: m")
    assert health.status == "ok"
    health.record_failure(LLMTimeoutError("gemini: no answer within 20 s"))
    assert health.status == "degraded"
    health.record_success()
    assert health.status == "ok"
    snapshot = health.snapshot()
    assert snapshot["last_error"]["kind"] == "timeout"
    assert snapshot["last_error"]["message"] == "gemini: no answer within 20 s"
    assert snapshot["errors_by_kind"] == {"timeout": 1}
    assert (snapshot["successes"], snapshot["failures"]) == (1, 1)
    unconfigured = LLMHealth.for_model(None, NOT_CONFIGURED_REASON)
    assert unconfigured.status == "not_configured"
    assert unconfigured.snapshot()["description"] == NOT_CONFIGURED_REASON
