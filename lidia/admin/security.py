"""The dashboard's locks: HTTP Basic credentials, CSRF tokens, and the Origin check.

- Credentials: `ADMIN_USERNAME` / `ADMIN_PASSWORD`, compared in constant time (both halves are
  always compared, so timing tells nothing about which one was wrong). No password set: the
  dashboard is disabled (`AdminDisabled`, rendered as a 503 page saying what to set).
- CSRF: pages are GET only; every POST carries `csrf_token`, an HMAC of the user's
  credentials under `ADMIN_SECRET` (random per process when unset), checked with
  `hmac.compare_digest`. A browser sends Basic credentials to any site's form posting to us,
  but a foreign page cannot read our pages to learn the token.
- Origin: a POST whose `Origin` (or, without one, `Referer`) names another host is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from lidia.core.settings import Settings

REALM = "Lidia calls"


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
