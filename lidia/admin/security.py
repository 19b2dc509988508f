"""The dashboard's locks: HTTP Basic credentials, CSRF tokens, and the Origin check.

- Credentials: `ADMIN_USERNAME` / `ADMIN_PASSWORD`, compared in constant time (both halves are
  always compared, so timing tells nothing about which one was wrong). No password set: the
  dashboard is disabled (`AdminDisabled`, rendered as a 503 page saying what to set).
- CSRF: pages are GET only; every POST carries `csrf_token`, an HMAC of the user's
  credentials under `ADMIN_SECRET` (random per process when unset), checked with
  `hmac.compare_digest`. A browser sends Basic credentials to any site's form posting to us,
  but a foreign page cannot read our pages to learn the token.
- Origin: a POST whose `Origin` (or, without one, `Referer`) names another host is refused.
- `AdminGuardMiddleware`, on every `/admin` response: security headers (a CSP allowing only
  our own scripts, styles and media, plus `blob:` audio for the playground; no framing;
  referrers only to ourselves, which keeps the Referer fallback above working), and backoff
  for guessing: after `AUTH_MAX_FAILURES` wrong Basic credentials from one address within
  `AUTH_FAILURE_WINDOW_S`, that address gets 429 + `Retry-After` (`lidia.core.rate_limit`).
  A 401 to a request *without* credentials is the browser's first challenge, not a guess.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import FastAPI, HTTPException, Request
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lidia.core.openapi import add_responses, error_responses
from lidia.core.rate_limit import FailureLimiter, client_address, rate_limited_body
from lidia.core.settings import Settings

REALM = "Lidia calls"
ADMIN_PREFIX = "/admin"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


class AdminDisabled(Exception):
    """No `ADMIN_PASSWORD`: the dashboard is switched off."""


@dataclass(frozen=True)
class AdminAuth:
    username: str
    password: str | None
    secret: bytes
    public_host: str | None = None  # host of PUBLIC_BASE_URL, also accepted as an Origin

    @classmethod
    def from_settings(cls, settings: Settings) -> AdminAuth:
        password = settings.admin_password.get_secret_value() if settings.admin_password else None
        secret = (
            settings.admin_secret.get_secret_value().encode("utf-8")
            if settings.admin_secret
            else secrets.token_bytes(32)
        )
        public_host = (
            urlsplit(settings.public_base_url).netloc if settings.public_base_url else None
        )
        return cls(settings.admin_username, password or None, secret, public_host or None)

    @property
    def enabled(self) -> bool:
        return self.password is not None

    def authenticate(self, authorization: str | None) -> str:
        """The user name for a valid `Authorization: Basic` header.

        Raises `AdminDisabled` without a password, HTTP 401 (with `WWW-Authenticate`) otherwise."""
        if self.password is None:
            raise AdminDisabled
        presented = _basic_credentials(authorization)
        user, password = presented if presented else ("", "")
        user_ok = hmac.compare_digest(user.encode("utf-8"), self.username.encode("utf-8"))
        password_ok = hmac.compare_digest(password.encode("utf-8"), self.password.encode("utf-8"))
        if presented is None or not (user_ok & password_ok):
            raise HTTPException(
                status_code=401,
                detail="admin credentials required",
                headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
            )
        return user

    def csrf_token(self, username: str) -> str:
        """The token POST forms of this user must carry (stable while the password is)."""
        message = f"csrf\0{username}\0{self.password or ''}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def check_post(self, request: Request, username: str, token: str | None) -> None:
        """Raise HTTP 403 unless the token is this user's and the request is same-origin."""
        if not token or not hmac.compare_digest(token, self.csrf_token(username)):
            raise HTTPException(status_code=403, detail="missing or invalid CSRF token")
        if not self._same_origin(request):
            raise HTTPException(status_code=403, detail="cross-origin request refused")

    def _same_origin(self, request: Request) -> bool:
        source = request.headers.get("origin") or request.headers.get("referer")
        if source is None:
            return True  # neither header: not a browser's cross-site form (the token decides)
        host = urlsplit(source).netloc
        allowed = {request.headers.get("host", ""), self.public_host}
        return bool(host) and host in allowed


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, separator, password = decoded.partition(":")
    return (user, password) if separator else None


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


class AdminGuardMiddleware:
    """Security headers on every `/admin` response; 429 for addresses that keep guessing."""

    def __init__(self, app: ASGIApp, *, failures: FailureLimiter) -> None:
        self.app = app
        self.failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_admin_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        client = client_address(scope)
        if (wait := self.failures.retry_after(client)) is not None:
            response = JSONResponse(
                rate_limited_body(wait), status_code=429, headers={"Retry-After": str(wait)}
            )
            await response(scope, receive, _with_security_headers(send))
            return
        presented = any(key.lower() == b"authorization" for key, _ in scope["headers"])
        secured = _with_security_headers(send)

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start" and presented:
                self._count(client, message["status"])
            await secured(message)

        await self.app(scope, receive, observed)

    def _count(self, client: str, status: int) -> None:
        if status == 401:
            self.failures.record_failure(client)
        elif status < 400:
            self.failures.record_success(client)


def _with_security_headers(send: Send) -> Send:
    async def secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in SECURITY_HEADERS.items():
                headers.setdefault(name, value)
        await send(message)

    return secured


def install_admin_guard(app: FastAPI, settings: Settings) -> None:
    """`AdminGuardMiddleware` on `app`, and its 401/429 on every `/admin` operation's docs."""
    app.add_middleware(AdminGuardMiddleware, failures=FailureLimiter.from_settings(settings))
    add_responses(app, error_responses(401, 429), when=lambda path, *_: is_admin_path(path))
