"""More than one box: two orchestrator processes behind nginx (`deploy/nginx/lidia.conf`,
least_conn), one killed mid-call; the call goes on on the other with its history from Redis,
and its record in PostgreSQL is complete.

Everything is real and on 127.0.0.1: `python orchestrator.py` twice (multilingual Whisper base,
RHVoice, the fake OpenAI-compatible LLM, sessions in the local Redis under a unique prefix),
nginx from Debian running the shipped config, the phone service (in process, its call store in
a throw-away PostgreSQL schema) also behind that nginx, and a scripted Twilio Media Streams
call speaking RHVoice Russian through the WebSocket proxy.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import redis

from lidia.phone.app import create_app as create_phone
from lidia.phone.call_store import SqlCallStore
from lidia.tts.engines.rhvoice import RHVoiceEngine
from tests.phone.test_media_stream import Phone, answer_call, phone_settings, start_call
from tests.support.admin_seed import PG_DSN, PG_URL
from tests.support.fake_llm_servers import FakeOpenAI, Script
from tests.support.live_server import live_server
from tests.support.replicas import Nginx, OrchestratorProcess, free_port
from tests.support.russian_speech import BOOKING, BOOKING_WORDS, rhvoice_16k, words_of
from tests.support.service_guard import service_missing
from tests.support.twilio_client import (
    TEST_AUTH_TOKEN,
    TwilioMediaClient,
    silence_mulaw,
    speech_mulaw,
    stream_parameters,
)
from tests.support.whisper_ru import russian_model_path

REDIS = "redis://127.0.0.1:6379/0"
SECOND = "Перезвоните мне после обеда."
SECOND_WORDS = {"перезвоните", "обеда"}
REPLY_1 = "Хорошо, записываю вас на завтра."
REPLY_2 = "Хорошо, директор перезвонит вам после обеда."


@pytest.fixture(scope="module")
def redis_prefix() -> Iterator[str]:
    prefix = f"lidia-replicas-{uuid.uuid4().hex[:12]}:"
    client = redis.Redis.from_url(REDIS, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing(f"Redis not reachable at {REDIS}: {exc}")
    yield prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    schema = f"replicas_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as exc:
        service_missing(f"PostgreSQL not reachable at 127.0.0.1:5432/test: {exc}")
    yield schema
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(Script(text="Понятно.")) as fake:
        yield fake


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, redis_prefix: str, llm: FakeOpenAI
) -> Iterator[list[OrchestratorProcess]]:
    root = tmp_path_factory.mktemp("replicas")
    env = {
        "WHISPER_MODEL": str(russian_model_path()),
        "WHISPER_DEVICE": "cpu",
        "STT_LANGUAGE": "ru",
        "TTS_ENGINE": "rhvoice",
        "TTS_LANGUAGE": "ru",
        "LLM_BACKEND": "openai",
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_MODEL": "fake",
        "LLM_MAX_RETRIES": "0",
        "REDIS_URL": REDIS,
        "REDIS_KEY_PREFIX": redis_prefix,
        "LOG_LEVEL": "WARNING",
    }
    started: list[OrchestratorProcess] = []
    try:
        for name in ("a", "b"):
            folder = root / name
            folders = {key: str(folder / key.lower()) for key in ("MODELS_DIR", "TEMP_DIR")}
            started.append(OrchestratorProcess.start(folder, env | folders))
        with ThreadPoolExecutor(2) as pool:  # both load their models at once
            list(pool.map(OrchestratorProcess.wait_healthy, started))
        yield started
    finally:
        for replica in started:
            replica.stop()


@pytest.fixture(scope="module")
def balanced(
    tmp_path_factory: pytest.TempPathFactory,
    replicas: list[OrchestratorProcess],
    pg_schema: str,
) -> Iterator[tuple[Nginx, Phone]]:
    """nginx in front of both orchestrators and the phone; the phone reaches them via nginx."""
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        service_missing("nginx is not installed: scripts/install_system_packages.sh --dev")
    root = tmp_path_factory.mktemp("balanced")
    orchestrator_port = free_port()
    settings = phone_settings(root / "phone", f"http://127.0.0.1:{orchestrator_port}")
    store = SqlCallStore(PG_URL, schema=pg_schema)
    with live_server(create_phone(settings, call_store=store)) as phone_url:
        nginx = Nginx.start(
            root / "nginx",
            [f"127.0.0.1:{replica.port}" for replica in replicas],
            [phone_url.removeprefix("http://")],
            orchestrator_port=orchestrator_port,
        )
        try:
            yield nginx, Phone(nginx.phone_url, store, settings)
        finally:
            nginx.stop()
    store.engine.dispose()


@pytest.fixture(scope="module")
def caller_speech() -> list[bytes]:
    engine = RHVoiceEngine.load()
    try:
        return [speech_mulaw(rhvoice_16k(engine, text), 16000) for text in (BOOKING, SECOND)]
    finally:
        engine.close()


def replica_of(nginx: Nginx, replicas: list[OrchestratorProcess], name: str) -> int:
    """Index of the replica whose `X-Lidia-Replica` (hostname:port) is `name`."""
    ports = [str(replica.port) for replica in replicas]
    return ports.index(name.rsplit(":", 1)[-1])


async def say(client: TwilioMediaClient, speech: bytes, turn: int) -> None:
    await client.media(speech, voiced=True)
    await client.media(silence_mulaw(1.0))
    await client.wait_for_mark(f"turn{turn}-end", within_s=40)


async def test_a_replica_killed_mid_call_the_call_goes_on_with_its_history(
    balanced: tuple[Nginx, Phone],
    replicas: list[OrchestratorProcess],
    llm: FakeOpenAI,
    caller_speech: list[bytes],
) -> None:
    nginx, phone = balanced
    llm.enqueue(Script(text=REPLY_1))
    llm.enqueue(Script(text=REPLY_2))
    call_sid = f"CA{uuid.uuid4().hex}"
    twiml = await answer_call(phone, call_sid)  # the webhook, through nginx
    ws_public = "wss://lidia.example.com/twilio/media"
    async with TwilioMediaClient(
        phone.ws_url, ws_public, TEST_AUTH_TOKEN, call_sid, parameters=stream_parameters(twiml)
    ) as client:  # the WebSocket upgrade, through nginx
        await start_call(client)
        await say(client, caller_speech[0], turn=1)
        first = nginx.access_log("/process_call")
        assert len(first) == 1 and first[0]["status"] == "200", first
        served_first = replica_of(nginx, replicas, first[0]["replica"])
        replicas[served_first].kill()  # a crash between two turns of a live call

        await say(client, caller_speech[1], turn=2)
        second = nginx.access_log("/process_call")[1]
        assert second["status"] == "200", second
        assert replica_of(nginx, replicas, second["replica"]) == 1 - served_first
        await client.stop()
        assert await client.closed()

    second_turn = next(  # turn 2's LLM request, made by the other replica
        r for r in llm.requests if words_of(str(r.body["messages"][-1]["content"])) >= SECOND_WORDS
    )
    history = second_turn.body["messages"]
    said_first = next(m["content"] for m in history if m["role"] == "user")
    assert words_of(said_first) >= BOOKING_WORDS
    assert {"role": "assistant", "content": REPLY_1} in history
    assert words_of(history[-1]["content"]) >= SECOND_WORDS

    record = await phone.store.get_call(call_sid)
    assert record is not None and record.ended_at and record.outcome == "conversation"
    turns = await phone.store.turns(call_sid)
    assert [turn.reply for turn in turns] == [REPLY_1, REPLY_2]
    assert not any(turn.fallback for turn in turns)
    assert words_of(turns[0].transcript) >= BOOKING_WORDS
    assert words_of(turns[1].transcript) >= SECOND_WORDS
