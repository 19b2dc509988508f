"""What `/health` and metrics know about the LLM: status, last error, counts by kind."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from lidia.llm.base import ChatModel
from lidia.llm.errors import LLMError


@dataclass(frozen=True)
class LLMErrorRecord:
    message: str
    kind: str
    at: float  # Unix time


class LLMHealth:
    """What `/health` and metrics show about the LLM. Call from the event loop only.

    status: "not_configured" when no backend could be built; otherwise "degraded" when the most
    recent turn failed, "ok" when it succeeded (or none has run yet).
    """

    def __init__(
        self, *, backend: str | None, model: str | None, configured: bool, description: str
    ) -> None:
        self.backend = backend
        self.model = model
        self.configured = configured
        self.description = description
        self.last_error: LLMErrorRecord | None = None
        self.errors_by_kind: Counter[str] = Counter()
        self.retries_by_kind: Counter[str] = Counter()
        self.successes = 0
        self.failures = 0
        self._last_turn_failed = False
        # Function calling: "on" while tools are offered and accepted, "off" when the backend
        # has none, "unsupported" once the model refused them (the turn then went plain).
        self.tools_status: Literal["on", "off", "unsupported"] = "on"
        self.tools_reason: str | None = None

    def tools_unavailable(self, status: Literal["off", "unsupported"], reason: str) -> None:
        """Tools cannot be used: the secretary talks without them, and `/health` says why."""
        self.tools_status = status
        self.tools_reason = reason

    @classmethod
    def for_model(cls, model: ChatModel | None, description: str) -> LLMHealth:
        return cls(
            backend=model.name if model is not None else None,
            model=model.model if model is not None else None,
            configured=model is not None,
            description=description,
        )

    @property
    def status(self) -> Literal["ok", "degraded", "not_configured"]:
        if not self.configured:
            return "not_configured"
        return "degraded" if self._last_turn_failed else "ok"

    def record_success(self) -> None:
        self.successes += 1
        self._last_turn_failed = False

    def record_failure(self, error: LLMError) -> None:
        self.failures += 1
        self._last_turn_failed = True
        self.errors_by_kind[error.kind.value] += 1
        self.last_error = LLMErrorRecord(error.message, error.kind.value, time.time())

    def record_retry(self, error: LLMError, attempt: int) -> None:
        self.retries_by_kind[error.kind.value] += 1

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready view (no secrets)."""
        last = self.last_error
        return {
            "backend": self.backend,
            "model": self.model,
            "configured": self.configured,
            "status": self.status,
            "description": self.description,
            "last_error": None
            if last is None
            else {"message": last.message, "kind": last.kind, "at": last.at},
            "errors_by_kind": dict(self.errors_by_kind),
            "retries_by_kind": dict(self.retries_by_kind),
            "successes": self.successes,
            "failures": self.failures,
            "tools": {"status": self.tools_status, "reason": self.tools_reason},
        }
