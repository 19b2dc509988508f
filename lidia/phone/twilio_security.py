"""Twilio request signatures (`X-Twilio-Signature`) for webhooks and the Media Streams upgrade.

Twilio signs the URL *it* called (scheme, host, path and query) plus, for form POSTs, the
sorted form parameters. Behind a proxy or tunnel the URL this process sees differs, so the
URL is rebuilt from `PUBLIC_BASE_URL` + the request's path and query. The Media Streams
WebSocket upgrade is signed over its `wss://` URL with no parameters.

Validation is on unless `TWILIO_VALIDATE_SIGNATURE=false` is set explicitly; that choice is
logged as a warning at every start. With validation on and no auth token, every request is
refused (a misconfigured service must not accept forged calls).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import HTTPException, Request, WebSocket
from twilio.request_validator import RequestValidator

from lidia.core.settings import Settings

log = logging.getLogger("phone.security")

SIGNATURE_HEADER = "x-twilio-signature"


class TwilioSignatureChecker:
    """Checks signatures against URLs rebuilt from the configured public base URL."""

    def __init__(
        self, *, auth_token: str | None, public_base_url: str | None, enabled: bool = True
    ) -> None:
        self.enabled = enabled
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self._validator = RequestValidator(auth_token) if auth_token else None

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioSignatureChecker:
        token = (
            settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
        )
        return cls(
            auth_token=token,
            public_base_url=settings.public_base_url,
            enabled=settings.twilio_validate_signature,
        )

    def log_configuration(self) -> None:
        """Say at start-up how requests are checked; a disabled check is always a warning."""
        if not self.enabled:
            log.warning(
                "TWILIO_VALIDATE_SIGNATURE=false: Twilio signatures are NOT checked; "
                "anyone who finds this URL can place fake calls"
            )
        elif self._validator is None:
            log.error("TWILIO_AUTH_TOKEN is not set: every Twilio request will be refused (403)")
        if self.public_base_url is None:
            log.warning(
                "PUBLIC_BASE_URL is not set: signatures are checked against the URL "
                "this process sees, which differs behind a proxy or tunnel"
            )

    def public_url(
        self, path: str, query: str = "", *, websocket: bool = False, fallback: str | None = None
    ) -> str:
        """The URL Twilio called: PUBLIC_BASE_URL (or `fallback`) + `path` (+ `?query`)."""
        base = self.public_base_url or (fallback or "").rstrip("/")
        parts = urlsplit(base)
        scheme = parts.scheme
        if websocket:
            scheme = {"https": "wss", "http": "ws"}.get(scheme, scheme)
        base_path = parts.path.rstrip("/")
        return urlunsplit((scheme, parts.netloc, base_path + path, query, ""))

    def is_valid(self, url: str, params: Mapping[str, Any] | None, signature: str | None) -> bool:
        if not self.enabled:
            return True
        if self._validator is None or not signature:
            return False
        return bool(self._validator.validate(url, params or {}, signature))

    async def check_http(self, request: Request) -> dict[str, str]:
        """Validate a webhook; returns its form parameters. Raises 403 when not signed."""
        form = await request.form() if request.method == "POST" else None
        url = self.public_url(
            request.url.path, request.url.query, fallback=_own_base(str(request.base_url))
        )
        if not self.is_valid(url, form, request.headers.get(SIGNATURE_HEADER)):
            log.warning(
                "refused %s %s: missing or invalid X-Twilio-Signature",
                request.method,
                request.url.path,
            )
            raise HTTPException(status_code=403, detail="invalid Twilio signature")
        return {key: str(value) for key, value in (form or {}).items()}

    def check_websocket(self, websocket: WebSocket) -> bool:
        """True when the upgrade carries a valid signature over its `wss://` URL."""
        url = self.public_url(
            websocket.url.path,
            websocket.url.query,
            websocket=True,
            fallback=_own_base(str(websocket.base_url)),
        )
        valid = self.is_valid(url, {}, websocket.headers.get(SIGNATURE_HEADER))
        if not valid:
            log.warning(
                "refused WebSocket %s: missing or invalid X-Twilio-Signature", websocket.url.path
            )
        return valid


def _own_base(base_url: str) -> str:
    return base_url.rstrip("/")
