"""Conversation history per session id (the Twilio CallSid on the phone), bounded and expiring.

Two stores behind one `SessionStore` protocol:
- `MemorySessionStore`: in this process (the default).
- `RedisSessionStore`: in Redis (`REDIS_URL`), so several orchestrator processes share a call.

History is kept as whole turns (a user message and the assistant's reply). After each append it
is bounded to the last `max_turns` turns and to `max_chars` characters, dropping the oldest turns
first; the newest turn is always kept, even when it alone exceeds the character budget. A
session expires `ttl_s` seconds after its last append.

A turn may carry a `turn_id` given by the client. `forget_turn` removes that turn: the phone
service starts a reply speculatively while the caller pauses and, when the caller goes on,
discards it without trace. The reply of a cancelled stream is recorded as the stream closes,
which may be just after the phone's request to forget it: a forgotten id not yet recorded
leaves a tombstone (for `FORGET_TOMBSTONE_S`) that makes its append a no-op.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from lidia.core.errors import LidiaError
from lidia.core.settings import Settings
from lidia.llm.base import ChatMessage


class SessionStore(Protocol):
    async def get_history(self, session_id: str) -> list[ChatMessage]:
        """Oldest first; empty for an unknown or expired session."""
        ...

    async def append_turn(
        self, session_id: str, user: str, assistant: str, turn_id: str | None = None
    ) -> None:
        """Atomically add one turn, bound the history and refresh the session's TTL.

        A turn whose `turn_id` was already forgotten is not added."""
        ...

    async def forget_turn(self, session_id: str, turn_id: str) -> bool:
        """Remove the turn `turn_id` (True), or make sure it is never added (False)."""
        ...

    async def reset(self, session_id: str) -> bool:
        """Forget one session; True when it existed."""
        ...

    async def reset_all(self) -> int:
        """Forget every session of this store; returns how many were removed."""
        ...

    async def count(self) -> int:
        """How many live sessions there are."""
        ...

    async def aclose(self) -> None: ...

    async def problem(self) -> str | None:
        """Why the store cannot serve right now (for /health), or None when it can."""
        ...


class SessionStoreUnavailableError(LidiaError):
    """The conversation store (Redis) is unreachable: a clear 503, never a bare 500."""

    status_code = 503
    error_type = "service_unavailable"
    code = "session_store_unavailable"


# How long /health waits for Redis to answer PING before calling it unreachable.
PING_TIMEOUT_S = 1.0
# How long a forgotten, not yet recorded turn id is remembered (its stream closes in a moment).
FORGET_TOMBSTONE_S = 300.0


@dataclass(frozen=True)
class Turn:
    user: str
    assistant: str
    turn_id: str | None = None

    @property
    def chars(self) -> int:
        return len(self.user) + len(self.assistant)

    def messages(self) -> tuple[ChatMessage, ChatMessage]:
        return ChatMessage("user", self.user), ChatMessage("assistant", self.assistant)


def bound_turns(turns: Sequence[Turn], max_turns: int, max_chars: int) -> list[Turn]:
    """The newest turns that fit `max_turns` and `max_chars` (the newest one always stays)."""
    kept = list(turns[-max_turns:])
    total = sum(turn.chars for turn in kept)
    while len(kept) > 1 and total > max_chars:
        total -= kept.pop(0).chars
    return kept


def flatten(turns: Sequence[Turn]) -> list[ChatMessage]:
    return [message for turn in turns for message in turn.messages()]


# --- In memory --------------------------------------------------------------------------------


@dataclass
class _MemorySession:
    turns: list[Turn]
    expires_at: float


class MemorySessionStore:
    """Sessions in a dict of this process.

    Safe under concurrent asyncio tasks: no method awaits between reading and writing a session,
    so each operation runs to completion without interleaving (no locks needed). Not for use
    from several threads. Expired sessions vanish when touched, and a sweep over all sessions
    runs at most once per `sweep_interval_s` (default: the TTL, capped at a minute).
    """

    def __init__(
        self,
        max_turns: int,
        max_chars: int,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        sweep_interval_s: float | None = None,
    ) -> None:
        self._max_turns = max_turns
        self._max_chars = max_chars
        self._ttl_s = ttl_s
        self._clock = clock
        self._sweep_interval_s = (
            sweep_interval_s if sweep_interval_s is not None else min(ttl_s, 60.0)
        )
        self._sessions: dict[str, _MemorySession] = {}
        self._forgotten: dict[tuple[str, str], float] = {}  # (session, turn id) → expiry
        self._last_sweep = clock()

    def _live(self, session_id: str, now: float) -> _MemorySession | None:
        session = self._sessions.get(session_id)
        if session is not None and session.expires_at <= now:
            del self._sessions[session_id]
            return None
        return session

    def _sweep_if_due(self, now: float) -> None:
        if now - self._last_sweep < self._sweep_interval_s:
            return
        self._last_sweep = now
        expired = [sid for sid, s in self._sessions.items() if s.expires_at <= now]
        for session_id in expired:
            del self._sessions[session_id]
        for tombstone in [t for t, expiry in self._forgotten.items() if expiry <= now]:
            del self._forgotten[tombstone]

    async def get_history(self, session_id: str) -> list[ChatMessage]:
        now = self._clock()
        self._sweep_if_due(now)
        session = self._live(session_id, now)
        return flatten(session.turns) if session is not None else []

    async def append_turn(
        self, session_id: str, user: str, assistant: str, turn_id: str | None = None
    ) -> None:
        now = self._clock()
        self._sweep_if_due(now)
        if turn_id is not None and self._forgotten.pop((session_id, turn_id), 0.0) > now:
            return  # discarded before its stream closed
        session = self._live(session_id, now)
        turn = Turn(user, assistant, turn_id)
        turns = [*(session.turns if session is not None else []), turn]
        self._sessions[session_id] = _MemorySession(
            bound_turns(turns, self._max_turns, self._max_chars), now + self._ttl_s
        )

    async def forget_turn(self, session_id: str, turn_id: str) -> bool:
        now = self._clock()
        session = self._live(session_id, now)
        kept = [t for t in session.turns if t.turn_id != turn_id] if session is not None else []
        if session is not None and len(kept) < len(session.turns):
            session.turns = kept
            return True
        self._forgotten[(session_id, turn_id)] = now + FORGET_TOMBSTONE_S
        return False

    async def reset(self, session_id: str) -> bool:
        session = self._live(session_id, self._clock())
        self._sessions.pop(session_id, None)
        return session is not None

    async def reset_all(self) -> int:
        now = self._clock()
        removed = sum(1 for s in self._sessions.values() if s.expires_at > now)
        self._sessions.clear()
        return removed

    async def count(self) -> int:
        now = self._clock()
        return sum(1 for s in self._sessions.values() if s.expires_at > now)

    async def aclose(self) -> None:
        self._sessions.clear()

    async def problem(self) -> str | None:
        return None  # process memory is always there


# --- Redis ------------------------------------------------------------------------------------

# One turn per list element: {"n": chars, "u": user, "a": assistant, "t": turn id or null}.
# The script appends, keeps the last max_turns, drops the oldest turns past the character budget
# (keeping the newest) and refreshes the TTL, all atomically, so concurrent appends from several
# processes lose nothing. KEYS[2], when given, is the turn's tombstone: a forgotten turn is
# not appended.
_APPEND_SCRIPT = """
local key = KEYS[1]
local max_turns = tonumber(ARGV[2])
local max_chars = tonumber(ARGV[3])
if #KEYS > 1 and redis.call('DEL', KEYS[2]) == 1 then
  return -1
