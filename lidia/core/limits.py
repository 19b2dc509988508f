"""Bounded JSON: every JSON request body is capped in size and nesting before it is parsed.

Without it a 100 000-deep `[[[[...]]]]` body makes `json.loads` raise `RecursionError` (a 500)
and a huge body is buffered whole. `JsonLimitsMiddleware` (pure ASGI, so every route of both
services is covered) reads a JSON body (`application/json`, `application/*+json`, or no
content type, which FastAPI also parses as JSON) up to `JSON_MAX_BYTES`: beyond that, 413;
nested deeper than `JSON_MAX_DEPTH`, 400; both in the one error shape, before any route runs.
The body read is handed on unchanged. Forms, uploads and WebSockets are not touched (uploads
have their own caps; Media Streams frames are bounded in `lidia.phone.carriers.twilio.wire`).
"""

from __future__ import annotations

import asyncio
import re
from itertools import accumulate

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lidia.core.errors import error_body
from lidia.core.openapi import add_responses, error_responses, has_json_body
from lidia.core.settings import Settings

# A JSON string literal (escapes included): brackets inside strings do not nest.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
INLINE_SCAN_BYTES = 16 * 1024
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class JsonTooLarge(Exception):
    pass


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays/objects in `body` (0 for a scalar); linear, no recursion.

    Malformed JSON still gets a number; the parser reports what is wrong with it later."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def is_json_request(headers: Headers) -> bool:
    content_type = headers.get("content-type")
    if not content_type:
        return True
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class JsonLimitsMiddleware:
    """413 for JSON bodies over `max_bytes`, 400 for ones nested deeper than `max_depth`."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope) if scope["type"] == "http" else None
        if headers is None or scope["method"] in ("GET", "HEAD") or not is_json_request(headers):
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read_body(headers, receive)
        except JsonTooLarge:
            message = f"JSON body over {self.max_bytes} bytes (JSON_MAX_BYTES)"
            await _refuse(scope, receive, send, 413, message, "json_too_large")
            return
        if (depth := await _depth_of(body)) > self.max_depth:
            message = f"JSON body nested {depth} deep; at most {self.max_depth} (JSON_MAX_DEPTH)"
            await _refuse(scope, receive, send, 400, message, "json_too_deep")
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, headers: Headers, receive: Receive) -> bytes:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise JsonTooLarge  # refused before a byte of it is read
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client left; the route sees what arrived
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                raise JsonTooLarge
            if not message.get("more_body", False):
                break
        return bytes(body)


async def _depth_of(body: bytes) -> int:
    """`json_depth`, off the event loop for big bodies (a 1 MiB scan takes ~60 ms of CPU)."""
    if len(body) <= INLINE_SCAN_BYTES:
        return json_depth(body)  # ~10 µs for a typical request
    return await asyncio.to_thread(json_depth, body)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the disconnect, when it comes

    return replayed


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, message: str, code: str
) -> None:
    body = error_body(message, error_type="invalid_request_error", code=code)
    await JSONResponse(body, status_code=status)(scope, receive, send)


def install_json_limits(app: FastAPI, settings: Settings) -> None:
    """Bound every JSON body of `app` by `JSON_MAX_BYTES` / `JSON_MAX_DEPTH`."""
    app.add_middleware(
        JsonLimitsMiddleware, max_bytes=settings.json_max_bytes, max_depth=settings.json_max_depth
    )
    add_responses(app, error_responses(400, 413), when=has_json_body)
