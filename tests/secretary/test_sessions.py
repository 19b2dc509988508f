"""Session stores: bounding, TTL, isolation, concurrency; Redis against the real server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import redis
import redis.asyncio as aioredis

from lidia.core.settings import Settings
from lidia.llm.base import ChatMessage
from lidia.secretary.sessions import (
    MemorySessionStore,
    RedisSessionStore,
    SessionStore,
    Turn,
    bound_turns,
    build_session_store,
)
from tests.support.service_guard import service_missing

REDIS_URL = "redis://127.0.0.1:6379/0"

StoreFactory = Callable[..., Awaitable[SessionStore]]


async def _redis_client_or_skip() -> aioredis.Redis:
    client = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        service_missing(f"Redis not reachable at {REDIS_URL}: {exc}")
    return client


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix unique to this test; every key under it is deleted afterwards.

    Sync (redis-py's blocking client) so that async fixtures can request it dynamically.
    """
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        service_missing(f"Redis not reachable at {REDIS_URL}: {exc}")
    prefix = f"lidia-test:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """Builds stores of the parametrized kind; Redis ones share this test's key prefix."""
    created: list[SessionStore] = []
    prefix = request.getfixturevalue("redis_prefix") if request.param == "redis" else ""

    async def factory(max_turns: int = 3, max_chars: int = 1000, ttl_s: float = 60) -> SessionStore:
        store: SessionStore
        if request.param == "memory":
            store = MemorySessionStore(max_turns, max_chars, ttl_s)
        else:
            store = RedisSessionStore(REDIS_URL, prefix, max_turns, max_chars, ttl_s)
        created.append(store)
        return store

    yield factory
    for store in created:
        await store.aclose()


