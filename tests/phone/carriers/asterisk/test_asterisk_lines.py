"""Asterisk's two wires into the phone service, over real sockets on 127.0.0.1, with the scripted
Asterisk peer (`tests.support.asterisk_peer`): chan_websocket's handshake, greeting, marks and
hang-up; AudioSocket's registration, 20 ms pacing and silence keep-alive; the dialplan's `next`;
capacity shared across carriers. No orchestrator runs here (the prompts fall back to espeak-ng
and nobody speaks); the Russian conversations are in `test_asterisk_russian_call.py`.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import websockets

from lidia.audio.codecs import rms
from lidia.audio.stereo import read_wav_int16
from lidia.phone.app import create_app
from lidia.phone.ids import asterisk_call_id
from tests.conftest import make_settings
from tests.support.asterisk_peer import AudioSocketPeer, ChanWebSocketPeer
from tests.support.asterisk_phone import (
    CALLER,
    COMPANY,
    PASSWORD,
    USERNAME,
    AsteriskPhone,
    serve_asterisk_phone,
)

ORCHESTRATOR_DOWN = "http://127.0.0.1:9"  # nothing listens: prompts come from espeak-ng
TRANSFER_TO = "+74950000002"
_calls = itertools.count(1)


def unique_id() -> str:
    """A caller channel's ${UNIQUEID}, new for each call."""
    return f"1765000{next(_calls):03d}.{next(_calls)}"


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsteriskPhone]:
    root = tmp_path_factory.mktemp("phone-asterisk")
    with serve_asterisk_phone(
        root, ORCHESTRATOR_DOWN, max_concurrent_calls=1, transfer_number=TRANSFER_TO
    ) as phone:
        yield phone


def speech_level(pcm: bytes) -> float:
    return rms(np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0)


async def test_chan_websocket_greets_and_a_caller_hang_up_closes_the_record(
    phone: AsteriskPhone,
) -> None:
    call = unique_id()
    async with phone.websocket_peer(call) as peer:
        assert peer.subprotocol == "media"
        await peer.wait_for_mark("greeting-end")
        assert speech_level(peer.played_audio()) > 0.01  # the greeting, played by "Asterisk"
        assert all(len(s.data) % 320 == 0 for s in peer.received_audio)  # whole frames only
        await asyncio.sleep(0.5)
        await peer.hangup()  # the socket closes; no frame says why

    record = await phone.closed_record(call)
    assert record.call_sid == asterisk_call_id(call) == "AST-" + call.replace(".", "_")
    assert (record.carrier, record.from_number, record.to_number) == ("asterisk", CALLER, COMPANY)
    assert record.outcome == "no_speech" and record.status == "completed"
    call_dir = phone.settings.calls_log_dir / record.call_sid
    frames, rate = read_wav_int16((call_dir / "call.wav").read_bytes())
    assert rate == 8000 and frames.shape[1] == 2  # the caller left, Лидия right
    assert speech_level(frames[:, 1].tobytes()) > 0.01
    events = {e.kind: e.data for e in await phone.store.events(record.call_sid)}
    assert events["stream_start"]["carrier"] == "asterisk"
    assert events["prompt"]["name"] == "greeting" and 0 <= events["prompt"]["offset_s"] < 2
    assert await phone.next_step(call) == "hangup"


async def test_wrong_or_missing_credentials_are_refused(phone: AsteriskPhone) -> None:
    for password in ("wrong", None):
        peer = ChanWebSocketPeer(phone.media_uri, USERNAME, password, call=unique_id())
        with pytest.raises(websockets.InvalidStatus) as refused:
            await peer.__aenter__()
        assert refused.value.response.status_code == 403
    response = await phone.http("GET", "/asterisk/calls/1.2/next", auth=(USERNAME, "wrong"))
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    response = await phone.http("POST", f"/asterisk/calls/{uuid.uuid4()}", auth=None)
    assert response.status_code == 401


