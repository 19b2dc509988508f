"""How an LLM call fails: the `LLMError` family and the HTTP-status mapping every backend shares.

Every upstream failure surfaces as an `LLMError` whose `kind` says what went wrong and whose
message says what to do, so callers can speak a fallback and `/health` can show the cause.
"""

from __future__ import annotations

from enum import StrEnum


class LLMErrorKind(StrEnum):
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    UPSTREAM = "upstream"
    AUTH = "auth"
    MALFORMED = "malformed"
    BLOCKED = "blocked"
    NOT_CONFIGURED = "not_configured"
    INTERNAL = "internal"


class LLMError(Exception):
    """An LLM call failed. `kind` classifies it; `retryable` says whether trying again may help."""

    kind: LLMErrorKind = LLMErrorKind.UPSTREAM
    retryable: bool = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class LLMTimeoutError(LLMError):
    kind = LLMErrorKind.TIMEOUT
    retryable = True


class LLMRateLimitedError(LLMError):
    kind = LLMErrorKind.RATE_LIMITED
    retryable = True


class LLMUpstreamError(LLMError):
    """5xx or a network failure (retryable), or another unexpected HTTP status (not retryable)."""

    kind = LLMErrorKind.UPSTREAM

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.retryable = status is None or status >= 500


class LLMAuthError(LLMError):
    kind = LLMErrorKind.AUTH


class LLMMalformedError(LLMError):
    kind = LLMErrorKind.MALFORMED


class LLMBlockedError(LLMError):
    kind = LLMErrorKind.BLOCKED


class LLMNotConfiguredError(LLMError):
    kind = LLMErrorKind.NOT_CONFIGURED


class LLMInternalError(LLMError):
    """A bug or an unforeseen exception inside our own code path (not the upstream's fault)."""

    kind = LLMErrorKind.INTERNAL


def error_for_status(backend: str, status: int, detail: str, auth_hint: str) -> LLMError:
    """Map an HTTP error status from `backend` to the matching `LLMError`."""
    detail = detail.strip()[:300]
    if status == 429:
        return LLMRateLimitedError(f"{backend}: rate limited (429): {detail}", status=status)
    if status in (401, 403):
        return LLMAuthError(
            f"{backend}: authentication failed ({status}): {auth_hint}", status=status
        )
    if status >= 500:
        return LLMUpstreamError(f"{backend}: server error {status}: {detail}", status=status)
    return LLMUpstreamError(f"{backend}: request rejected ({status}): {detail}", status=status)
