"""Russian calls through Asterisk, end to end over real sockets: the scripted Asterisk peer
(chan_websocket and AudioSocket, `tests.support.asterisk_peer`) carries RHVoice Russian as
8 kHz slin to the phone service, in front of an orchestrator that hears it with multilingual
Whisper base and answers with the fake LLM. What a Twilio call gets, an Asterisk call gets:
greeting, turn-taking, barge-in, DTMF, transfer, hang-up, the record, the recording, both
transcripts with offsets, the owner's notice, and the dashboard.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import httpx
import numpy as np
import pytest

from lidia.audio.codecs import float_to_int16, rms
from lidia.phone.call_store import CallRecord
from lidia.phone.ids import asterisk_call_id
from lidia.tts.engines.rhvoice import RHVoiceEngine
from tests.support.asterisk_peer import uri_encode
from tests.support.asterisk_phone import CALLER, COMPANY, AsteriskPhone, serve_asterisk_phone
from tests.support.fake_llm_servers import FakeOpenAI, Script
from tests.support.fake_notify_servers import FakeTelegram, serve_fake
from tests.support.russian_phone import llm_replying
from tests.support.russian_speech import BOOKING, BOOKING_WORDS, words_of
from tests.support.turn_speech import BOOKING_THURSDAY, INTERRUPTION, spoken_8k, with_pause

pytestmark = pytest.mark.slow

REPLY = "Конечно, запишу вас. На какое время вам удобно? Утром или после обеда?"
TRANSFER_TO = "+74950000001"
ADMIN = ("admin", "админ-пароль")
INTERRUPTION_BOUND_S = 10.0  # as Twilio's `clear` in test_natural_conversation
_calls = iter(range(1, 10_000))


@pytest.fixture(scope="module")
def russian_orchestrator_settings() -> dict[str, object]:
    return {"llm_timeout_s": 30.0, "transfer_number": TRANSFER_TO}  # transfer_call offered


@pytest.fixture(scope="module")
def telegram() -> Iterator[tuple[FakeTelegram, str]]:
    fake = FakeTelegram()
    with serve_fake(fake) as url:
        yield fake, url


@pytest.fixture(scope="module")
def phone(
    tmp_path_factory: pytest.TempPathFactory,
    russian_orchestrator_url: str,
    telegram: tuple[FakeTelegram, str],
) -> Iterator[AsteriskPhone]:
    root = tmp_path_factory.mktemp("phone-asterisk-ru")
    with serve_asterisk_phone(
        root,
        russian_orchestrator_url,
        stt_language="ru",
        phone_turn_timeout_s=60.0,
        phone_first_audio_deadline_s=10.0,
        filler_delay_s=3.0,
        transfer_number=TRANSFER_TO,
        telegram_bot_token=FakeTelegram.token,
        telegram_chat_id="-1001234",
        telegram_api_base_url=telegram[1],
        admin_username=ADMIN[0],
        admin_password=ADMIN[1],
    ) as phone:
        yield phone


@pytest.fixture
def llm(fake_openai: FakeOpenAI) -> Iterator[FakeOpenAI]:
    yield from llm_replying(fake_openai, REPLY)


@pytest.fixture(scope="module")
def slin(rhvoice: RHVoiceEngine) -> Callable[[str], bytes]:
    """Russian said by the caller, as Asterisk's slin (8 kHz s16le) off a phone line."""
    return lambda text: float_to_int16(spoken_8k(rhvoice, text)).tobytes()


def unique_id() -> str:
    return f"1765100{next(_calls):03d}.{next(_calls)}"


def level(pcm: bytes) -> float:
    return rms(np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0)


async def event_kinds(phone: AsteriskPhone, call: str) -> list[str]:
    return [e.kind for e in await phone.store.events(asterisk_call_id(call) or "")]


