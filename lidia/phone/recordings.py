"""Twilio recordings (gather mode): fetched with the account's credentials, only from Twilio."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from lidia.core.settings import Settings


async def fetch_recording(settings: Settings, url: str) -> bytes:
    """Download a Twilio recording with the account's credentials (HTTP basic).

    Only from TWILIO_MEDIA_HOSTS over https (loopback allowed for tests and local proxies):
    with signature checks off, anyone could post a RecordingUrl and collect the credentials.
    The body is capped at STT_MAX_BYTES.
    """
    if not is_twilio_media_url(url, settings.twilio_media_hosts):
        raise ValueError(f"RecordingUrl host is not a Twilio media host: {url[:80]!r}")
    auth = None
    if settings.twilio_account_sid and settings.twilio_auth_token:
        auth = (settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value())
    data = bytearray()
    async with (
        # httpx drops the credentials if a redirect leaves the host.
        httpx.AsyncClient(timeout=30, follow_redirects=True) as client,
        client.stream("GET", url, auth=auth) as response,
    ):
        response.raise_for_status()
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > settings.stt_max_bytes:
                raise ValueError("recording is larger than STT_MAX_BYTES")
    return bytes(data)


def is_twilio_media_url(url: str, allowed_hosts: str) -> bool:
    parsed = urlsplit(url)
    host = (parsed.hostname or "").lower()
    if host in ("127.0.0.1", "localhost", "::1"):
        return parsed.scheme in ("http", "https")
    allowed = [h.strip().lower() for h in allowed_hosts.split(",") if h.strip()]
    in_list = any(host == h or host.endswith("." + h) for h in allowed)
    return parsed.scheme == "https" and in_list
