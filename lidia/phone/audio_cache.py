"""Generated audio that Twilio fetches for `<Play>` at `/audio/{id}`."""

from __future__ import annotations

import secrets
import time


class AudioCache:
    """Audio by id: ids from `secrets.token_urlsafe` (unguessable), each expiring after a TTL."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._items: dict[str, tuple[bytes, str, float]] = {}

    def put(self, data: bytes, content_type: str = "audio/wav") -> str:
        self._purge()
        audio_id = secrets.token_urlsafe(24)
        self._items[audio_id] = (data, content_type, time.monotonic() + self.ttl_s)
        return audio_id

    def get(self, audio_id: str) -> tuple[bytes, str] | None:
        item = self._items.get(audio_id)
        if item is None or item[2] < time.monotonic():
            self._items.pop(audio_id, None)
            return None
        return item[0], item[1]

    def _purge(self) -> None:
        now = time.monotonic()
        for key in [k for k, (_, _, expires) in self._items.items() if expires < now]:
            del self._items[key]
