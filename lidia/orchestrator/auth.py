"""API-key authentication for the orchestrator (`ORCHESTRATOR_API_KEY`).

When the key is set, every request must carry `Authorization: Bearer <key>` (what the
`openai` SDK and OpenWebUI send), except the public routes in `OPEN_PATHS`: the service
page, health, metrics and the three discovery routes OpenWebUI calls *without* a key.
A missing or wrong key gets a 401 in OpenAI's error shape. After `AUTH_MAX_FAILURES` wrong
keys from one client address within `AUTH_FAILURE_WINDOW_S`, that address gets 429 with
`Retry-After` (`lidia.core.rate_limit`) before its key is even compared. When the key is
unset, the service is open and a warning is logged when the app is built.

Implemented as pure ASGI middleware rather than a route dependency so that every route,
including ones added later by other modules, is covered without each router opting in.
"""

from __future__ import annotations

import hmac
import logging

from fastapi import FastAPI
from pydantic import SecretStr
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from lidia.core.errors import AuthenticationError
from lidia.core.openapi import add_responses, error_responses
from lidia.core.rate_limit import FailureLimiter, client_address, rate_limited_body

log = logging.getLogger(__name__)

OPEN_PATHS: frozenset[str] = frozenset(
    {"/", "/health", "/metrics", "/v1/models", "/v1/audio/models", "/v1/audio/voices"}
)


def is_open_path(path: str) -> bool:
    """True for routes that never need the key (a trailing slash is tolerated)."""
    return path in OPEN_PATHS or (path.endswith("/") and path.rstrip("/") in OPEN_PATHS)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def key_matches(presented: str | None, expected: str) -> bool:
    """Constant-time comparison, so response timing does not reveal how much matched."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


class ApiKeyMiddleware:
    """Rejects requests without the right Bearer key (HTTP: 401 JSON; WebSocket: close 1008)."""

    def __init__(
        self, app: ASGIApp, *, api_key: str, failures: FailureLimiter | None = None
    ) -> None:
        if not api_key:
            raise ValueError("ApiKeyMiddleware needs a non-empty key")
        self.app = app
        self._key = api_key
        self.failures = failures or FailureLimiter(10, 300.0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or is_open_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        client = client_address(scope)
        if (wait := self.failures.retry_after(client)) is not None:
            await _refuse_rate_limited(scope, receive, send, wait)
            return
        authorization = _header(scope, b"authorization")
        problem = self._problem(authorization)
        if problem is None:
            self.failures.record_success(client)
            await self.app(scope, receive, send)
            return
        if authorization is not None:  # a wrong key is a guess; a missing one is not
            self.failures.record_failure(client)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": problem})
            return
        error = AuthenticationError(problem)
        response = JSONResponse(
            error.to_body(),
            status_code=error.status_code,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)

    def _problem(self, authorization: str | None) -> str | None:
        if authorization is None:
            return "missing API key: send the header 'Authorization: Bearer <ORCHESTRATOR_API_KEY>'"
        if not key_matches(bearer_token(authorization), self._key):
            return "invalid API key: the Bearer token does not match ORCHESTRATOR_API_KEY"
        return None


async def _refuse_rate_limited(scope: Scope, receive: Receive, send: Send, wait: int) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": "too many failed keys"})
        return
    response = JSONResponse(
        rate_limited_body(wait), status_code=429, headers={"Retry-After": str(wait)}
    )
    await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def install_auth(
    app: FastAPI, api_key: SecretStr | None, *, failures: FailureLimiter | None = None
) -> bool:
    """Add `ApiKeyMiddleware` to a Starlette/FastAPI app when a key is configured.

    Returns True when auth is on. With no key the app stays open and a warning is logged.
    Call before the app starts (Starlette refuses middleware after start-up).
    """
    key = api_key.get_secret_value() if api_key is not None else ""
    if not key:
        log.warning(
            "ORCHESTRATOR_API_KEY is not set: every route is open to anyone who can reach "
            "this port; set it before exposing the service"
        )
        return False
    app.add_middleware(ApiKeyMiddleware, api_key=key, failures=failures)
    add_responses(app, error_responses(401, 429), when=lambda path, *_: not is_open_path(path))
    return True
