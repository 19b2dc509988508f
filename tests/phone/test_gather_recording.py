# ruff: noqa: F811  (pytest fixtures imported from test_media_stream share their names)
"""Gather mode records both sides: the first answer starts Twilio's dual-channel recording of
the whole call, the signed recording callback brings it in as `call.wav` (caller left, Лидия
right, 8 kHz), and the call page plays it in stereo.

Over real sockets on 127.0.0.1: the phone service under uvicorn, and a fake of Twilio's
recordings API (basic auth, `.wav` and `RequestedChannels=2` as Twilio serves them) holding
a two-channel WAV of RHVoice's Russian: the caller on channel 1, Лидия on channel 2.
"""

from __future__ import annotations

import asyncio
import base64
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lidia.audio.codecs import float_to_int16
from lidia.audio.stereo import read_wav_int16, stereo_wav_bytes
from lidia.phone.call_files import CALL_FILE
from lidia.tts.engines.rhvoice import RHVoiceEngine
from tests.phone.test_media_stream import (  # noqa: F401  (fixtures used by name)
    Phone,
    new_call_sid,
    orchestrator_url,
    serve_phone,
)
from tests.support.live_server import live_server
from tests.support.russian_speech import BOOKING, phone_line_8k, rhvoice_16k
from tests.support.twilio_client import (
    TEST_AUTH_TOKEN,
    TEST_PUBLIC_BASE,
    signed_headers,
    webhook_form,
)

ACCOUNT_SID = "AC" + "0" * 32
ADMIN = ("owner", "s3cret-пароль")
LIDIA_SAYS = "Конечно, записала вас на завтра, на десять утра."
RECORDING_SID = "RE" + "1" * 32


@pytest.fixture(scope="module")
def gather_phone(
    tmp_path_factory: pytest.TempPathFactory, orchestrator_url: str
) -> Iterator[Phone]:
    yield from serve_phone(
        tmp_path_factory.mktemp("gather-recording"),
        orchestrator_url,
        phone_mode="gather",
        admin_username=ADMIN[0],
        admin_password=ADMIN[1],
        admin_secret="test-secret",
    )


@pytest.fixture(scope="module")
def both_sides(rhvoice: RHVoiceEngine) -> tuple[np.ndarray, np.ndarray]:
    """The call as Twilio hears it (int16, 8 kHz): the caller speaks, then Лидия answers."""
    caller = float_to_int16(phone_line_8k(rhvoice_16k(rhvoice, BOOKING)))
    lidia = float_to_int16(phone_line_8k(rhvoice_16k(rhvoice, LIDIA_SAYS)))
    left = np.concatenate([caller, np.zeros(len(lidia), np.int16)])
    right = np.concatenate([np.zeros(len(caller), np.int16), lidia])
    return left, right


@pytest.fixture(scope="module")
def twilio_recordings(both_sides: tuple[np.ndarray, np.ndarray]) -> Iterator[str]:
    """Twilio's recordings API: the dual WAV behind the account's basic auth."""
    wav = stereo_wav_bytes(*both_sides, 8000)
    expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{TEST_AUTH_TOKEN}".encode()).decode()

    async def recording(request: Request) -> Response:
        if request.headers.get("authorization") != expected:
            return Response(status_code=401)
        if request.query_params.get("RequestedChannels") != "2":
            return Response(status_code=400)
        return Response(wav, media_type="audio/x-wav")

    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{{sid}}.wav"
    with live_server(Starlette(routes=[Route(path, recording)])) as url:
        yield f"{url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings"


def post(phone: Phone, path: str, form: dict[str, str], *, signed: bool = True) -> httpx.Response:
    headers = signed_headers(path, form) if signed else {}
    return httpx.post(phone.url + path, data=form, headers=headers, timeout=30)


def recording_callback(call_sid: str, **fields: str) -> dict[str, str]:
    form = {"AccountSid": ACCOUNT_SID, "CallSid": call_sid, "RecordingSid": RECORDING_SID}
    return {**form, "RecordingStatus": "completed", "RecordingChannels": "2", **fields}


