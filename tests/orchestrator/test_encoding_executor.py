"""Encoding Лидия's replies (wav, mp3, opus...) never waits on asyncio's shared default pool:
with every thread of that pool blocked, `/tts`'s and `/v1/audio/speech`'s encoding still ends.

Real RHVoice speech in Russian, real encoders; the shared pool is made one thread wide and
held by a blocked job for the whole test.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from lidia.audio.codecs import StreamEncoder, decode_audio
from lidia.orchestrator.routes.openai_speech import _encoded_stream
from lidia.orchestrator.speech_ops import synthesize_bytes
from lidia.tts.service import VoiceService

GREETING = "Здравствуйте, это Лидия. Чем могу помочь?"


@pytest.fixture
async def shared_pool_blocked() -> AsyncIterator[asyncio.Future[bool]]:
    """asyncio's default pool, one thread wide, busy until the test ends."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
    gate = threading.Event()
    blocker = loop.run_in_executor(None, gate.wait, 60)
    yield blocker
    gate.set()
    await blocker


def seconds_of(data: bytes) -> float:
    return len(decode_audio(data, sample_rate=16_000)) / 16_000


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
async def test_a_whole_reply_is_encoded_while_the_shared_pool_is_busy(
    fallback_voice: VoiceService, shared_pool_blocked: asyncio.Future[bool], fmt: str
) -> None:
    data, content_type, _ = await asyncio.wait_for(
        synthesize_bytes(fallback_voice, GREETING, language="ru", fmt=fmt), 60
    )
    assert content_type.startswith("audio/")
    assert seconds_of(data) > 1.0  # the whole greeting, not a stub
    assert not shared_pool_blocked.done()  # the shared pool was busy the whole time


async def test_a_streamed_reply_is_encoded_while_the_shared_pool_is_busy(
    fallback_voice: VoiceService, shared_pool_blocked: asyncio.Future[bool]
) -> None:
    engine = fallback_voice.engine_for(None)
    pieces = fallback_voice.stream(GREETING, language="ru")
    first = await anext(pieces, None)
    encoder = StreamEncoder("mp3", engine.sample_rate)
    done: list[bool] = []

    async def collect() -> bytes:
        stream = _encoded_stream(first, pieces, encoder, on_done=lambda: done.append(True))
        return b"".join([chunk async for chunk in stream])

    data = await asyncio.wait_for(collect(), 60)
    assert done == [True]
    assert seconds_of(data) > 1.0
    assert not shared_pool_blocked.done()
