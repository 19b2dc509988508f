"""`X-Lidia-Replica: <hostname>:<port>` on every response: which replica behind the load
balancer answered (logs, debugging, the replica failover test)."""

from __future__ import annotations

import socket

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REPLICA_HEADER = "X-Lidia-Replica"


def replica_name(port: int) -> str:
    """This process as the balancer knows it: the host's name and the service's port."""
    return f"{socket.gethostname()}:{port}"


class ReplicaHeaderMiddleware:
    """Pure ASGI (no body buffering), so streamed NDJSON/SSE/PCM replies pass untouched."""

    def __init__(self, app: ASGIApp, *, name: str) -> None:
        self.app = app
        self._header = (REPLICA_HEADER.lower().encode("latin-1"), name.encode("latin-1"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), self._header]
            await send(message)

        await self.app(scope, receive, send_with_header)
