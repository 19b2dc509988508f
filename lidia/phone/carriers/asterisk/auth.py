"""HTTP Basic for everything Asterisk calls (chan_websocket's handshake, the dialplan's `CURL()`):
`ASTERISK_WS_USERNAME` / `ASTERISK_WS_PASSWORD`; while either is unset the endpoints are off."""

from __future__ import annotations

import base64
import binascii
import secrets

from lidia.core.settings import Settings


def asterisk_enabled(settings: Settings) -> bool:
    return bool(settings.asterisk_ws_username and settings.asterisk_ws_password)


def credentials_match(settings: Settings, authorization: str | None) -> bool:
    """True when `authorization` (an `Authorization` header) carries the configured pair."""
    username, password = settings.asterisk_ws_username, settings.asterisk_ws_password
    if not (username and password and authorization):
        return False
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given_user, _, given_password = (
            base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        return False
    # Both compared every time: the answer's timing says nothing about which was wrong.
    user_ok = secrets.compare_digest(given_user.encode(), username.get_secret_value().encode())
    password_ok = secrets.compare_digest(
        given_password.encode(), password.get_secret_value().encode()
    )
    return user_ok and password_ok
