"""Backoff for guessing: wrong API keys and admin passwords, counted per client address.

The window itself is checked with an injected clock; the two services are checked through
their real apps, one `TestClient` per client address (Starlette puts it in `scope["client"]`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lidia.admin.security import SECURITY_HEADERS
from lidia.core.rate_limit import FailureLimiter
from lidia.phone.app import create_app as create_phone
from tests.conftest import make_settings

KEY = "orchestrator-test-key"
USER, PASSWORD = "owner", "верный-пароль"
LIMIT = 3
ATTACKER, OWNER = ("198.51.100.7", 40000), ("203.0.113.9", 40001)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_blocks_after_n_failures_and_reopens() -> None:
    clock = Clock()
    limiter = FailureLimiter(LIMIT, 60.0, clock=clock)
    for _ in range(LIMIT - 1):
        limiter.record_failure("a")
        clock.now += 1
    assert limiter.retry_after("a") is None  # one try left
    limiter.record_failure("a")
    assert limiter.retry_after("a") == 58  # until the first of the three leaves the window
    assert limiter.retry_after("b") is None  # another address is not affected
    clock.now += 58
    assert limiter.retry_after("a") is None
    limiter.record_failure("a")
    limiter.record_success("a")  # a success forgets the address's failures
    assert limiter.retry_after("a") is None


def test_many_addresses_cannot_grow_the_state() -> None:
    limiter = FailureLimiter(1, 60.0, max_clients=100)
    for n in range(1000):
        limiter.record_failure(f"10.0.{n // 256}.{n % 256}")
    assert limiter.retry_after("10.0.3.231") == 60  # the most recent are kept
    assert limiter.retry_after("10.0.0.0") is None  # the oldest were dropped


def assert_rate_limited(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= 300
    assert response.json()["error"]["code"] == "rate_limited"


def test_bad_api_keys_get_429_while_a_good_client_elsewhere_gets_in(
    make_client: Callable[..., TestClient],
) -> None:
    started = make_client(orchestrator_api_key=KEY, auth_max_failures=LIMIT)  # runs the lifespan
    owner = TestClient(started.app, client=OWNER)  # the same app, seen from two addresses
    guesser = TestClient(started.app, client=ATTACKER)
    chat = {"text": "Здравствуйте, я хочу записаться на приём"}
    for n in range(LIMIT):
        wrong = {"Authorization": f"Bearer guess-{n}"}
        assert guesser.post("/reset_conversation", json={}, headers=wrong).status_code == 401
    right = {"Authorization": f"Bearer {KEY}"}
    assert_rate_limited(guesser.post("/reset_conversation", json={}, headers=right))
    assert guesser.get("/health").status_code == 200  # open routes stay open
    assert owner.post("/reset_conversation", json={}, headers=right).status_code == 200
    assert owner.post("/chat", json=chat, headers=right).status_code == 200
    for _ in range(LIMIT + 2):  # no key at all is not a guess: always a plain 401
        assert owner.post("/reset_conversation", json={}).status_code == 401


@pytest.fixture
def dashboard(tmp_path: Path) -> TestClient:
    settings = make_settings(
        tmp_path,
        admin_username=USER,
        admin_password=PASSWORD,
        auth_max_failures=LIMIT,
        calls_retention_days=None,
    )
    with TestClient(create_phone(settings, orchestrator_url="http://127.0.0.1:9")) as client:
        yield client


def assert_secured(response) -> None:  # type: ignore[no-untyped-def]
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_bad_admin_logins_get_429_and_every_admin_answer_is_secured(
    dashboard: TestClient,
) -> None:
    guesser = TestClient(dashboard.app, client=ATTACKER)
    owner = TestClient(dashboard.app, client=OWNER)
    for _ in range(LIMIT + 2):  # the browser's first, credential-less visit is no guess
        assert_secured(guesser.get("/admin"))
    for n in range(LIMIT):
        response = guesser.get("/admin", auth=(USER, f"пароль-{n}"))
        assert response.status_code == 401
        assert_secured(response)
    blocked = guesser.get("/admin", auth=(USER, PASSWORD))  # even the right one, for now
    assert_rate_limited(blocked)
    assert_secured(blocked)
    page = owner.get("/admin", auth=(USER, PASSWORD))
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert_secured(page)
    assert_secured(owner.get("/admin/playground", auth=(USER, PASSWORD)))
    assert "x-frame-options" not in owner.get("/health").headers  # only the dashboard