async def test_the_dialplan_gets_clear_errors(phone: AsteriskPhone) -> None:
    response = await phone.http("POST", "/asterisk/calls/..%2Fetc")
    assert response.status_code in (404, 422)
    response = await phone.http("POST", "/asterisk/calls/a_b")  # `_` is not in a UNIQUEID
    assert response.status_code == 422 and response.json()["error"]["param"] == "call"
    response = await phone.http("GET", "/asterisk/calls/1765999999.1/next")
    assert response.status_code == 404 and response.json()["error"]["param"] == "call"


async def test_audiosocket_paces_20_ms_frames_and_never_goes_silent(
    phone: AsteriskPhone,
) -> None:
    peer = await phone.audiosocket_peer()
    async with peer:
        await asyncio.sleep(10.5)
        assert peer.ended is None  # 2 s without traffic would have hung the call up
        frames = peer.received_audio
        assert all(len(s.data) == 320 for s in frames)
        start = frames[0].at
        window = [s.at - start for s in frames if s.at - start <= 10.0]
        late_ms = (np.array(window) - 0.020 * np.arange(len(window))) * 1000
        offsets_ms = np.abs(late_ms - np.median(late_ms))
        # No drift: frame n arrives at start + n × 20 ms, to the end of the 10 s.
        assert len(window) == pytest.approx(501, abs=2) and offsets_ms[-1] <= 20
        # Each frame within ±2 ms of its time. Both ends share one 2-core box with other test
        # runs (and one GIL), so a few frames are held up by the box, not by the pacing: 90 %.
        assert np.percentile(offsets_ms, 90) <= 2.0, np.percentile(offsets_ms, [50, 90, 99])
        assert max(peer.frame_gaps_ms()) < 250  # the keep-alive: never near 2 s of silence
        greeting = b"".join(s.data for s in frames[:100])
        assert speech_level(greeting) > 0.01  # the greeting first, then silence
        await peer.hangup()  # Asterisk closes the socket when the caller hangs up

    record = await phone.closed_record(str(peer.call_uuid))
    assert record.carrier == "audiosocket" and record.from_number == CALLER
    assert record.outcome == "no_speech"
    assert await phone.next_step(str(peer.call_uuid)) == "hangup"


async def test_audiosocket_dtmf_0_ends_the_leg_for_a_transfer_and_an_unanswered_one_comes_back(
    phone: AsteriskPhone,
) -> None:
    peer = await phone.audiosocket_peer()
    async with peer:
        await peer.wait_for(lambda: len(peer.received_audio) > 25)
        await peer.dtmf("0")
        assert await peer.closed(within_s=30) and peer.ended == "app_hangup"
        assert not peer.protocol_errors  # only audio and the hang-up frame were sent
    call = str(peer.call_uuid)
    assert await phone.next_step(call) == f"transfer:{TRANSFER_TO}"
    first_leg = await phone.closed_record(call)
    assert first_leg.outcome == "transferred"
    recording = phone.settings.calls_log_dir / first_leg.call_sid / "call.wav"
    first_recording = recording.read_bytes()

    # Nobody answered: the dialplan registers the call again with DIALSTATUS, and reconnects.
    response = await phone.http(
        "POST", f"/asterisk/calls/{call}", params={"from": CALLER, "dialstatus": "BUSY"}
    )
    assert response.text == "ok"
    back = AudioSocketPeer("127.0.0.1", phone.audiosocket_port, call_uuid=peer.call_uuid)
    async with back:
        await back.wait_for(lambda: speech_level(back.audio()) > 0.01, within_s=30)
        await asyncio.sleep(1.0)  # the caller's message
        await back.hangup()
    record = await phone.closed_record(call, outcome="message")
    assert record.message_audio_path
    assert recording.read_bytes() == first_recording  # the conversation's recording is kept
    kinds = [e.kind for e in await phone.store.events(record.call_sid)]
    assert "transfer_result" in kinds and "prompt" in kinds


async def test_an_unregistered_audiosocket_call_is_closed(phone: AsteriskPhone) -> None:
    peer = AudioSocketPeer("127.0.0.1", phone.audiosocket_port)
    async with peer:
        assert await peer.closed(within_s=5)
        assert peer.ended == "app_closed" and not peer.received_audio
    call_id = asterisk_call_id(str(peer.call_uuid))
    assert call_id is not None and await phone.store.get_call(call_id) is None