end
redis.call('RPUSH', key, ARGV[1])
redis.call('LTRIM', key, -max_turns, -1)
local items = redis.call('LRANGE', key, 0, -1)
local total = 0
local sizes = {}
for i, item in ipairs(items) do
  sizes[i] = cjson.decode(item)['n']
  total = total + sizes[i]
end
local drop = 0
while total > max_chars and (#items - drop) > 1 do
  drop = drop + 1
  total = total - sizes[drop]
end
if drop > 0 then
  redis.call('LTRIM', key, drop, -1)
end
redis.call('PEXPIRE', key, ARGV[4])
return #items - drop
"""

# Remove the turn whose "t" is ARGV[1] (1), or leave a tombstone KEYS[2] for ARGV[2] ms (0).
_FORGET_SCRIPT = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for _, item in ipairs(items) do
  if cjson.decode(item)['t'] == ARGV[1] then
    redis.call('LREM', KEYS[1], 1, item)
    return 1
  end
end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return 0
"""

_GLOB_SPECIALS = str.maketrans({c: f"\\{c}" for c in "*?[]\\"})


class RedisSessionStore:
    """Sessions in Redis under `{prefix}session:{id}` (a list of JSON turns with a TTL).

    Appends run as one Lua script (atomic across processes). `reset_all` deletes only keys under
    this store's prefix, found with SCAN (never KEYS or FLUSHDB). Redis errors propagate as
    `redis.exceptions.RedisError`.
    """

    def __init__(self, url: str, prefix: str, max_turns: int, max_chars: int, ttl_s: float) -> None:
        self._redis = aioredis.from_url(url, decode_responses=True)
        self._prefix = f"{prefix}session:"
        self._max_turns = max_turns
        self._max_chars = max_chars
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._tombstone_prefix = f"{prefix}forgotten:"
        self._append = self._redis.register_script(_APPEND_SCRIPT)
        self._forget = self._redis.register_script(_FORGET_SCRIPT)

    def key(self, session_id: str) -> str:
        return f"{self._prefix}{session_id}"

    def tombstone_key(self, session_id: str, turn_id: str) -> str:
        # Outside the sessions' prefix: `count` and `reset_all` see sessions only.
        return f"{self._tombstone_prefix}{session_id}:{turn_id}"

    async def get_history(self, session_id: str) -> list[ChatMessage]:
        items = await self._redis.lrange(self.key(session_id), 0, -1)
        turns = [Turn(item["u"], item["a"]) for item in map(json.loads, items)]
        return flatten(turns)

    async def append_turn(
        self, session_id: str, user: str, assistant: str, turn_id: str | None = None
    ) -> None:
        turn = Turn(user, assistant, turn_id)
        item = {"n": turn.chars, "u": user, "a": assistant, "t": turn_id}
        keys = [self.key(session_id)]
        if turn_id is not None:
            keys.append(self.tombstone_key(session_id, turn_id))
        await self._append(
            keys=keys,
            args=[
                json.dumps(item, ensure_ascii=False),
                self._max_turns,
                self._max_chars,
                self._ttl_ms,
            ],
        )

    async def forget_turn(self, session_id: str, turn_id: str) -> bool:
        keys = [self.key(session_id), self.tombstone_key(session_id, turn_id)]
        return bool(await self._forget(keys=keys, args=[turn_id, int(FORGET_TOMBSTONE_S * 1000)]))

    async def reset(self, session_id: str) -> bool:
        return bool(await self._redis.delete(self.key(session_id)))

    async def reset_all(self) -> int:
        removed = 0
        batch: list[str] = []
        async for key in self._scan_keys():
            batch.append(key)
            if len(batch) >= 500:
                removed += await self._redis.unlink(*batch)
                batch.clear()
        if batch:
            removed += await self._redis.unlink(*batch)
        return removed

    async def count(self) -> int:
        return sum([1 async for _ in self._scan_keys()])

    def _scan_keys(self) -> AsyncIterator[str]:
        pattern = self._prefix.translate(_GLOB_SPECIALS) + "*"
        return self._redis.scan_iter(match=pattern, count=500)

    async def aclose(self) -> None:
        await self._redis.aclose()

    async def problem(self) -> str | None:
        try:
            await asyncio.wait_for(self._redis.ping(), PING_TIMEOUT_S)
        except (RedisError, OSError, TimeoutError) as exc:
            return f"unreachable ({type(exc).__name__}: {exc})"[:300]
        return None


def build_session_store(settings: Settings) -> SessionStore:
    """Redis when `REDIS_URL` is set, else memory. Connects lazily (on first use)."""
    if settings.redis_url:
        return RedisSessionStore(
            settings.redis_url,
            settings.redis_key_prefix,
            settings.history_max_turns,
            settings.history_max_chars,
            settings.session_ttl_s,
        )
    return MemorySessionStore(
        settings.history_max_turns, settings.history_max_chars, settings.session_ttl_s
    )
