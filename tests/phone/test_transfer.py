"""Лидия acts on the call: transfer by voice or DTMF 0, the unanswered transfer coming back,
hang-up after a goodbye, and gather mode's `<Dial>`.

Real sockets on 127.0.0.1 throughout: the orchestrator (multilingual Whisper base, RHVoice,
the fake OpenAI-compatible LLM answering with tool calls), the phone service, the scripted
Twilio Media Streams client, and a fake Twilio REST API that the `twilio` SDK updates the
live call on. The caller speaks Russian (RHVoice, carried as 8 kHz μ-law).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from lidia.audio.codecs import pcm_to_mulaw
from lidia.orchestrator.app import create_app as create_orchestrator
from lidia.phone.app import create_app as create_phone
from lidia.phone.call_store import CallRecord, SqlCallStore
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
    silence_mulaw,
    stream_parameters,
    webhook_form,
)

pytestmark = pytest.mark.slow

ACCOUNT_SID = "AC" + "0" * 32
TRANSFER_NUMBER = "+79161234567"
WS_PUBLIC = TEST_PUBLIC_BASE.replace("https://", "wss://") + "/twilio/media"
ASK_FOR_PERSON = "Соедините меня, пожалуйста, с менеджером."
GOODBYE = "Спасибо, это всё, до свидания."
_call_numbers = itertools.count(0x12E0)


@dataclass
class Phone:
    url: str
    store: SqlCallStore
    api: FakeTwilioApi

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/twilio/media"


@pytest.fixture(scope="module")
def orchestrator_url(
    tmp_path_factory: pytest.TempPathFactory,
    russian_stt: FasterWhisperEngine,
    fallback_voice: VoiceService,
    fake_openai: FakeOpenAI,
) -> Iterator[str]:
    settings = make_settings(
        tmp_path_factory.mktemp("orchestrator-actions"),
        stt_language="ru",
        openai_base_url=fake_openai.base_url,
        openai_model="fake",
        transfer_number=TRANSFER_NUMBER,
    )
    with live_server(create_orchestrator(settings, stt=russian_stt, tts=fallback_voice)) as url:
        yield url


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory, orchestrator_url: str) -> Iterator[Phone]:
    root: Path = tmp_path_factory.mktemp("phone-actions")
    with FakeTwilioApi(ACCOUNT_SID, TEST_AUTH_TOKEN).running() as api:
        settings = make_settings(
            root,
            stt_language="ru",
            orchestrator_url=orchestrator_url,
            public_base_url=TEST_PUBLIC_BASE,
            twilio_auth_token=TEST_AUTH_TOKEN,
            twilio_account_sid=ACCOUNT_SID,
            twilio_api_base_url=api.base_url,
            transfer_number=TRANSFER_NUMBER,
            greeting_text="Здравствуйте!",
            phone_turn_timeout_s=30.0,
        )
        store = SqlCallStore(f"sqlite:///{root / 'calls.db'}")
        with live_server(create_phone(settings, call_store=store)) as url:
            yield Phone(url, store, api)
        store.engine.dispose()


@pytest.fixture
def llm(fake_openai: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_openai.reset()
    yield fake_openai
    fake_openai.reset(Script())


@pytest.fixture(scope="module")
def russian(rhvoice: RHVoiceEngine) -> dict[str, bytes]:
    """The caller's phrases as the μ-law Twilio streams."""
    return {
        text: pcm_to_mulaw(phone_line_8k(rhvoice_16k(rhvoice, text)))
        for text in (ASK_FOR_PERSON, GOODBYE)
    }


async def post_webhook(phone: Phone, path: str, form: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=phone.url) as client:
        response = await client.post(path, data=form, headers=signed_headers(path, form))
    assert response.status_code == 200, response.text
    return response


async def new_call(phone: Phone) -> tuple[str, dict[str, str]]:
    call_sid = f"CA{next(_call_numbers):032x}"
    response = await post_webhook(phone, "/twilio/voice", webhook_form(call_sid))
    return call_sid, stream_parameters(response.text)


def client_for(phone: Phone, call_sid: str, parameters: dict[str, str]) -> TwilioMediaClient:
    return TwilioMediaClient(
        phone.ws_url, WS_PUBLIC, TEST_AUTH_TOKEN, call_sid, parameters=parameters
    )


async def say_and_wait(twilio: TwilioMediaClient, speech: bytes) -> None:
    await twilio.connected()
    await twilio.start()
    await twilio.wait_for_mark("greeting-end")
    await twilio.media(speech, voiced=True)
    await twilio.media(silence_mulaw(1.0))
    await twilio.wait_for_mark("turn1-end", within_s=60)


def _is_mark(message: dict, name: str) -> bool:
    return message.get("event") == "mark" and message["mark"]["name"] == name


async def post_webhook_status(phone: Phone, call_sid: str) -> None:
    form = webhook_form(call_sid, CallStatus="completed", CallDuration="12")
    async with httpx.AsyncClient(base_url=phone.url) as client:
        path = "/twilio/status"
        response = await client.post(path, data=form, headers=signed_headers(path, form))
    assert response.status_code == 204


