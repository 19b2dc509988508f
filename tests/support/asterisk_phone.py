"""The phone service with its Asterisk side on, for the scripted Asterisk peer
(`tests.support.asterisk_peer`): the credentials, a free AudioSocket port, and small helpers
for what the dialplan asks over HTTP."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from lidia.core.settings import Settings
from lidia.phone.app import create_app
from lidia.phone.call_store import CallRecord, SqlCallStore
from lidia.phone.ids import asterisk_call_id
from tests.conftest import make_settings
from tests.support.asterisk_peer import AudioSocketPeer, ChanWebSocketPeer
from tests.support.live_server import live_server

USERNAME = "asterisk"
PASSWORD = "s3cret-pass"  # websocket_client.conf `password`
CALLER = "+79161234567"
COMPANY = "+74951234567"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AsteriskPhone:
    url: str
    store: SqlCallStore
    settings: Settings
    audiosocket_port: int

    @property
    def media_uri(self) -> str:
        return self.url.replace("http://", "ws://") + "/asterisk/media"

    def websocket_peer(self, call: str, **fields: object) -> ChanWebSocketPeer:
        return ChanWebSocketPeer(
            self.media_uri,
            USERNAME,
            PASSWORD,
            call=call,
            from_number=CALLER,
            to_number=COMPANY,
            **fields,  # type: ignore[arg-type]
        )

    async def audiosocket_peer(self, **fields: object) -> AudioSocketPeer:
        """A registered AudioSocket call (the dialplan's `CURL()` first), not connected yet."""
        peer = AudioSocketPeer("127.0.0.1", self.audiosocket_port, **fields)  # type: ignore[arg-type]
        response = await self.http(
            "POST", f"/asterisk/calls/{peer.call_uuid}", params={"from": CALLER, "to": COMPANY}
        )
        assert response.status_code == 200 and response.text == "ok", response.text
        return peer

    async def http(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        auth = kwargs.pop("auth", (USERNAME, PASSWORD))
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            return await client.request(method, path, auth=auth, **kwargs)  # type: ignore[arg-type]

    async def next_step(self, call: str) -> str:
        response = await self.http("GET", f"/asterisk/calls/{call}/next")
        assert response.status_code == 200, response.text
        return response.text

    async def closed_record(
        self, call: str, within_s: float = 30.0, *, outcome: str | None = None
    ) -> CallRecord:
        """The call's record once the phone service has closed it (with `outcome`, if given:
        a second leg updates a record already closed by the first)."""
        call_id = asterisk_call_id(call)
        assert call_id is not None
        deadline = time.monotonic() + within_s
        while True:
            record = await self.store.get_call(call_id)
            closed = record is not None and record.ended_at is not None
            if closed and (outcome is None or record.outcome == outcome):  # type: ignore[union-attr]
                return record  # type: ignore[return-value]
            assert time.monotonic() < deadline, f"record of {call_id} not closed: {record}"
            await asyncio.sleep(0.05)


@contextmanager
def serve_asterisk_phone(
    root: Path, orchestrator_url: str, **overrides: object
) -> Iterator[AsteriskPhone]:
    port = free_port()
    values: dict[str, object] = {
        "orchestrator_url": orchestrator_url,
        "asterisk_ws_username": USERNAME,
        "asterisk_ws_password": PASSWORD,
        "asterisk_audiosocket_host": "127.0.0.1",
        "asterisk_audiosocket_port": port,
        "greeting_text": "Здравствуйте!",
        "phone_turn_timeout_s": 20.0,
    }
    settings = make_settings(root, **{**values, **overrides})
    store = SqlCallStore(f"sqlite:///{root / 'calls.db'}")
    try:
        with live_server(create_app(settings, call_store=store)) as url:
            yield AsteriskPhone(url, store, settings, port)
    finally:
        store.engine.dispose()
