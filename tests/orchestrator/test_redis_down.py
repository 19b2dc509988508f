"""Redis lost under the orchestrator (issue 15): `/chat` answers without history, while
`/reset_conversation` answers a clear 503 JSON error and `/health` says "degraded: redis".

Redis is the shared one on 127.0.0.1:6379 behind a TCP proxy the test cuts and restores.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from tests.support.fake_llm_servers import FakeOpenAI, Script
from tests.support.service_guard import require_tcp_service
from tests.support.tcp_proxy import TcpProxy, tcp_proxy

REPLY = "Хорошо, я передам ваше сообщение."


@pytest.fixture
def redis_proxy() -> Iterator[TcpProxy]:
    require_tcp_service("Redis", "127.0.0.1", 6379)
    with tcp_proxy("127.0.0.1", 6379) as proxy:
        yield proxy


def test_redis_down_degrades_health_and_reset_answers_503(
    make_client: Callable[..., TestClient], openai: FakeOpenAI, redis_proxy: TcpProxy
) -> None:
    openai.reset(Script(text=REPLY))
    client = make_client(
        openai_base_url=openai.base_url,
        openai_model="fake-model",
        redis_url=f"redis://127.0.0.1:{redis_proxy.port}/0",
        redis_key_prefix=f"lidia-test-{uuid.uuid4().hex[:8]}:",
    )
    chat = {"text": "Перезвоните мне после обеда", "session_id": "CA-redis"}
    assert client.post("/chat", json=chat).json()["reply"] == REPLY
    health = client.get("/health").json()
    assert health["sessions"]["error"] is None
    assert not any(p.startswith("redis") for p in health["problems"])

    redis_proxy.cut()
    assert client.post("/chat", json=chat).json()["reply"] == REPLY  # no history, still answers
    reset = client.post("/reset_conversation", json={"session_id": "CA-redis"})
    assert reset.status_code == 503
    error = reset.json()["error"]
    assert error["code"] == "session_store_unavailable" and error["param"] == "session_id"
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    assert any(p.startswith("redis: unreachable") for p in health.json()["problems"])

    redis_proxy.restore()
    assert client.post("/reset_conversation", json={"all": True}).status_code == 200
    assert client.get("/health").json()["sessions"]["error"] is None