async def extracted(phone: Phone, call_sid: str) -> CallRecord:
    """The record once message extraction (after the final status) has written its summary."""
    for _ in range(400):
        record = await phone.store.get_call(call_sid)
        if record is not None and record.message_summary:
            return record
        await asyncio.sleep(0.05)
    raise AssertionError("the message was not extracted within 20 s")


async def outcome_of(phone: Phone, call_sid: str) -> str | None:
    record = await phone.store.get_call(call_sid)
    assert record is not None
    return record.outcome


async def test_asking_for_a_person_by_voice_transfers_the_call(
    phone: Phone, llm: FakeOpenAI, russian: dict[str, bytes]
) -> None:
    llm.script = Script(
        text="Соединяю вас с менеджером.", tool_calls=[{"name": "transfer_call", "arguments": {}}]
    )
    call_sid, parameters = await new_call(phone)
    async with client_for(phone, call_sid, parameters) as twilio:
        await say_and_wait(twilio, russian[ASK_FOR_PERSON])
        update = await phone.api.wait_for_update(call_sid)
        await twilio.stop()  # Twilio ends the stream once the call is redirected
        assert await twilio.closed()
    heard = llm.requests[-1].body["messages"][-1]["content"].lower()
    assert "менеджер" in heard, heard
    assert "transfer_call" in [t["function"]["name"] for t in llm.requests[-1].body["tools"]]
    twiml = update.form["Twiml"]
    assert f"<Number>{TRANSFER_NUMBER}</Number>" in twiml
    assert f'action="{TEST_PUBLIC_BASE}/twilio/dial"' in twiml
    assert await outcome_of(phone, call_sid) == "transferred"


async def test_dtmf_zero_transfers_at_once_with_the_notice(phone: Phone, llm: FakeOpenAI) -> None:
    call_sid, parameters = await new_call(phone)
    async with client_for(phone, call_sid, parameters) as twilio:
        await twilio.connected()
        await twilio.start()
        await twilio.wait_for_mark("greeting-end")
        await twilio.dtmf("0")
        update = await phone.api.wait_for_update(call_sid)
        await twilio.stop()
        assert await twilio.closed()
    twiml = update.form["Twiml"]
    assert f"<Play>{TEST_PUBLIC_BASE}/audio/" in twiml and "<Dial" in twiml
    assert not llm.requests  # no LLM turn: the digit itself transfers
    assert await outcome_of(phone, call_sid) == "transferred"


async def test_an_unanswered_transfer_comes_back_to_lidia_for_a_message(phone: Phone) -> None:
    call_sid, _ = await new_call(phone)
    form = webhook_form(call_sid, DialCallStatus="no-answer", CallStatus="in-progress")
    twiml = (await post_webhook(phone, "/twilio/dial", form)).text
    assert f"<Play>{TEST_PUBLIC_BASE}/audio/" in twiml
    assert f'action="{TEST_PUBLIC_BASE}/twilio/recording?purpose=message"' in twiml
    assert await outcome_of(phone, call_sid) == "transfer_unanswered"
    answered = webhook_form(call_sid, DialCallStatus="completed", CallStatus="in-progress")
    assert "<Hangup" in (await post_webhook(phone, "/twilio/dial", answered)).text


async def test_a_goodbye_ends_the_call_after_the_sentence_and_keeps_the_message(
    phone: Phone, llm: FakeOpenAI, russian: dict[str, bytes]
) -> None:
    message = {"name": "Анна", "callback_number": "+79035556677", "reason": "перенести запись"}
    llm.script = Script(
        text="Спасибо, Анна, я всё передам. До свидания!",
        tool_calls=[
            {"name": "take_message", "arguments": message},
            {"name": "end_call", "arguments": {}},
        ],
    )
    call_sid, parameters = await new_call(phone)
    async with client_for(phone, call_sid, parameters) as twilio:
        await say_and_wait(twilio, russian[GOODBYE])
        update = await phone.api.wait_for_update(call_sid)
        await twilio.stop()
        assert await twilio.closed()
    assert update.form == {"Status": "completed"}
    (goodbye_end,) = [r.at for r in twilio.received if _is_mark(r.message, "turn1-end")]
    assert update.at > goodbye_end  # she finished her sentence (Twilio echoed its end) first
    # The owner's notice reads the message fields after extraction: hers are kept.
    await post_webhook_status(phone, call_sid)
    record = await extracted(phone, call_sid)
    assert record is not None
    assert (record.message_name, record.message_phone, record.message_reason) == (
        "Анна",
        "+79035556677",
        "перенести запись",
    )
    assert record.message_left


async def test_gather_mode_answers_a_transfer_with_dial_twiml(
    phone: Phone, llm: FakeOpenAI
) -> None:
    llm.script = Script(
        text="Соединяю вас с менеджером.", tool_calls=[{"name": "transfer_call", "arguments": {}}]
    )
    call_sid, _ = await new_call(phone)
    form = webhook_form(call_sid, SpeechResult="Соедините меня с менеджером", Confidence="0.9")
    twiml = (await post_webhook(phone, "/twilio/gather", form)).text
    assert f"<Play>{TEST_PUBLIC_BASE}/audio/" in twiml  # Лидия's notice first
    assert f"<Number>{TRANSFER_NUMBER}</Number>" in twiml
    assert await outcome_of(phone, call_sid) == "transferred"