async def test_past_capacity_a_call_on_either_carrier_hears_the_busy_prompt(
    phone: AsteriskPhone,
) -> None:
    first = await phone.audiosocket_peer()  # MAX_CONCURRENT_CALLS=1: this one takes the line
    async with first:
        await first.wait_for(lambda: len(first.received_audio) > 50)
        call = unique_id()
        async with phone.websocket_peer(call) as second:
            await second.wait_for_mark("busy-end")
            assert speech_level(second.played_audio()) > 0.01
            await second.hangup()
        await first.hangup()
    busy = await phone.closed_record(call)
    assert busy.outcome == "message" and busy.message_audio_path
    kinds = [e.kind for e in await phone.store.events(busy.call_sid)]
    assert "over_capacity" in kinds
    assert (await phone.closed_record(str(first.call_uuid))).outcome == "no_speech"


def test_the_asterisk_endpoints_are_off_without_credentials(tmp_path: Path) -> None:
    paths = set(create_app(make_settings(tmp_path)).openapi()["paths"])
    assert "/twilio/voice" in paths and not {p for p in paths if p.startswith("/asterisk")}
    on = create_app(
        make_settings(tmp_path, asterisk_ws_username=USERNAME, asterisk_ws_password=PASSWORD)
    )
    assert "/asterisk/calls/{call}/next" in on.openapi()["paths"]


async def test_a_reply_longer_than_asterisks_queue_is_played_whole(tmp_path: Path) -> None:
    # Asterisk queues 1000 frames (20 s) at most and ignores audio sent beyond that; its
    # MEDIA_XOFF (at 900) comes too late for audio sent at synthesis speed. A greeting over
    # 20 s must be held back by the line, not lost.
    greeting = " ".join(["Здравствуйте! Вы позвонили в нашу компанию, спасибо за звонок."] * 6)
    with serve_asterisk_phone(tmp_path, ORCHESTRATOR_DOWN, greeting_text=greeting) as phone:
        async with phone.websocket_peer(unique_id()) as peer:
            await peer.wait_for_mark("greeting-end", within_s=90)
            sent = sum(len(s.data) for s in peer.received_audio)
            assert len(peer.played_audio()) == sent > 1000 * 320  # all of it, in order
            assert peer.dropped_bytes == 0 and not peer.events("MEDIA_XOFF")
            await peer.hangup()


class Slin16Peer(ChanWebSocketPeer):
    """Asterisk dialling with `c(slin16)`: MEDIA_START says so, 640-byte frames."""

    async def _event(self, name: str, **fields: object) -> None:
        if name == "MEDIA_START":
            fields = {**fields, "format": "slin16", "optimal_frame_size": 640}
        await super()._event(name, **fields)


async def test_chan_websocket_at_16_khz_gets_whole_16_khz_frames(phone: AsteriskPhone) -> None:
    call = unique_id()
    peer = Slin16Peer(
        phone.media_uri, USERNAME, PASSWORD, call=call, from_number=CALLER, to_number=COMPANY
    )
    async with peer:
        await peer.wait_for_mark("greeting-end")
        assert all(len(s.data) % 640 == 0 for s in peer.received_audio)
        pcm = np.frombuffer(peer.played_audio(), dtype="<i2").astype(np.float32) / 32768
        spectrum = np.abs(np.fft.rfft(pcm))
        freqs = np.fft.rfftfreq(len(pcm), 1 / 16000)
        # Speech at its own pitch (8 kHz audio sent as 16 kHz would sit an octave up): the
        # band above the telephone's 4 kHz holds only the quick resampler's leftovers.
        assert rms(pcm) > 0.01 and spectrum[freqs < 3800].sum() > 10 * spectrum[freqs > 4200].sum()
        await peer.hangup()
    events = {e.kind: e.data for e in await phone.store.events(asterisk_call_id(call) or "")}
    assert events["stream_start"]["format"] == "slin16"
