"""The apology upgrades itself (issue 11): the phone service starts while the orchestrator is
down (espeak-ng speaks the apology), the orchestrator comes up, the next call's greeting is
synthesized in the cloned voice, and the apology is re-synthesized in it: no restart.

The orchestrator's port is bound before the phone starts but not listened on (connection
refused, like a service not up yet); uvicorn later serves on that very socket.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp

from lidia.orchestrator.app import create_app as create_orchestrator
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.service import VoiceService
from tests.conftest import make_settings
from tests.phone.test_media_stream import greeted_call, serve_phone

pytestmark = pytest.mark.slow


@contextmanager
def reserved_port() -> Iterator[socket.socket]:
    """A loopback port that refuses connections until something serves on it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock
    finally:
        sock.close()


@contextmanager
def serving_on(app: ASGIApp, sock: socket.socket) -> Iterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "orchestrator did not start"
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=30)


async def apology_voice(phone_url: str) -> str | None:
    async with httpx.AsyncClient(base_url=phone_url) as http:
        return (await http.get("/health")).json()["apology_voice"]


async def test_the_apology_becomes_the_cloned_voice_once_the_orchestrator_is_up(
    tmp_path: Path, tiny_stt: FasterWhisperEngine, fallback_voice: VoiceService
) -> None:
    with reserved_port() as sock:
        orchestrator_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        for phone in serve_phone(tmp_path / "phone", orchestrator_url):  # one, then torn down
            assert await apology_voice(phone.url) == "espeak"  # down at start: the stand-in
            orchestrator = create_orchestrator(
                make_settings(tmp_path / "orchestrator"), stt=tiny_stt, tts=fallback_voice
            )
            with serving_on(orchestrator, sock):
                async with greeted_call(phone) as (_, client):  # the greeting: cloned voice
                    assert client.media_payloads()
                    await client.stop()
                deadline = time.monotonic() + 60
                while (voice := await apology_voice(phone.url)) != "orchestrator":
                    assert time.monotonic() < deadline, f"apology still {voice!r}"
                    await asyncio.sleep(0.1)
