"""A real HTTP server around an ASGI app, for clients that need one (the `openai` SDK).

`TestClient` talks to the app in-process; the `openai` SDK, browsers and benchmarks open real
sockets. `live_server(app)` runs uvicorn on 127.0.0.1 on a free port in a background thread,
with the app's lifespan, and stops it on exit.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

_START_TIMEOUT_S = 60.0  # the lifespan may load engines


@contextmanager
def live_server(app: ASGIApp, *, lifespan: str = "on") -> Iterator[str]:
    """Serve `app` on 127.0.0.1:<free port>; yields the base URL ("http://127.0.0.1:PORT").

    Blocks until uvicorn has started (lifespan finished) and raises `RuntimeError` when it
    cannot start. The server runs in a daemon thread with its own event loop.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan=lifespan, timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_started(server, thread)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the live server stopped while starting (see the log)")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the live server did not start within {_START_TIMEOUT_S:g} s")
        time.sleep(0.01)
