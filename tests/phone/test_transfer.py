"""Лидия acts on the call: transfer by voice or DTMF 0, the unanswered transfer coming back,
hang-up after a goodbye, and gather mode's `<Dial>`.

Real sockets on 127.0.0.1 throughout: the orchestrator (multilingual Whisper base, RHVoice,
the fake OpenAI-compatible LLM answering with tool calls), the phone service, the scripted
Twilio Media Streams client, and a fake Twilio REST API that the `twilio` SDK updates the
live call on. The caller speaks Russian (RHVoice, carried as 8 kHz μ-law).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from lidia.phone.call_store import CallRecord
from lidia.tts.engines.rhvoice import RHVoiceEngine
from tests.support.fake_llm_servers import FakeOpenAI, Script
from tests.support.fake_twilio_api import FakeTwilioApi
from tests.support.russian_phone import (
    ACCOUNT_SID,
    Phone,
    answer,
    caller_mulaw,
    client_for,
    new_call_sid,
    serve_russian_phone,
)
from tests.support.twilio_client import (
    TEST_AUTH_TOKEN,
    TEST_PUBLIC_BASE,
    TwilioMediaClient,
    signed_headers,
    silence_mulaw,
    webhook_form,
)

pytestmark = pytest.mark.slow

TRANSFER_NUMBER = "+79161234567"
ASK_FOR_PERSON = "Соедините меня, пожалуйста, с менеджером."
GOODBYE = "Спасибо, это всё, до свидания."


@pytest.fixture(scope="module")
def russian_orchestrator_settings() -> dict[str, object]:
    return {"transfer_number": TRANSFER_NUMBER}


@pytest.fixture(scope="module")
def phone(
    tmp_path_factory: pytest.TempPathFactory, russian_orchestrator_url: str
) -> Iterator[Phone]:
    root = tmp_path_factory.mktemp("phone-actions")
    with (
        FakeTwilioApi(ACCOUNT_SID, TEST_AUTH_TOKEN).running() as api,
        serve_russian_phone(
            root,
            russian_orchestrator_url,
            api,
            transfer_number=TRANSFER_NUMBER,
            greeting_text="Здравствуйте!",
        ) as phone,
    ):
        yield phone


@pytest.fixture
def llm(fake_openai: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_openai.reset()
    yield fake_openai
    fake_openai.reset(Script())


@pytest.fixture(scope="module")
def russian(rhvoice: RHVoiceEngine) -> dict[str, bytes]:
    """The caller's phrases as the μ-law Twilio streams."""
    return {text: caller_mulaw(rhvoice, text) for text in (ASK_FOR_PERSON, GOODBYE)}


async def post_webhook(phone: Phone, path: str, form: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=phone.url) as client:
        response = await client.post(path, data=form, headers=signed_headers(path, form))
    assert response.status_code == 200, response.text
    return response


async def new_call(phone: Phone) -> tuple[str, dict[str, str]]:
    call_sid = new_call_sid()
    return call_sid, await answer(phone, call_sid)


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
