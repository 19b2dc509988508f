"""The Russian phone rig the end-to-end phone tests share: an orchestrator that hears Russian
(multilingual Whisper base, RHVoice, the fake OpenAI-compatible LLM), the phone service in
front of it over real sockets, and the webhook that answers a call for the scripted Twilio
client. The pytest fixtures built on it are in `tests/phone/conftest.py`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI

from lidia.audio.codecs import pcm_to_mulaw
from lidia.core.clock import Clock
from lidia.core.settings import Settings
from lidia.orchestrator.app import create_app as create_orchestrator
from lidia.phone.app import create_app as create_phone
from lidia.phone.call_store import SqlCallStore
from lidia.stt.faster_whisper import FasterWhisperEngine
from lidia.tts.engines.rhvoice import RHVoiceEngine
from lidia.tts.service import VoiceService
from tests.conftest import make_settings
from tests.support.fake_llm_servers import FakeOpenAI, Script
from tests.support.fake_twilio_api import FakeTwilioApi
from tests.support.live_server import live_server
from tests.support.russian_speech import phone_line_8k, rhvoice_16k
from tests.support.twilio_client import (
    TEST_AUTH_TOKEN,
    TEST_PUBLIC_BASE,
    TwilioMediaClient,
    signed_headers,
    stream_parameters,
    webhook_form,
)

ACCOUNT_SID = "AC" + "0" * 32
WS_PUBLIC = TEST_PUBLIC_BASE.replace("https://", "wss://") + "/twilio/media"
_call_numbers = itertools.count(0x7E0)  # one sequence for every module: no CallSid twice


@dataclass
class Phone:
    """A running phone service: its URL, its call store and settings, and the fake Twilio
    REST API it updates live calls on (when the test gave it one)."""

    url: str
    store: SqlCallStore
    settings: Settings
    api: FakeTwilioApi | None = None

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/twilio/media"

    @property
    def calls_dir(self) -> Path:
        return self.settings.calls_log_dir


def russian_orchestrator(
    root: Path,
    stt: FasterWhisperEngine,
    voice: VoiceService,
    llm: FakeOpenAI,
    clock: Clock | None = None,
    **overrides: object,
) -> FastAPI:
    """The orchestrator app that hears Russian and answers with the fake LLM (`clock`: the
    calendar time it decides by, for booking)."""
    settings = make_settings(
        root,
        stt_language="ru",
        openai_base_url=llm.base_url,
        openai_model="fake",
        **overrides,
    )
    return create_orchestrator(settings, stt=stt, tts=voice, clock=clock)


@contextmanager
def serve_russian_phone(
    root: Path, orchestrator_url: str, api: FakeTwilioApi | None = None, **overrides: object
) -> Iterator[Phone]:
    """The phone service under uvicorn, in front of `orchestrator_url`, its calls in SQLite
    under `root`; with `api`, live calls are updated on that fake Twilio REST API."""
    values: dict[str, object] = {
        "stt_language": "ru",
        "orchestrator_url": orchestrator_url,
        "public_base_url": TEST_PUBLIC_BASE,
        "twilio_auth_token": TEST_AUTH_TOKEN,
        "twilio_account_sid": ACCOUNT_SID,
        "phone_turn_timeout_s": 30.0,
    }
    if api is not None:
        values["twilio_api_base_url"] = api.base_url
    settings = make_settings(root, **{**values, **overrides})
    store = SqlCallStore(f"sqlite:///{root / 'calls.db'}")
    try:
        with live_server(create_phone(settings, call_store=store)) as url:
            yield Phone(url, store, settings, api)
    finally:
        store.engine.dispose()


def llm_replying(fake_openai: FakeOpenAI, reply: str) -> Iterator[FakeOpenAI]:
    """An `llm` fixture's body: the fake LLM answers `reply` during the test, then is reset."""
    fake_openai.reset(Script(text=reply))
    yield fake_openai
    fake_openai.reset(Script())


def caller_mulaw(rhvoice: RHVoiceEngine, text: str) -> bytes:
    """`text` said by the caller, as the 8 kHz μ-law Twilio streams."""
    return pcm_to_mulaw(phone_line_8k(rhvoice_16k(rhvoice, text)))


def new_call_sid() -> str:
    return f"CA{next(_call_numbers):032x}"


async def answer(phone: Phone, call_sid: str) -> dict[str, str]:
    """The call answered by the webhook; returns its stream's `<Parameter>`s."""
    form = webhook_form(call_sid)
    async with httpx.AsyncClient(base_url=phone.url) as client:
        response = await client.post(
            "/twilio/voice", data=form, headers=signed_headers("/twilio/voice", form)
        )
    assert response.status_code == 200, response.text
    return stream_parameters(response.text)


def client_for(phone: Phone, call_sid: str, parameters: dict[str, str]) -> TwilioMediaClient:
    """The scripted Twilio client for an answered call (not connected yet)."""
    return TwilioMediaClient(
        phone.ws_url, WS_PUBLIC, TEST_AUTH_TOKEN, call_sid, parameters=parameters
    )


async def answered(phone: Phone) -> TwilioMediaClient:
    """A new call, answered by the webhook: its Twilio client, ready to connect."""
    call_sid = new_call_sid()
    return client_for(phone, call_sid, await answer(phone, call_sid))
