"""The owner's channels on 127.0.0.1, speaking their real protocols.

- `FakeTelegram`: the Bot API's `POST /bot<token>/sendMessage` (JSON `{"ok": true, ...}`).
- `WebhookReceiver`: any POST, recorded with its raw body and headers.
- `smtp_server()`: aiosmtpd with STARTTLS required and AUTH LOGIN/PLAIN, on a self-signed
  certificate that the test trusts through `SSL_CERT_FILE`.
Each can fail its first N requests (`fail_first`) to exercise the retries.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.live_server import live_server


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class _FakeHttp:
    fail_first: int = 0
    fail_status: int = 502
    requests: list[Recorded] = field(default_factory=list)
    attempts: int = 0

    def _should_fail(self) -> bool:
        self.attempts += 1
        return self.attempts <= self.fail_first


class FakeTelegram(_FakeHttp):
    token = "123456:TEST-token"

    def app(self) -> Starlette:
        async def send_message(request: Request) -> Response:
            if request.path_params["token"] != self.token:
                return JSONResponse({"ok": False, "description": "Unauthorized"}, 401)
            if self._should_fail():
                return JSONResponse({"ok": False, "description": "Bad Gateway"}, self.fail_status)
            body = await request.body()
            self.requests.append(Recorded(request.url.path, dict(request.headers), body))
            return JSONResponse({"ok": True, "result": {"message_id": len(self.requests)}})

        return Starlette(routes=[Route("/bot{token}/sendMessage", send_message, methods=["POST"])])


class WebhookReceiver(_FakeHttp):
    def app(self) -> Starlette:
        async def receive(request: Request) -> Response:
            if self._should_fail():
                return Response(status_code=self.fail_status)
            body = await request.body()
            self.requests.append(Recorded(request.url.path, dict(request.headers), body))
            return Response(status_code=204)

        return Starlette(routes=[Route("/hook", receive, methods=["POST"])])


@contextmanager
def serve_fake(fake: FakeTelegram | WebhookReceiver) -> Iterator[str]:
    with live_server(fake.app(), lifespan="off") as base_url:
        yield base_url


# ------------------------------------------------------------------------------------ SMTP


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (IP SAN), made with the openssl CLI."""
    cert, key = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class SmtpInbox:
    port: int
    cert_file: Path
    username: str = "lidia"
    password: str = "s3cret+pass"
    fail_first: int = 0
    attempts: int = 0
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    started_tls: list[bool] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"smtp://{self.username}:{quote(self.password)}@127.0.0.1:{self.port}"


class _InboxHandler:
    def __init__(self, inbox: SmtpInbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.inbox.attempts += 1
        if self.inbox.attempts <= self.inbox.fail_first:
            return "451 4.3.0 try again later"
        self.inbox.started_tls.append(session.ssl is not None)
        self.inbox.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.inbox.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def smtp_server(folder: Path) -> Iterator[SmtpInbox]:
    cert, key = self_signed_certificate(folder)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = SmtpInbox(port=_free_port(), cert_file=cert)

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == inbox.username
            and auth_data.password.decode() == inbox.password
        )
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535

    controller = Controller(
        _InboxHandler(inbox),
        hostname="127.0.0.1",
        port=inbox.port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
        auth_exclude_mechanism=["LOGIN"],  # smtplib prefers PLAIN; one mechanism keeps it simple
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
