"""Twilio recordings (gather mode: turns, messages, the whole call): fetched with the account's
credentials, only from Twilio."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from lidia.core.settings import Settings

# A whole call in Twilio's dual WAV: 8 kHz, 16-bit, two channels (32 kB a second).
CALL_WAV_BYTES_PER_S = 8000 * 2 * 2


async def fetch_recording(settings: Settings, url: str, *, max_bytes: int | None = None) -> bytes:
    """Download a Twilio recording with the account's credentials (HTTP basic).

    Only from TWILIO_MEDIA_HOSTS over https (loopback allowed for tests and local proxies):
    with signature checks off, anyone could post a RecordingUrl and collect the credentials.
    The body is capped at `max_bytes` (STT_MAX_BYTES unless given).
    """
    limit = settings.stt_max_bytes if max_bytes is None else max_bytes
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
            if len(data) > limit:
                raise ValueError(f"recording is larger than {limit} bytes")
    return bytes(data)


def call_recording_wav_url(recording_url: str) -> str:
    """The WAV of a whole-call recording, both channels: Twilio's RecordingUrl has no
    extension (".wav" picks the format) and `RequestedChannels=2` keeps the channels apart."""
    parts = urlsplit(recording_url)
    path = parts.path if parts.path.endswith((".wav", ".mp3")) else parts.path + ".wav"
    query = "&".join(q for q in (parts.query, urlencode({"RequestedChannels": 2})) if q)
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def call_recording_max_bytes(settings: Settings) -> int:
    """The most a whole call's WAV can weigh: MAX_CALL_S of it, plus a minute's slack."""
    return int((settings.max_call_s + 60) * CALL_WAV_BYTES_PER_S)


def is_twilio_media_url(url: str, allowed_hosts: str) -> bool:
    parsed = urlsplit(url)
    host = (parsed.hostname or "").lower()
    if host in ("127.0.0.1", "localhost", "::1"):
        return parsed.scheme in ("http", "https")
    allowed = [h.strip().lower() for h in allowed_hosts.split(",") if h.strip()]
    in_list = any(host == h or host.endswith("." + h) for h in allowed)
    return parsed.scheme == "https" and in_list