def recording_event(phone: Phone, call_sid: str, within_s: float = 15.0) -> dict:
    """The `call_recording` event, once the background download has written it."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        for event in asyncio.run(phone.store.events(call_sid)):
            if event.kind == "call_recording":
                return event.data
        time.sleep(0.05)
    raise AssertionError(f"no call_recording event for {call_sid} within {within_s} s")


def test_the_first_answer_starts_a_dual_recording_of_the_whole_call(
    gather_phone: Phone,
) -> None:
    call_sid = new_call_sid()
    root = ET.fromstring(post(gather_phone, "/twilio/voice", webhook_form(call_sid)).text)
    recording = root.find("./Start/Recording")
    assert recording is not None, ET.tostring(root)
    assert recording.get("channels") == "dual" and recording.get("track") == "both"
    callback = f"{TEST_PUBLIC_BASE}/twilio/call-recording"
    assert recording.get("recordingStatusCallback") == callback
    assert recording.get("recordingStatusCallbackEvent") == "completed absent"
    assert next(iter(root)).tag == "Start"  # before the greeting: the whole call is on it
    assert root.find("Gather") is not None
    # Twilio retried the webhook: the same call, not a second recording.
    again = ET.fromstring(post(gather_phone, "/twilio/voice", webhook_form(call_sid)).text)
    assert again.find("./Start/Recording") is None and again.find("Gather") is not None


def test_the_completed_recording_lands_as_the_stereo_call_and_plays_on_the_page(
    gather_phone: Phone, twilio_recordings: str, both_sides: tuple[np.ndarray, np.ndarray]
) -> None:
    call_sid = new_call_sid()
    post(gather_phone, "/twilio/voice", webhook_form(call_sid))
    form = recording_callback(
        call_sid, RecordingUrl=f"{twilio_recordings}/{RECORDING_SID}", RecordingDuration="6"
    )
    assert post(gather_phone, "/twilio/call-recording", form, signed=False).status_code == 403
    assert post(gather_phone, "/twilio/call-recording", form).status_code == 204

    event = recording_event(gather_phone, call_sid)
    assert event["RecordingSid"] == RECORDING_SID and event["RecordingChannels"] == "2"
    path = Path(event["path"])
    assert path == gather_phone.settings.calls_log_dir / call_sid / CALL_FILE
    frames, rate = read_wav_int16(path.read_bytes())
    left, right = both_sides
    assert rate == 8000 and frames.shape == (len(left), 2)
    assert np.array_equal(frames[:, 0], left)  # Twilio's channel 1, the caller: left
    assert np.array_equal(frames[:, 1], right)  # channel 2, what Twilio played: Лидия

    page = httpx.get(f"{gather_phone.url}/admin/calls/{call_sid}", auth=ADMIN, timeout=30)
    assert page.status_code == 200
    assert f'src="/admin/calls/{call_sid}/audio/{CALL_FILE}"' in page.text
    assert "слева звонящий, справа Лидия" in page.text
    assert 'id="call-recording-pending"' not in page.text
    audio = httpx.get(f"{gather_phone.url}/admin/calls/{call_sid}/audio/{CALL_FILE}", auth=ADMIN)
    assert audio.status_code == 200 and audio.content == path.read_bytes()


def test_an_absent_or_untrusted_recording_is_noted_and_the_page_says_it_is_not_there(
    gather_phone: Phone,
) -> None:
    absent, untrusted = new_call_sid(), new_call_sid()
    for call_sid in (absent, untrusted):
        post(gather_phone, "/twilio/voice", webhook_form(call_sid))
    form = recording_callback(absent, RecordingStatus="absent", ErrorCode="13617")
    assert post(gather_phone, "/twilio/call-recording", form).status_code == 204
    assert (recording_event(gather_phone, absent))["RecordingStatus"] == "absent"
    # Not a Twilio media host: the account's credentials are never sent there.
    bad = recording_callback(untrusted, RecordingUrl="https://evil.example/Recordings/RE1")
    assert post(gather_phone, "/twilio/call-recording", bad).status_code == 204
    deadline = time.monotonic() + 15
    while not (record := asyncio.run(gather_phone.store.get_call(untrusted))).errors:
        assert time.monotonic() < deadline, "no error recorded for the untrusted recording URL"
        time.sleep(0.05)
    assert "not a Twilio media host" in record.errors[0]
    for call_sid in (absent, untrusted):
        assert not (gather_phone.settings.calls_log_dir / call_sid / CALL_FILE).exists()
        page = httpx.get(f"{gather_phone.url}/admin/calls/{call_sid}", auth=ADMIN, timeout=30)
        assert 'id="call-recording-pending"' in page.text and 'id="whole-call"' not in page.text
