"""A fake of Twilio's REST API on 127.0.0.1, the part the phone service uses: updating a live
call (`POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json` with `Twiml` or
`Status`), with HTTP Basic auth (account SID : auth token) checked as Twilio checks it.

The `twilio` SDK talks to it when `TWILIO_API_BASE_URL` points here. Every update is kept
in `fake.updates` (thread-safe: the server runs in its own thread), and answered with a call
resource in Twilio's JSON shape; a wrong account or password gets Twilio's 401 JSON error.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.live_server import live_server


@dataclass(frozen=True)
class CallUpdate:
    account_sid: str
    call_sid: str
    form: dict[str, str]  # Twiml=..., Status=completed, ...
    at: float  # time.perf_counter() when it arrived (the same clock as the Twilio client's)


class FakeTwilioApi:
    """`with FakeTwilioApi(account_sid, auth_token).running() as api: api.base_url ...`"""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.base_url = ""
        self._updates: list[CallUpdate] = []
        self._lock = threading.Lock()

    @contextmanager
    def running(self) -> Iterator[Self]:
        route = Route(
            "/2010-04-01/Accounts/{account}/Calls/{call}.json", self._update, methods=["POST"]
        )
        with live_server(Starlette(routes=[route]), lifespan="off") as url:
            self.base_url = url
            yield self

    @property
    def updates(self) -> list[CallUpdate]:
        with self._lock:
            return list(self._updates)

    def reset(self) -> None:
        with self._lock:
            self._updates.clear()

    async def wait_for_update(self, call_sid: str, within_s: float = 20.0) -> CallUpdate:
        """The first update of `call_sid` (polls: the server runs in another thread)."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            for update in self.updates:
                if update.call_sid == call_sid:
                    return update
            await asyncio.sleep(0.02)
        raise AssertionError(f"no REST update of call {call_sid} within {within_s} s")

    async def _update(self, request: Request) -> JSONResponse:
        account, call = request.path_params["account"], request.path_params["call"]
        if not self._authorized(request.headers.get("authorization", ""), account):
            body = {"code": 20003, "message": "Authenticate", "status": 401}
            return JSONResponse(body, status_code=401)
        form = {key: str(value) for key, value in (await request.form()).items()}
        with self._lock:
            self._updates.append(CallUpdate(account, call, form, time.perf_counter()))
        return JSONResponse(
            {
                "sid": call,
                "account_sid": account,
                "status": form.get("Status", "in-progress"),
                "uri": f"/2010-04-01/Accounts/{account}/Calls/{call}.json",
            }
        )

    def _authorized(self, header: str, account: str) -> bool:
        expected = f"{self.account_sid}:{self.auth_token}".encode()
        return account == self.account_sid and header == (
            "Basic " + base64.b64encode(expected).decode("ascii")
        )
