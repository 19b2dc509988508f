"""Gather mode's `<Play>` audio is shared by the phone replicas: a clip one replica made is
served by another (Twilio's `GET /audio/{id}` may reach either behind the load balancer).

Two phone apps under uvicorn on 127.0.0.1 share one `AUDIO_CACHE_DIR`; Лидия's Russian
greeting is spoken by espeak-ng (the orchestrator is down, so the prompts fall back to it).
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from lidia.phone.audio_cache import AudioCache
from tests.phone.test_media_stream import Phone, new_call_sid, serve_phone
from tests.support.twilio_client import TEST_PUBLIC_BASE, signed_headers, webhook_form

DOWN_ORCHESTRATOR = "http://127.0.0.1:9"
GREETING = "Здравствуйте! Вы позвонили в нашу компанию. Чем могу помочь?"


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Phone, Phone]]:
    shared = tmp_path_factory.mktemp("audio-cache")
    with ExitStack() as stack:
        phones = [
            stack.enter_context(
                contextmanager(serve_phone)(
                    tmp_path_factory.mktemp(f"replica-{n}"),
                    DOWN_ORCHESTRATOR,
                    phone_mode="gather",
                    greeting_text=GREETING,
                    audio_cache_dir=shared,
                )
            )
            for n in (1, 2)
        ]
        yield phones[0], phones[1]


def answer(phone: Phone, call_sid: str) -> str:
    form = webhook_form(call_sid)
    response = httpx.post(
        f"{phone.url}/twilio/voice",
        data=form,
        headers=signed_headers("/twilio/voice", form),
        timeout=30,
    )
    assert response.status_code == 200
    return response.text


def play_path(twiml: str) -> str:
    url = ET.fromstring(twiml).find(".//Play").text  # type: ignore[union-attr]
    assert url is not None and url.startswith(f"{TEST_PUBLIC_BASE}/audio/")
    return url.removeprefix(TEST_PUBLIC_BASE)


def test_a_clip_made_by_one_replica_is_served_by_the_other(replicas: tuple[Phone, Phone]) -> None:
    made_by, other = replicas
    path = play_path(answer(made_by, new_call_sid()))
    assert re.fullmatch(r"/audio/[A-Za-z0-9_-]{32}", path)  # 192 random bits
    here = httpx.get(f"{made_by.url}{path}", timeout=10)
    there = httpx.get(f"{other.url}{path}", timeout=10)
    assert here.status_code == there.status_code == 200
    assert there.headers["content-type"] == "audio/wav"
    assert there.headers["cache-control"] == "no-store"
    assert there.content == here.content
    samples, rate = sf.read(io.BytesIO(there.content), dtype="float32")
    assert len(samples) / rate > 1.5 and float(np.abs(samples).max()) > 0.05  # the greeting


def test_unknown_or_malformed_ids_are_404_on_every_replica(replicas: tuple[Phone, Phone]) -> None:
    for phone in replicas:
        for audio_id in ("A" * 32, "..%2Fcalls.db", "x" * 31, "calls.db"):
            assert httpx.get(f"{phone.url}/audio/{audio_id}", timeout=10).status_code == 404


def test_expired_clips_are_not_served_and_their_files_are_purged(tmp_path: Path) -> None:
    made_by = AudioCache(60, tmp_path)
    audio_id = made_by.put(b"RIFF-old")
    made_by.flush()
    (clip,) = tmp_path.iterdir()
    old = time.time() - 120
    os.utime(clip, (old, old))  # made two minutes ago: past its TTL
    assert asyncio.run(AudioCache(60, tmp_path).fetch(audio_id)) is None
    fresh = AudioCache(60, tmp_path)
    new_id = fresh.put(b"RIFF-new")  # a replica's first write purges what has expired
    fresh.flush()
    assert [p.name for p in tmp_path.iterdir()] == [f"{new_id}.wav"]
    assert asyncio.run(AudioCache(60, tmp_path).fetch(new_id)) == (b"RIFF-new", "audio/wav")


def test_a_clip_whose_file_lands_a_moment_later_is_waited_for(tmp_path: Path) -> None:
    audio_id = "b" * 32

    async def late_write_and_fetch() -> tuple[bytes, str] | None:
        async def late_write() -> None:
            await asyncio.sleep(0.2)
            await asyncio.to_thread((tmp_path / f"{audio_id}.wav").write_bytes, b"RIFF-late")

        writing = asyncio.create_task(late_write())
        try:
            return await AudioCache(60, tmp_path).fetch(audio_id)
        finally:
            await writing

    assert asyncio.run(late_write_and_fetch()) == (b"RIFF-late", "audio/wav")


def test_a_disk_that_refuses_the_clip_leaves_it_served_from_memory(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_bytes(b"")
    cache = AudioCache(60, not_a_folder)
    audio_id = cache.put(b"RIFF-kept")
    cache.flush()
    assert cache.disk_error is not None
    # The replica that made it still serves it.
    assert asyncio.run(cache.fetch(audio_id)) == (b"RIFF-kept", "audio/wav")
