"""Where the owner's notices go: Telegram, e-mail (SMTP with STARTTLS), a signed JSON webhook.

Each channel is configured from settings alone and is left out while its settings are unset.
`send()` either delivers or raises `DeliveryError`; it never retries on its own (the outbox
does, durably). Secrets (bot token, SMTP password, webhook secret) never appear in errors.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import unquote, urlsplit

import httpx

from lidia.core.settings import Settings
from lidia.phone.notify.notice import CallNotice, notice_subject, notice_text

SIGNATURE_HEADER = "X-Lidia-Signature"
_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class DeliveryError(Exception):
    """The channel did not take the notice; `permanent` when trying again cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Channel(Protocol):
    name: str

    async def send(self, notice: CallNotice) -> None: ...


@dataclass(frozen=True)
class TelegramChannel:
    """Bot API `sendMessage` to one chat (a person, a group, or a channel)."""

    token: str
    chat_id: str
    timezone: str
    api_base_url: str = "https://api.telegram.org"
    name: str = "telegram"

    async def send(self, notice: CallNotice) -> None:
        url = f"{self.api_base_url.rstrip('/')}/bot{self.token}/sendMessage"
        body = {
            "chat_id": self.chat_id,
            "text": notice_text(notice, self.timezone),
            "disable_web_page_preview": True,
        }
        response = await _post(self.name, url, json=body)
        answer = _json_or_none(response)
        if response.status_code != 200 or not (answer or {}).get("ok"):
            description = (answer or {}).get("description") or response.text[:200]
            raise DeliveryError(
                f"telegram answered HTTP {response.status_code}: {description}",
                permanent=response.status_code in (400, 401, 403, 404),
            )


@dataclass(frozen=True)
class WebhookChannel:
    """POST the notice as JSON; the body is signed with HMAC-SHA256 when a secret is set.

    The receiver checks `X-Lidia-Signature: sha256=<hex of HMAC(secret, raw body)>`; the
    `X-Lidia-Delivery` header is the same for every retry of one notice (deduplicate on it).
    """

    url: str
    secret: str | None
    name: str = "webhook"

    async def send(self, notice: CallNotice) -> None:
        body = json.dumps({"event": "call.ended", "call": notice.as_json()}, ensure_ascii=False)
        raw = body.encode("utf-8")
        headers = {"Content-Type": "application/json", "X-Lidia-Delivery": notice.call_sid}
        if self.secret:
            headers[SIGNATURE_HEADER] = webhook_signature(self.secret, raw)
        response = await _post(self.name, self.url, content=raw, headers=headers)
        if not 200 <= response.status_code < 300:
            raise DeliveryError(
                f"webhook answered HTTP {response.status_code}",
                permanent=response.status_code in (400, 401, 403, 404, 410),
            )


def webhook_signature(secret: str, raw_body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass(frozen=True)
class SmtpTarget:
    """Parsed `SMTP_URL`: `smtp://user:pass@host:587` (STARTTLS) or `smtps://...:465` (TLS)."""

    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:password@host:587")
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
        )


@dataclass(frozen=True)
class EmailChannel:
    """One plain-text e-mail per notice. STARTTLS is required on `smtp://` (never plain text
    credentials over the network); the server's certificate is verified."""

    target: SmtpTarget
    sender: str
    recipients: tuple[str, ...]
    timezone: str
    name: str = "email"

    async def send(self, notice: CallNotice) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = notice_subject(notice)
        message["Message-ID"] = f"<{notice.call_sid}.lidia@{self.target.host}>"
        message.set_content(notice_text(notice, self.timezone))
        await asyncio.to_thread(self._deliver, message)

    def _deliver(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        try:
            with self._connect(context) as smtp:
                if self.target.username:
                    smtp.login(self.target.username, self.target.password or "")
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP login refused ({exc.smtp_code})", permanent=True) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP delivery failed: {type(exc).__name__}: {exc}") from exc

    def _connect(self, context: ssl.SSLContext) -> smtplib.SMTP:
        host, port = self.target.host, self.target.port
        if self.target.implicit_tls:
            return smtplib.SMTP_SSL(host, port, timeout=20, context=context)
        smtp = smtplib.SMTP(host, port, timeout=20)
        try:
            smtp.starttls(context=context)
        except BaseException:
            smtp.close()
            raise
        return smtp


async def _post(channel: str, url: str, **kwargs: object) -> httpx.Response:
    try:
        async with httpx.AsyncClient(timeout=_TIMEOUT) as client:
            return await client.post(url, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        # The URL may hold the bot token: name the failure, not the address.
        raise DeliveryError(f"{channel} unreachable: {type(exc).__name__}") from None


def _json_or_none(response: httpx.Response) -> dict | None:
    try:
        value = response.json()
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def build_channels(settings: Settings) -> list[Channel]:
    """Every channel whose settings are complete; the order is the order of delivery."""
    channels: list[Channel] = []
    if settings.telegram_bot_token and settings.telegram_chat_id:
        channels.append(
            TelegramChannel(
                token=settings.telegram_bot_token.get_secret_value(),
                chat_id=settings.telegram_chat_id,
                timezone=settings.timezone,
                api_base_url=settings.telegram_api_base_url,
            )
        )
    if settings.smtp_url and settings.notify_email_to:
        channels.append(
            EmailChannel(
                target=SmtpTarget.parse(settings.smtp_url.get_secret_value()),
                sender=settings.notify_email_from or "lidia@localhost",
                recipients=_addresses(settings.notify_email_to),
                timezone=settings.timezone,
            )
        )
    if settings.notify_webhook_url:
        secret = settings.notify_webhook_secret
        channels.append(
            WebhookChannel(
                url=settings.notify_webhook_url,
                secret=secret.get_secret_value() if secret else None,
            )
        )
    return channels


def _addresses(value: str) -> tuple[str, ...]:
    return tuple(address.strip() for address in value.split(",") if address.strip())
