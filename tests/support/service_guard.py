"""The rule for tests that need a real service (Redis, PostgreSQL) on 127.0.0.1.

Off CI a missing service skips the test (a laptop without Redis can still run the suite); on CI
(`CI=true`) it fails, so a broken service container can never turn into silently skipped tests.
"""

from __future__ import annotations

import os
import socket
from typing import NoReturn

import pytest


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def service_missing(reason: str) -> NoReturn:
    """Skip the current test with `reason`, or fail it on CI."""
    if on_ci():
        pytest.fail(f"{reason} (CI=true: required service missing)", pytrace=False)
    pytest.skip(reason)


def tcp_reachable(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def require_tcp_service(name: str, host: str, port: int) -> None:
    """Skip (or fail on CI) unless `name` listens at host:port."""
    if not tcp_reachable(host, port):
        service_missing(f"{name} not reachable at {host}:{port}")