def _turn_texts(history: list[ChatMessage]) -> list[str]:
    assert [m.role for m in history] == ["user", "assistant"] * (len(history) // 2)
    return [m.content for m in history[::2]]


# --- the bounding rule itself -------------------------------------------------------------------


def test_bound_turns_keeps_the_newest_within_both_limits() -> None:
    turns = [Turn(f"u{i}", "a" * 10) for i in range(6)]  # 12 chars each
    assert [t.user for t in bound_turns(turns, 4, 1000)] == ["u2", "u3", "u4", "u5"]
    assert [t.user for t in bound_turns(turns, 4, 30)] == ["u4", "u5"]
    # A single turn over budget is still kept: the model needs at least the last exchange.
    assert [t.user for t in bound_turns([Turn("x" * 50, "y")], 4, 10)] == ["x" * 50]


# --- behaviour shared by both stores ----------------------------------------------------------


async def test_history_round_trip_keeps_roles_and_order(make_store: StoreFactory) -> None:
    store = await make_store()
    await store.append_turn("s", "Здравствуйте", "Добрый день!")
    await store.append_turn("s", "Когда вы работаете?", "С девяти до восемнадцати.")
    assert await store.get_history("s") == [
        ChatMessage("user", "Здравствуйте"),
        ChatMessage("assistant", "Добрый день!"),
        ChatMessage("user", "Когда вы работаете?"),
        ChatMessage("assistant", "С девяти до восемнадцати."),
    ]
    assert await store.get_history("unknown") == []


async def test_a_forgotten_turn_leaves_no_trace(make_store: StoreFactory) -> None:
    # The phone discards a reply it started while the caller paused: the caller went on.
    store = await make_store()
    await store.append_turn("call", "Здравствуйте", "Добрый день!", "t1")
    await store.append_turn("call", "Я хочу записаться", "На какой день?", "t2")
    await store.append_turn("call", "Я хочу записаться на четверг", "Записала.", "t3")
    assert await store.forget_turn("call", "t2") is True
    assert _turn_texts(await store.get_history("call")) == [
        "Здравствуйте",
        "Я хочу записаться на четверг",
    ]
    assert await store.forget_turn("call", "t2") is False  # already gone: nothing else goes


async def test_a_turn_forgotten_before_it_is_recorded_is_never_added(
    make_store: StoreFactory,
) -> None:
    # The stream that would record it closes just after the phone's request to forget it.
    store = await make_store()
    await store.append_turn("call", "Алло", "Слушаю вас.", "t1")
    assert await store.forget_turn("call", "t2") is False
    await store.append_turn("call", "Я хочу", "Чем могу помочь?", "t2")
    await store.append_turn("call", "Я хочу записаться", "На какой день?", "t3")
    assert _turn_texts(await store.get_history("call")) == ["Алло", "Я хочу записаться"]
    assert await store.count() == 1  # a tombstone is not a session


async def test_history_is_bounded_by_turns(make_store: StoreFactory) -> None:
    store = await make_store(max_turns=3)
    for i in range(7):
        await store.append_turn("s", f"вопрос {i}", f"ответ {i}")
    assert _turn_texts(await store.get_history("s")) == ["вопрос 4", "вопрос 5", "вопрос 6"]


async def test_history_is_bounded_by_chars_dropping_oldest(make_store: StoreFactory) -> None:
    store = await make_store(max_turns=10, max_chars=50)
    for i in range(5):
        await store.append_turn("s", f"вопрос {i}", "ответ " + "я" * 10)  # 8 + 16 = 24 chars
    history = await store.get_history("s")
    assert _turn_texts(history) == ["вопрос 3", "вопрос 4"]
    assert sum(len(m.content) for m in history) <= 50


async def test_sessions_are_isolated(make_store: StoreFactory) -> None:
    store = await make_store()
    await store.append_turn("a", "я из сессии А", "ответ А")
    await store.append_turn("b", "я из сессии Б", "ответ Б")
    assert _turn_texts(await store.get_history("a")) == ["я из сессии А"]
    assert _turn_texts(await store.get_history("b")) == ["я из сессии Б"]
    assert await store.count() == 2


async def test_reset_one_and_all(make_store: StoreFactory) -> None:
    store = await make_store()
    for sid in ("a", "b", "c"):
        await store.append_turn(sid, "привет", "здравствуйте")
    assert await store.reset("a") is True
    assert await store.reset("a") is False
    assert await store.get_history("a") == []
    assert _turn_texts(await store.get_history("b")) == ["привет"]
    assert await store.reset_all() == 2
    assert await store.count() == 0
    assert await store.get_history("c") == []


async def test_concurrent_appends_to_one_session_lose_nothing(make_store: StoreFactory) -> None:
    store = await make_store(max_turns=100, max_chars=100_000)
    await asyncio.gather(*(store.append_turn("s", f"q{i}", f"a{i}") for i in range(40)))
    history = await store.get_history("s")
    assert sorted(_turn_texts(history)) == sorted(f"q{i}" for i in range(40))
    # Each turn stays a pair: no interleaving between one append's two messages.
    assert all(
        history[k + 1].content == "a" + history[k].content[1:] for k in range(0, len(history), 2)
    )


# --- memory store: expiry with an injected clock ----------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_session_expires_after_ttl_of_inactivity() -> None:
    clock = FakeClock()
    store = MemorySessionStore(max_turns=5, max_chars=1000, ttl_s=10, clock=clock)
    await store.append_turn("s", "первый", "ответ")
    clock.now += 9
    await store.append_turn("s", "второй", "ответ")  # activity refreshes the TTL
    clock.now += 9
    assert _turn_texts(await store.get_history("s")) == ["первый", "второй"]
    clock.now += 1.5
    assert await store.get_history("s") == []
    assert await store.count() == 0


async def test_memory_sweep_drops_expired_sessions_nobody_touches() -> None:
    clock = FakeClock()
    store = MemorySessionStore(max_turns=5, max_chars=1000, ttl_s=10, clock=clock)
    for i in range(5):
        await store.append_turn(f"old{i}", "привет", "здравствуйте")
    clock.now += 11
    await store.get_history("someone-else")  # any access past the interval sweeps
    assert store._sessions == {}


# --- Redis store ------------------------------------------------------------------------------


async def test_redis_store_sets_and_refreshes_ttl(redis_prefix: str) -> None:
    store = RedisSessionStore(REDIS_URL, redis_prefix, 5, 1000, ttl_s=30)
    client = await _redis_client_or_skip()
    try:
        await store.append_turn("s", "привет", "здравствуйте")
        await client.pexpire(store.key("s"), 5000)  # pretend time passed
        await store.append_turn("s", "ещё", "да")
        assert 29_000 < await client.pttl(store.key("s")) <= 30_000
    finally:
        await client.aclose()
        await store.aclose()


async def test_redis_session_really_expires(redis_prefix: str) -> None:
    store = RedisSessionStore(REDIS_URL, redis_prefix, 5, 1000, ttl_s=0.3)
    try:
        await store.append_turn("s", "привет", "здравствуйте")
        assert await store.get_history("s") != []
        await asyncio.sleep(0.5)
        assert await store.get_history("s") == []
    finally:
        await store.aclose()


async def test_two_redis_stores_share_sessions_and_lose_no_turns(redis_prefix: str) -> None:
    # Two instances with separate connection pools stand for two orchestrator processes.
    first = RedisSessionStore(REDIS_URL, redis_prefix, 100, 100_000, 60)
    second = RedisSessionStore(REDIS_URL, redis_prefix, 100, 100_000, 60)
    try:
        await asyncio.gather(
            *((first if i % 2 else second).append_turn("call", f"q{i}", f"a{i}") for i in range(60))
        )
        texts = _turn_texts(await first.get_history("call"))
        assert sorted(texts) == sorted(f"q{i}" for i in range(60))
        assert await second.get_history("call") == await first.get_history("call")
    finally:
        await first.aclose()
        await second.aclose()


async def test_redis_reset_all_touches_only_its_prefix(redis_prefix: str) -> None:
    client = await _redis_client_or_skip()
    # A prefix with glob characters must match literally, not as a pattern.
    store = RedisSessionStore(REDIS_URL, f"{redis_prefix}a*", 5, 1000, 60)
    neighbour = RedisSessionStore(REDIS_URL, f"{redis_prefix}ab", 5, 1000, 60)
    foreign_key = f"{redis_prefix}unrelated"
    try:
        await client.set(foreign_key, "keep me")
        await store.append_turn("s1", "привет", "здравствуйте")
        await store.append_turn("s2", "привет", "здравствуйте")
        await neighbour.append_turn("s1", "привет", "здравствуйте")
        assert await store.count() == 2
        assert await store.reset_all() == 2
        assert await store.count() == 0
        assert await neighbour.count() == 1
        assert await client.get(foreign_key) == "keep me"
    finally:
        await client.aclose()
        await store.aclose()
        await neighbour.aclose()


async def test_build_session_store_picks_by_redis_url() -> None:
    memory = build_session_store(Settings(_env_file=None, redis_url=None))
    redis_store = build_session_store(Settings(_env_file=None, redis_url=REDIS_URL))
    try:
        assert isinstance(memory, MemorySessionStore)
        assert isinstance(redis_store, RedisSessionStore)
        assert redis_store.key("x") == "lidia:session:x"
    finally:
        await memory.aclose()
        await redis_store.aclose()