async def test_a_russian_call_over_chan_websocket_is_one_turn_recorded_and_reported(
    phone: AsteriskPhone,
    llm: FakeOpenAI,
    rhvoice: RHVoiceEngine,
    telegram: tuple[FakeTelegram, str],
) -> None:
    paused = float_to_int16(with_pause(spoken_8k(rhvoice, BOOKING_THURSDAY), 0.5)).tobytes()
    asked = len(llm.requests)
    call = unique_id()
    async with phone.websocket_peer(call) as peer:
        await peer.wait_for_mark("greeting-end")
        assert level(peer.played_audio()) > 0.01
        await peer.say(paused + bytes(2 * 8000 * 3 // 2))  # a breath mid-sentence, then 1.5 s
        await peer.wait_for_mark("turn1-end", within_s=90)
        assert not peer.command_times("FLUSH_MEDIA")  # one turn, never interrupted
        answered = len(llm.requests) - asked  # before the hang-up's message extraction
        await peer.hangup()

    record = await phone.closed_record(call)
    assert record.carrier == "asterisk" and record.outcome == "conversation"
    turns = await phone.store.turns(record.call_sid)
    assert len(turns) == 1 and answered == 1, [t.transcript for t in turns]
    # Both halves of the sentence in one turn (Whisper base sometimes hears «подписаться»).
    assert words_of(turns[0].transcript or "") >= {"хочу", "четверг"}, turns[0].transcript
    caller_at, reply_at = turns[0].caller_offset_s, turns[0].reply_offset_s
    assert turns[0].reply == REPLY and caller_at is not None and reply_at is not None
    assert reply_at > caller_at  # both sides on the call's clock
    assert (phone.settings.calls_log_dir / record.call_sid / "call.wav").stat().st_size > 1000

    deadline = time.monotonic() + 30
    while not telegram[0].requests:  # the owner's notice, as after Twilio's final status
        assert time.monotonic() < deadline, "no notice reached the owner"
        await asyncio.sleep(0.1)
    assert CALLER in telegram[0].requests[-1].body.decode()

    async with httpx.AsyncClient(base_url=phone.url, auth=ADMIN) as admin:
        page = await admin.get(f"/admin/calls/{record.call_sid}")
        listed = await admin.get("/admin")
    assert page.status_code == 200 and "Asterisk (chan_websocket)" in page.text
    assert 'class="carrier">Asterisk (chan_websocket)' in listed.text


async def test_a_backchannel_does_not_flush_and_an_interruption_does(
    phone: AsteriskPhone, llm: FakeOpenAI, slin: Callable[[str], bytes]
) -> None:
    call = unique_id()
    async with phone.websocket_peer(call) as peer:
        await peer.wait_for_mark("greeting-end")
        ended = await peer.say(slin(BOOKING) + bytes(16000))
        await peer.wait_for(lambda: peer.first_audio_after(ended) is not None, within_s=90)
        await peer.say(slin("Угу.") + bytes(16000))  # Лидия's reply is still playing
        deadline = time.monotonic() + 30
        while "backchannel" not in await event_kinds(phone, call):
            assert time.monotonic() < deadline, "«угу» was not judged a backchannel"
            await asyncio.sleep(0.1)
        assert not peer.command_times("FLUSH_MEDIA")

        started = time.perf_counter()
        await peer.say(slin(INTERRUPTION) + bytes(16000 * 5 // 2))
        await peer.wait_for(lambda: bool(peer.command_times("FLUSH_MEDIA")), within_s=30)
        assert peer.command_times("FLUSH_MEDIA")[0] - started <= INTERRUPTION_BOUND_S
        await peer.wait_for_mark("turn2-end", within_s=90)
        await peer.hangup()

    record = await phone.closed_record(call)
    turns = await phone.store.turns(record.call_sid)
    assert turns[0].barge_in and "barge_in" in await event_kinds(phone, call)
    assert words_of(turns[1].transcript or "") >= {"подождите", "субботу"}, turns[1].transcript


async def test_dtmf_0_hangs_up_the_leg_then_next_transfers_and_an_unanswered_one_comes_back(
    phone: AsteriskPhone, llm: FakeOpenAI, slin: Callable[[str], bytes]
) -> None:
    call = unique_id()
    async with phone.websocket_peer(call) as peer:
        await peer.wait_for_mark("greeting-end")
        await peer.dtmf("0")
        await peer.wait_for_mark("transfer_notice-end", within_s=30)
        assert await peer.closed(within_s=10) and peer.ended == "hangup_command"
    notice = peer.played_audio(since=peer.event_times("MEDIA_MARK_PROCESSED")[0])
    assert level(notice) > 0.01  # Лидия said the notice before the leg ended
    assert await phone.next_step(call) == f"transfer:{TRANSFER_TO}"
    record = await phone.closed_record(call)
    assert record.outcome == "transferred" and record.dtmf == "0"

    # Nobody answered: the dialplan dials Лидия again with the Dial's DIALSTATUS.
    params = {"call": call, "from": uri_encode(CALLER), "to": uri_encode(COMPANY)}
    back = phone.websocket_peer(call, params={**params, "dialstatus": "NOANSWER"})
    async with back:
        await back.wait_for_mark("transfer_unanswered-end", within_s=30)
        await back.say(slin("Перезвоните мне, пожалуйста, после обеда.") + bytes(16000))
        await back.hangup()
    record = await phone.closed_record(call, outcome="message")
    assert record.message_audio_path
    assert "transfer_result" in await event_kinds(phone, call)
    assert await phone.next_step(call) == f"transfer:{TRANSFER_TO}"  # the last decision


async def test_the_transfer_call_tool_ends_the_leg_once_its_sentence_has_played(
    phone: AsteriskPhone, llm: FakeOpenAI, slin: Callable[[str], bytes]
) -> None:
    llm.script = Script(
        text="Соединяю вас с менеджером.", tool_calls=[{"name": "transfer_call", "arguments": {}}]
    )
    call = unique_id()
    async with phone.websocket_peer(call) as peer:
        await peer.wait_for_mark("greeting-end")
        await peer.say(slin("Соедините меня, пожалуйста, с менеджером.") + bytes(16000))
        await peer.wait_for_mark("turn1-end", within_s=90)
        assert await peer.closed(within_s=30) and peer.ended == "hangup_command"
    assert peer.command_times("HANGUP")[0] >= peer.event_times("MEDIA_MARK_PROCESSED")[-1]
    assert await phone.next_step(call) == f"transfer:{TRANSFER_TO}"
    assert (await phone.closed_record(call)).outcome == "transferred"


GOODBYE = "Спасибо, это всё, до свидания."
MESSAGE = {"name": "Анна", "callback_number": "+79035556677", "reason": "перенести запись"}


def goodbye_script() -> Script:
    """Лидия's goodbye, as in Twilio's end_call test (`tests/phone/test_transfer.py`)."""
    return Script(
        text="Спасибо, Анна, я всё передам. До свидания!",
        tool_calls=[
            {"name": "take_message", "arguments": MESSAGE},
            {"name": "end_call", "arguments": {}},
        ],
    )


async def extracted(phone: AsteriskPhone, call: str) -> CallRecord:
    """The closed record once message extraction (after the call) has written its summary."""
    deadline = time.monotonic() + 20
    while True:
        record = await phone.closed_record(call)
        if record.message_summary:
            return record
        assert time.monotonic() < deadline, "the message was not extracted within 20 s"
        await asyncio.sleep(0.05)


async def assert_ended_by_lidia_as_on_twilio(phone: AsteriskPhone, call: str) -> None:
    """`next` hangs up; the record is what Twilio's end_call leaves: a conversation, completed,
    her message kept through extraction, and a hang-up by Лидия in the events."""
    assert await phone.next_step(call) == "hangup"
    record = await extracted(phone, call)
    assert (record.outcome, record.status) == ("conversation", "completed")
    assert (record.message_name, record.message_phone, record.message_reason) == (
        MESSAGE["name"],
        MESSAGE["callback_number"],
        MESSAGE["reason"],
    )
    assert record.message_left and not record.message_audio_path
    events = await phone.store.events(record.call_sid)
    assert [e.data for e in events if e.kind == "hangup"] == [{"by": "lidia"}]
    assert [e.data for e in events if e.kind == "next_step"] == [{"next": "hangup"}]
    assert "transfer" not in {e.kind for e in events}
    # Her own hang-up closes the call while the goodbye turn ends: not a caller's barge-in.
    assert [t.barge_in for t in await phone.store.turns(record.call_sid)] == [False]


async def test_the_end_call_tool_hangs_up_the_leg_once_the_goodbye_has_played(
    phone: AsteriskPhone, llm: FakeOpenAI, slin: Callable[[str], bytes]
) -> None:
    llm.script = goodbye_script()
    call = unique_id()
    async with phone.websocket_peer(call) as peer:
        await peer.wait_for_mark("greeting-end")
        ended = await peer.say(slin(GOODBYE) + bytes(16000))
        await peer.wait_for_mark("turn1-end", within_s=90)
        assert await peer.closed(within_s=30) and peer.ended == "hangup_command"
    (hangup_at,) = peer.command_times("HANGUP")
    assert hangup_at >= peer.event_times("MEDIA_MARK_PROCESSED")[-1]  # after turn1-end
    assert level(peer.played_audio(since=ended)) > 0.01  # the goodbye was heard first
    assert not peer.command_times("FLUSH_MEDIA")
    await assert_ended_by_lidia_as_on_twilio(phone, call)


async def test_the_end_call_tool_ends_an_audiosocket_leg_with_a_hangup_frame(
    phone: AsteriskPhone, llm: FakeOpenAI, slin: Callable[[str], bytes]
) -> None:
    llm.script = goodbye_script()
    peer = await phone.audiosocket_peer()
    async with peer:
        await peer.wait_for(lambda: level(peer.audio()) > 0.01, within_s=30)  # the greeting
        last = lambda: b"".join(s.data for s in peer.received_audio[-25:])  # noqa: E731
        await peer.wait_for(lambda: level(last()) == 0, within_s=30)  # …played to its end
        ended = await peer.say(slin(GOODBYE) + bytes(16000))
        assert await peer.closed(within_s=90) and peer.ended == "app_hangup"
        assert not peer.protocol_errors  # only audio, then the 0x00 frame
    goodbye = b"".join(s.data for s in peer.received_audio if s.at > ended)
    assert level(goodbye) > 0.01 and len(goodbye) > 320 * 50  # paced out before the 0x00
    assert peer.received[-1].data == (0x00, b"")
    await assert_ended_by_lidia_as_on_twilio(phone, str(peer.call_uuid))


async def test_a_russian_call_over_audiosocket_is_heard_answered_and_recorded(
    phone: AsteriskPhone, llm: FakeOpenAI, slin: Callable[[str], bytes]
) -> None:
    peer = await phone.audiosocket_peer()
    async with peer:
        await peer.wait_for(lambda: level(peer.audio()) > 0.01, within_s=30)  # the greeting
        last = lambda: b"".join(s.data for s in peer.received_audio[-25:])  # noqa: E731
        await peer.wait_for(lambda: level(last()) == 0, within_s=30)  # …played to its end
        ended = await peer.say(slin(BOOKING) + bytes(16000))
        after = lambda: b"".join(s.data for s in peer.received_audio if s.at > ended)  # noqa: E731
        await peer.wait_for(lambda: level(after()) > 0.01, within_s=90)  # the reply, paced
        await peer.wait_for(lambda: len(after()) > 320 * 50 * 3, within_s=30)
        assert peer.ended is None and not peer.protocol_errors
        await peer.hangup()

    record = await phone.closed_record(str(peer.call_uuid))
    assert record.carrier == "audiosocket" and record.from_number == CALLER
    turns = await phone.store.turns(record.call_sid)
    assert turns and words_of(turns[0].transcript or "") >= BOOKING_WORDS, turns
    assert turns[0].reply == REPLY
    assert (phone.settings.calls_log_dir / record.call_sid / "call.wav").exists()
