# ruff: noqa: F811  (pytest fixtures imported from test_media_stream share their names)
"""The owner hears about every call: a Russian call through the phone service, then Twilio's
status callback, then exactly one notice on each channel — also across failures and a
restart of the phone service."""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from lidia.phone.notify.channels import webhook_signature
from tests.phone.test_media_stream import (  # noqa: F401  (module fixtures reused)
    Phone,
    llm,
    new_call_sid,
    orchestrator_url,
    serve_phone,
)
from tests.support.fake_llm_servers import FakeOpenAI
from tests.support.fake_notify_servers import FakeTelegram, WebhookReceiver, serve_fake
from tests.support.twilio_client import TEST_PUBLIC_BASE, signed_headers, webhook_form

pytestmark = pytest.mark.time_dependent


@pytest.fixture
def telegram() -> Iterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram()
    with serve_fake(fake) as url:
        yield fake, url


@pytest.fixture
def webhook() -> Iterator[tuple[WebhookReceiver, str]]:
    fake = WebhookReceiver()
    with serve_fake(fake) as url:
        yield fake, url


def channel_settings(telegram_url: str, webhook_url: str) -> dict[str, object]:
    return {
        "phone_mode": "gather",
        "telegram_bot_token": FakeTelegram.token,
        "telegram_chat_id": "-1001234",
        "telegram_api_base_url": telegram_url,
        "notify_webhook_url": f"{webhook_url}/hook",
        "notify_webhook_secret": "секрет-hook",
    }


def post(phone: Phone, path: str, form: dict[str, str]) -> httpx.Response:
    return httpx.post(phone.url + path, data=form, headers=signed_headers(path, form), timeout=60)


def russian_call(phone: Phone) -> str:
    """Ring, say one Russian sentence (Twilio's speech result), hang up."""
    call_sid = new_call_sid()
    assert post(phone, "/twilio/voice", webhook_form(call_sid)).status_code == 200
    form = webhook_form(
        call_sid, SpeechResult="Меня зовут Ольга, перезвоните мне завтра.", Confidence="0.9"
    )
    assert post(phone, "/twilio/gather", form).status_code == 200
    status = webhook_form(call_sid, CallStatus="completed", CallDuration="37")
    assert post(phone, "/twilio/status", status).status_code == 204
    return call_sid


def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the owner was not notified in time"
        time.sleep(0.05)


def test_the_owner_gets_one_notice_per_channel(
    tmp_path: Path,
    orchestrator_url: str,
    llm: FakeOpenAI,
    telegram: tuple[FakeTelegram, str],
    webhook: tuple[WebhookReceiver, str],
) -> None:
    (tg, tg_url), (hook, hook_url) = telegram, webhook
    for phone in serve_phone(tmp_path, orchestrator_url, **channel_settings(tg_url, hook_url)):
        call_sid = russian_call(phone)
        wait_for(lambda: tg.requests and hook.requests)
        post(phone, "/twilio/status", webhook_form(call_sid, CallStatus="completed"))  # again
        time.sleep(1.0)
        deliveries = asyncio.run(phone.store.deliveries(call_sid))
    assert len(tg.requests) == 1 and len(hook.requests) == 1
    text = json.loads(tg.requests[0].body)["text"]
    assert text.startswith("Звонок от +15550001111\n")
    assert "Ольга" in text  # the caller's words reach the owner (extracted or raw)
    assert "Длительность: 37 с" in text
    assert f"{TEST_PUBLIC_BASE}/admin/calls/{call_sid}" in text
    raw = hook.requests[0].body
    signature = hook.requests[0].headers["x-lidia-signature"]
    assert hmac.compare_digest(signature, webhook_signature("секрет-hook", raw))
    assert json.loads(raw)["call"]["call_sid"] == call_sid
    assert {(d.channel, d.state) for d in deliveries} == {("telegram", "sent"), ("webhook", "sent")}


def test_a_failing_channel_is_delivered_after_a_restart(
    tmp_path: Path,
    orchestrator_url: str,
    llm: FakeOpenAI,
    telegram: tuple[FakeTelegram, str],
    webhook: tuple[WebhookReceiver, str],
) -> None:
    (tg, tg_url), (hook, hook_url) = telegram, webhook
    tg.fail_first = 2  # Telegram is down for the first two attempts
    settings = channel_settings(tg_url, hook_url)
    for phone in serve_phone(tmp_path, orchestrator_url, **settings):
        call_sid = russian_call(phone)
        wait_for(lambda: tg.attempts >= 1 and hook.requests)
    # The phone service stopped; a new process on the same database takes over.
    for phone in serve_phone(tmp_path, orchestrator_url, **settings):
        wait_for(lambda: tg.requests, timeout_s=30)
        time.sleep(0.5)
        deliveries = {d.channel: d for d in asyncio.run(phone.store.deliveries(call_sid))}
    assert len(tg.requests) == 1 and len(hook.requests) == 1
    assert tg.attempts == 3
    assert (deliveries["telegram"].state, deliveries["telegram"].attempts) == ("sent", 3)
    assert deliveries["webhook"].attempts == 1
