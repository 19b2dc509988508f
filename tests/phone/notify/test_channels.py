"""Each owner channel against a real server of its protocol on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import hmac
import json
from pathlib import Path

import pytest

from lidia.core.settings import Settings
from lidia.phone.notify.channels import (
    SIGNATURE_HEADER,
    DeliveryError,
    EmailChannel,
    SmtpTarget,
    TelegramChannel,
    WebhookChannel,
    build_channels,
    webhook_signature,
)
from lidia.phone.notify.notice import CallNotice, dashboard_link, notice_text
from tests.support.fake_notify_servers import (
    FakeTelegram,
    WebhookReceiver,
    serve_fake,
    smtp_server,
)

pytestmark = pytest.mark.time_dependent

NOTICE = CallNotice(
    call_sid="CA0123456789abcdef0123456789abcdef",
    from_number="+79161234567",
    started_at=dt.datetime(2026, 3, 2, 7, 5, tzinfo=dt.UTC),
    duration_s=125.0,
    outcome="message",
    caller_name="Иван Петров",
    callback_number="+79169876543",
    reason="Хочет перенести приём на четверг",
    dashboard_url=dashboard_link("https://lidia.example.ru/", "CA0123456789abcdef0123456789abcdef"),
)


def test_notice_text_is_russian_in_local_time() -> None:
    text = notice_text(NOTICE, "Europe/Moscow")
    assert "Звонок от +79161234567" in text
    assert "02.03.2026 10:05 (Europe/Moscow)" in text  # 07:05 UTC is 10:05 in Moscow
    assert "Длительность: 2 мин 5 с" in text
    assert "Итог: оставил(а) сообщение" in text
    assert "Имя: Иван Петров" in text
    assert "Перезвонить: +79169876543" in text
    assert "Причина: Хочет перенести приём на четверг" in text
    assert "https://lidia.example.ru/admin/calls/CA0123456789abcdef0123456789abcdef" in text


async def test_telegram_send_message() -> None:
    fake = FakeTelegram()
    with serve_fake(fake) as base_url:
        channel = TelegramChannel(fake.token, "-100200300", "Europe/Moscow", base_url)
        await channel.send(NOTICE)
    (request,) = fake.requests
    body = json.loads(request.body)
    assert body["chat_id"] == "-100200300"
    assert body["text"] == notice_text(NOTICE, "Europe/Moscow")


async def test_telegram_failure_is_retryable_and_hides_the_token() -> None:
    fake = FakeTelegram(fail_first=1)
    with serve_fake(fake) as base_url:
        channel = TelegramChannel(fake.token, "42", "Europe/Moscow", base_url)
        with pytest.raises(DeliveryError) as failure:
            await channel.send(NOTICE)
        assert not failure.value.permanent
        assert fake.token not in str(failure.value)
        await channel.send(NOTICE)  # the second attempt goes through
    assert len(fake.requests) == 1


async def test_telegram_wrong_token_is_permanent() -> None:
    fake = FakeTelegram()
    with serve_fake(fake) as base_url:
        channel = TelegramChannel("999:wrong", "42", "Europe/Moscow", base_url)
        with pytest.raises(DeliveryError) as failure:
            await channel.send(NOTICE)
    assert failure.value.permanent
    assert "999:wrong" not in str(failure.value)


async def test_telegram_unreachable_names_no_secret() -> None:
    channel = TelegramChannel("123:secret", "42", "Europe/Moscow", "http://127.0.0.1:9")
    with pytest.raises(DeliveryError) as failure:
        await channel.send(NOTICE)
    assert "secret" not in str(failure.value)
    assert not failure.value.permanent


async def test_webhook_is_signed_and_carries_the_notice() -> None:
    fake = WebhookReceiver()
    with serve_fake(fake) as base_url:
        await WebhookChannel(f"{base_url}/hook", "hook-secret").send(NOTICE)
    (request,) = fake.requests
    expected = webhook_signature("hook-secret", request.body)
    assert hmac.compare_digest(request.headers[SIGNATURE_HEADER.lower()], expected)
    assert request.headers["x-lidia-delivery"] == NOTICE.call_sid
    payload = json.loads(request.body)
    assert payload["event"] == "call.ended"
    assert payload["call"]["caller_name"] == "Иван Петров"
    assert payload["call"]["started_at"] == "2026-03-02T07:05:00+00:00"


async def test_webhook_error_status_raises() -> None:
    fake = WebhookReceiver(fail_first=1, fail_status=503)
    with serve_fake(fake) as base_url, pytest.raises(DeliveryError) as failure:
        await WebhookChannel(f"{base_url}/hook", None).send(NOTICE)
    assert not failure.value.permanent


async def test_email_over_starttls_with_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with smtp_server(tmp_path) as inbox:
        monkeypatch.setenv("SSL_CERT_FILE", str(inbox.cert_file))  # trust the test's own CA
        channel = EmailChannel(
            SmtpTarget.parse(inbox.url),
            "lidia@firma.ru",
            ("owner@firma.ru", "boss@firma.ru"),
            "Europe/Moscow",
        )
        await channel.send(NOTICE)
    assert inbox.started_tls == [True]
    assert inbox.envelopes == [("lidia@firma.ru", ["owner@firma.ru", "boss@firma.ru"])]
    (message,) = inbox.messages
    assert "Иван Петров" in str(message.get("Subject"))
    body = message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")
    assert body.strip() == notice_text(NOTICE, "Europe/Moscow")


async def test_email_temporary_failure_then_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with smtp_server(tmp_path) as inbox:
        inbox.fail_first = 1
        monkeypatch.setenv("SSL_CERT_FILE", str(inbox.cert_file))
        channel = EmailChannel(SmtpTarget.parse(inbox.url), "l@f.ru", ("o@f.ru",), "UTC")
        with pytest.raises(DeliveryError) as failure:
            await channel.send(NOTICE)
        assert not failure.value.permanent
        await channel.send(NOTICE)
    assert len(inbox.messages) == 1


async def test_email_wrong_password_is_permanent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with smtp_server(tmp_path) as inbox:
        monkeypatch.setenv("SSL_CERT_FILE", str(inbox.cert_file))
        target = SmtpTarget.parse(f"smtp://lidia:wrong@127.0.0.1:{inbox.port}")
        channel = EmailChannel(target, "l@f.ru", ("o@f.ru",), "UTC")
        with pytest.raises(DeliveryError) as failure:
            await channel.send(NOTICE)
    assert failure.value.permanent
    assert "wrong" not in str(failure.value)
    assert inbox.messages == []


def test_smtp_url_parsing() -> None:
    target = SmtpTarget.parse("smtp://user%40firma.ru:p%40ss@mail.firma.ru")
    assert (target.host, target.port, target.username, target.password) == (
        "mail.firma.ru",
        587,
        "user@firma.ru",
        "p@ss",
    )
    assert SmtpTarget.parse("smtps://mail.firma.ru").port == 465
    with pytest.raises(ValueError, match="SMTP_URL"):
        SmtpTarget.parse("http://mail.firma.ru")


def test_build_channels_takes_only_complete_settings() -> None:
    assert build_channels(Settings(_env_file=None)) == []
    settings = Settings(
        _env_file=None,
        telegram_bot_token="1:x",
        telegram_chat_id="42",
        smtp_url="smtp://u:p@mail.firma.ru:587",
        notify_email_to="a@f.ru, b@f.ru",
        notify_webhook_url="https://hooks.firma.ru/lidia",
        notify_webhook_secret="s",
    )
    channels = build_channels(settings)
    assert [channel.name for channel in channels] == ["telegram", "email", "webhook"]
    assert channels[1].recipients == ("a@f.ru", "b@f.ru")  # type: ignore[attr-defined]
    only_chat = Settings(_env_file=None, telegram_bot_token="1:x")
    assert build_channels(only_chat) == []  # no chat id: nowhere to send
