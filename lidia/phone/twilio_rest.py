"""Changing a live call through Twilio's REST API, with the `twilio` SDK's own client.

`Client(account_sid, auth_token)` talks to `TWILIO_API_BASE_URL` (the `api` domain's
`base_url`, the documented way to point the SDK elsewhere), and its HTTP client is pinned to
that one host: a request the SDK would send anywhere else (an edge or region from
`TWILIO_EDGE`/`TWILIO_REGION`, a redirect) is refused, so the credentials reach no other host.
The SDK is synchronous (requests), so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from lidia.core.settings import Settings

log = logging.getLogger("phone.twilio_rest")

REST_TIMEOUT_S = 10.0


class TwilioRestError(Exception):
    """Twilio's REST API could not change the call (not configured, refused, unreachable)."""


class PinnedHostHttpClient(TwilioHttpClient):
    """The SDK's HTTP client, refusing every URL whose scheme and host are not the pinned one."""

    def __init__(self, base_url: str, *, timeout: float = REST_TIMEOUT_S) -> None:
        super().__init__(timeout=timeout)
        parts = urlsplit(base_url)
        self._origin = (parts.scheme, parts.netloc)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) != self._origin:
            raise TwilioRestError(f"refused to send Twilio credentials to {parts.netloc!r}")
        kwargs["allow_redirects"] = False  # a redirect would carry the credentials elsewhere
        return super().request(method, url, *args, **kwargs)


class TwilioCalls:
    """Redirect or hang up a live call (`calls(sid).update(...)`)."""

    def __init__(self, account_sid: str, auth_token: str, base_url: str) -> None:
        self._client = Client(
            account_sid, auth_token, http_client=PinnedHostHttpClient(base_url.rstrip("/"))
        )
        self._client.api.base_url = base_url.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioCalls | None:
        """None when the account SID or auth token is missing (the REST API needs both)."""
        if not settings.twilio_account_sid or settings.twilio_auth_token is None:
            return None
        token = settings.twilio_auth_token.get_secret_value()
        return cls(settings.twilio_account_sid, token, settings.twilio_api_base_url)

    async def redirect(self, call_sid: str, twiml: str) -> None:
        """Replace what the call is doing (e.g. its media stream) with `twiml`."""
        await self._update(call_sid, twiml=twiml)

    async def hang_up(self, call_sid: str) -> None:
        await self._update(call_sid, status="completed")

    async def _update(self, call_sid: str, **fields: str) -> None:
        def update() -> None:
            self._client.calls(call_sid).update(**fields)

        try:
            await asyncio.to_thread(update)
        except TwilioRestError:
            raise
        except TwilioException as exc:
            raise TwilioRestError(f"Twilio refused to update call {call_sid}: {exc}") from exc
        except OSError as exc:  # requests' connection errors are OSErrors
            raise TwilioRestError(f"Twilio's REST API unreachable: {exc!r}") from exc
