# ruff: noqa: F811  (pytest fixtures imported from test_media_stream share their names)
"""One Media Stream per call: a replayed, second or unbound `start` changes nothing.

Twilio signs the WebSocket upgrade over the bare `wss://` URL, the same for every call, so
these clients all carry a *valid* signature: what refuses them is the call's one-time
`streamToken` and its state. Real sockets: the scripted Twilio client ↔ the phone service
under uvicorn ↔ the real orchestrator (RHVoice greeting).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import pytest

from lidia.phone.carriers.twilio.wire import MalformedFrame, parse_frame
from lidia.phone.stream_tokens import TOKEN_PARAMETER
from tests.phone.test_media_stream import (  # noqa: F401  (module fixtures reused)
    Phone,
    answer_call,
    client_for,
    greeted_call,
    new_call_sid,
    orchestrator_url,
    phone,
    start_call,
)
from tests.support.twilio_client import silence_mulaw, stream_parameters


async def snapshot(phone: Phone, call_sid: str) -> dict[str, Any]:
    """Everything a stream could touch: the record, its events and turns, its files."""
    record = await phone.store.get_call(call_sid)
    assert record is not None
    events = [(e.kind, e.data) for e in await phone.store.events(call_sid)]
    turns = [dataclasses.asdict(t) for t in await phone.store.turns(call_sid)]
    call_dir = Path(phone.settings.calls_log_dir) / call_sid

    def files() -> dict[str, str]:
        if not call_dir.is_dir():
            return {}
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in call_dir.iterdir()}

    record_fields = dataclasses.asdict(record)
    return {
        "record": record_fields,
        "events": events,
        "turns": turns,
        "files": await asyncio.to_thread(files),
    }


async def assert_refused(phone: Phone, call_sid: str, parameters: dict[str, str]) -> None:
    async with client_for(phone, call_sid, parameters=parameters) as client:
        await client.connected()
        await client.start()
        assert await client.closed()
    assert client.close_code == 1008
    assert not client.media_payloads()  # no greeting played


async def test_a_replayed_start_for_a_finished_call_changes_nothing(phone: Phone) -> None:
    async with greeted_call(phone) as (call_sid, client):
        parameters = dict(client.parameters)
        await client.media(silence_mulaw(0.5))
        await client.stop()
        assert await client.closed()
    before = await snapshot(phone, call_sid)
    assert before["record"]["status"] == "completed" and "caller.wav" in before["files"]

    await assert_refused(phone, call_sid, parameters)  # the very frames of the real call
    assert await snapshot(phone, call_sid) == before


async def test_a_second_start_for_a_live_call_is_refused(phone: Phone) -> None:
    async with greeted_call(phone) as (call_sid, client):
        before = await snapshot(phone, call_sid)
        await assert_refused(phone, call_sid, dict(client.parameters))
        assert await snapshot(phone, call_sid) == before
        await client.media(silence_mulaw(0.2))  # the first stream is still served
        await client.stop()
        assert await client.closed()
    record = await phone.store.get_call(call_sid)
    assert record is not None and record.outcome == "no_speech"


async def test_a_wrong_or_missing_token_is_refused_and_the_right_one_still_works(
    phone: Phone,
) -> None:
    call_sid = new_call_sid()
    parameters = stream_parameters(await answer_call(phone, call_sid))
    before = await snapshot(phone, call_sid)
    assert before["files"] == {}

    await assert_refused(phone, call_sid, {**parameters, TOKEN_PARAMETER: "x" * 43})
    without = {k: v for k, v in parameters.items() if k != TOKEN_PARAMETER}
    await assert_refused(phone, call_sid, without)
    other_call = new_call_sid()  # a token minted for another call does not fit this one
    other = stream_parameters(await answer_call(phone, other_call))
    await assert_refused(phone, call_sid, {**parameters, TOKEN_PARAMETER: other[TOKEN_PARAMETER]})
    assert await snapshot(phone, call_sid) == before

    async with client_for(phone, call_sid, parameters=parameters) as client:
        await start_call(client)  # the greeting plays: refusals did not use the token up
        await client.stop()
        assert await client.closed()
    events = [e.kind for e in await phone.store.events(call_sid)]
    assert events.count("stream_start") == 1
    logged = [e.data for e in await phone.store.events(call_sid) if e.kind == "stream_start"]
    assert TOKEN_PARAMETER not in logged[0]["customParameters"]  # the token is not logged


def test_an_over_deep_frame_under_the_size_bound_is_malformed_not_a_crash() -> None:
    deep = '{"event": "media", "media": ' + "[" * 30_000 + "]" * 30_000 + "}"
    for text in (deep, '{"event": "media"' + " " * 70_000 + "}"):
        with pytest.raises(MalformedFrame, match="unreadable"):
            parse_frame(text)
