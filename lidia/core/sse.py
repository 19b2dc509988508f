"""Server-sent events: how every streaming route frames its events (one `data:` line each)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi.responses import StreamingResponse

# Proxies (nginx) must pass each event on at once instead of buffering the stream.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SSE_DONE = "data: [DONE]\n\n"  # OpenAI's end-of-stream marker


def sse_event(payload: Any) -> str:
    """One event whose data is `payload` as JSON (Cyrillic kept as is, not \\u-escaped)."""
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def sse_response(
    events: AsyncIterator[str], headers: Mapping[str, str] | None = None
) -> StreamingResponse:
    """A `text/event-stream` response for `events`, with the no-buffering headers."""
    return StreamingResponse(
        events, media_type="text/event-stream", headers={**(headers or {}), **SSE_HEADERS}
    )
