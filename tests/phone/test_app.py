# ruff: noqa: F811  (pytest fixtures imported from test_media_stream share their names)
"""Phone service webhooks over real HTTP: signatures, the gather flow, recordings, status,
generated audio, health, and the signed WebSocket upgrade."""

from __future__ import annotations

import asyncio
import base64
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lidia.audio.codecs import decode_audio, rms
from lidia.phone.recordings import is_twilio_media_url
from tests.phone.test_media_stream import (  # noqa: F401  (module fixtures reused)
    REPLY,
    WS_PUBLIC,
    Phone,
    llm,
    new_call_sid,
    orchestrator_url,
    serve_phone,
)
from tests.support.fake_llm_servers import FakeOpenAI
from tests.support.live_server import live_server
from tests.support.speech_fixtures import espeak_wav
from tests.support.twilio_client import (
    TEST_AUTH_TOKEN,
    TEST_PUBLIC_BASE,
    sign,
    signed_headers,
    webhook_form,
)

ACCOUNT_SID = "AC" + "0" * 32


@pytest.fixture(scope="module")
def gather_phone(
    tmp_path_factory: pytest.TempPathFactory, orchestrator_url: str
) -> Iterator[Phone]:
    yield from serve_phone(tmp_path_factory.mktemp("gather"), orchestrator_url, phone_mode="gather")


@pytest.fixture(scope="module")
def stream_phone(
    tmp_path_factory: pytest.TempPathFactory, orchestrator_url: str
) -> Iterator[Phone]:
    yield from serve_phone(tmp_path_factory.mktemp("stream"), orchestrator_url)


@pytest.fixture(scope="module")
def recordings() -> Iterator[str]:
    """Twilio's recording server: the caller's audio behind the account's basic auth."""
    wav = espeak_wav("Hello I would like to book an appointment for tomorrow.")

    async def recording(request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{TEST_AUTH_TOKEN}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return Response(status_code=401)
        return Response(wav, media_type="audio/wav")

    with live_server(Starlette(routes=[Route("/Recordings/{sid}", recording)])) as url:
        yield url


def post(
    phone: Phone,
    path: str,
    form: dict[str, str],
    *,
    signed: bool = True,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    if headers is None:
        headers = signed_headers(path, form) if signed else {}
    return httpx.post(phone.url + path, data=form, headers=headers, timeout=60)


def twiml(response: httpx.Response) -> ET.Element:
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "application/xml"
    )
    root = ET.fromstring(response.text)
    assert root.tag == "Response"
    return root


def test_stream_twiml_connects_the_media_stream(stream_phone: Phone) -> None:
    call_sid = new_call_sid()
    root = twiml(post(stream_phone, "/twilio/voice", webhook_form(call_sid)))
    stream = root.find("./Connect/Stream")
    assert stream is not None and stream.get("url") == WS_PUBLIC
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    token = params.pop("streamToken")  # the call's one-time stream token (random, unguessable)
    assert len(token) >= 32
    assert params == {"callSid": call_sid, "from": "+15550001111"}


@pytest.mark.parametrize("case", ["missing", "forged", "altered"])
def test_unsigned_or_altered_webhooks_are_refused(stream_phone: Phone, case: str) -> None:
    call_sid = new_call_sid()
    form = webhook_form(call_sid)
    headers = {
        "missing": {},
        "forged": {"X-Twilio-Signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="},
        # A captured request replayed with another caller number: the signature no longer fits.
        "altered": signed_headers("/twilio/voice", {**form, "From": "+19999999999"}),
    }[case]
    assert post(stream_phone, "/twilio/voice", form, headers=headers).status_code == 403


async def test_the_websocket_upgrade_needs_a_valid_signature(stream_phone: Phone) -> None:
    for headers in (
        {},
        {"X-Twilio-Signature": sign("wrong-token", WS_PUBLIC)},
        {"X-Twilio-Signature": sign(TEST_AUTH_TOKEN, WS_PUBLIC + "?x=1")},
    ):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(stream_phone.ws_url, additional_headers=headers):
                pass
        assert refused.value.response.status_code == 403


def test_gather_flow_full_loop(gather_phone: Phone, llm: FakeOpenAI) -> None:
    call_sid = new_call_sid()
    root = twiml(post(gather_phone, "/twilio/voice", webhook_form(call_sid)))
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("input") == "speech" and gather.get("language") == "en-US"
    assert gather.get("speechTimeout") == "auto"
    assert gather.get("action") == f"{TEST_PUBLIC_BASE}/twilio/gather"
    assert root.find("Record") is not None  # for callers Twilio cannot recognise
    greeting = fetch_play(gather_phone, gather.find("Play").text)
    assert rms(decode_audio(greeting)) > 0.01

    form = webhook_form(call_sid, SpeechResult="What are your opening hours?", Confidence="0.9")
    root = twiml(post(gather_phone, "/twilio/gather", form))
    reply_url = root.find("./Gather/Play").text
    assert rms(decode_audio(fetch_play(gather_phone, reply_url))) > 0.01
    assert llm.requests[-1].body["messages"][-1]["content"] == "What are your opening hours?"

    post(
        gather_phone,
        "/twilio/status",
        webhook_form(call_sid, CallStatus="completed", CallDuration="42"),
    )

    record = asyncio.run(gather_phone.store.get_call(call_sid))
    turns = asyncio.run(gather_phone.store.turns(call_sid))
    assert record is not None and record.duration_s == 42 and record.status == "completed"
    assert [(t.transcript, t.reply) for t in turns] == [("What are your opening hours?", REPLY)]


def fetch_play(phone: Phone, public_url: str) -> bytes:
    assert public_url.startswith(f"{TEST_PUBLIC_BASE}/audio/")
    response = httpx.get(phone.url + public_url.removeprefix(TEST_PUBLIC_BASE))
    assert response.status_code == 200
    return response.content


def test_unrecognised_speech_goes_through_a_recording(
    gather_phone: Phone,
    llm: FakeOpenAI,
    recordings: str,
) -> None:
    call_sid = new_call_sid()
    post(gather_phone, "/twilio/voice", webhook_form(call_sid))
    root = twiml(post(gather_phone, "/twilio/gather", webhook_form(call_sid, SpeechResult="")))
    record = root.find("Record")
    assert record is not None and record.get("action").endswith("/twilio/recording?purpose=turn")
    form = webhook_form(call_sid, RecordingUrl=f"{recordings}/Recordings/RE1", RecordingSid="RE1")
    path = "/twilio/recording?purpose=turn"
    root = twiml(post(gather_phone, path, form))
    assert root.find("./Gather/Play") is not None

    [turn] = asyncio.run(gather_phone.store.turns(call_sid))
    assert "appointment" in turn.transcript.lower() and turn.reply == REPLY


def test_orchestrator_failure_in_a_webhook_is_an_apology_with_record(
    gather_phone: Phone, fake_openai: FakeOpenAI
) -> None:
    call_sid = new_call_sid()
    post(gather_phone, "/twilio/voice", webhook_form(call_sid))
    # An unknown recording URL: the fetch fails, the caller still gets TwiML, never a 5xx.
    form = webhook_form(call_sid, RecordingUrl="http://127.0.0.1:9/nothing")
    root = twiml(post(gather_phone, "/twilio/recording?purpose=turn", form))
    assert root.find("Play") is not None
    assert root.find("Record").get("action").endswith("purpose=message")

    record = asyncio.run(gather_phone.store.get_call(call_sid))
    assert record is not None and record.errors


def test_audio_ids_are_unguessable_and_health_reports(stream_phone: Phone) -> None:
    assert httpx.get(stream_phone.url + "/audio/not-an-id").status_code == 404
    health = httpx.get(stream_phone.url + "/health", timeout=10).json()
    assert health["orchestrator"]["reachable"] is True
    assert health["twilio_signature_validation"] is True
    assert health["active_calls"] == 0
    info = httpx.get(stream_phone.url + "/").json()
    assert "WS /twilio/media" in info["endpoints"]


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1", True),
        ("https://api.dublin.ie1.twilio.com/2010-04-01/Recordings/RE1", True),
        ("http://api.twilio.com/Recordings/RE1", False),  # credentials never in clear text
        ("https://twilio.com.evil.example/Recordings/RE1", False),
        ("https://eviltwilio.com/Recordings/RE1", False),
        ("http://127.0.0.1:9999/rec.wav", True),  # a local proxy or test server
        ("file:///etc/passwd", False),
    ],
)
def test_recordings_are_fetched_with_credentials_only_from_twilio(url: str, trusted: bool) -> None:
    assert is_twilio_media_url(url, "twilio.com") is trusted


def test_a_garbled_call_duration_still_finishes_the_call(gather_phone: Phone) -> None:
    call_sid = new_call_sid()
    post(gather_phone, "/twilio/voice", webhook_form(call_sid))
    post(
        gather_phone,
        "/twilio/status",
        webhook_form(call_sid, CallStatus="completed", CallDuration="abc"),
    )
    record = asyncio.run(gather_phone.store.get_call(call_sid))
    assert record is not None and record.status == "completed"
    assert record.duration_s is not None and record.duration_s < 60  # measured by us instead


def test_a_message_and_status_for_a_call_with_no_record_recreate_it(
    gather_phone: Phone, recordings: str
) -> None:
    # The record of a refused call is written after the busy answer; a crash in between
    # loses it. Twilio's later callbacks carry the call's own fields: nothing else is lost.
    call_sid = new_call_sid()
    form = webhook_form(call_sid, RecordingUrl=f"{recordings}/Recordings/RE7", RecordingSid="RE7")
    root = twiml(post(gather_phone, "/twilio/recording?purpose=message", form))
    assert root.find("Hangup") is not None
    post(gather_phone, "/twilio/status", webhook_form(call_sid, CallStatus="completed"))

    record = asyncio.run(gather_phone.store.get_call(call_sid))
    assert record is not None and record.status == "completed" and record.outcome == "message"
    assert record.message_audio_path and Path(record.message_audio_path).stat().st_size > 1000
    assert record.from_number == webhook_form(call_sid)["From"]
    events = [e.kind for e in asyncio.run(gather_phone.store.events(call_sid))]
    assert events.count("record_recreated") == 1
