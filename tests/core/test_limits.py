"""Bounded JSON on every input: over-deep and over-large bodies get a clear 4xx JSON error
before any route parses them, on both services; a normal Russian body passes untouched."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from lidia.core.limits import json_depth
from lidia.phone.app import create_app as create_phone
from tests.conftest import make_settings


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b'{"text": "\\u041f\\u0440\\u0438\\u0432\\u0435\\u0442"}', 1),
        ('{"text": "[[[[{{{{ в строке не считается"}'.encode(), 1),
        (b'{"a": [{"b": [1, 2]}, "]]]\\"]]"]}', 4),
        (b'"just a string"', 0),
        (b"[" * 100_000 + b"]" * 100_000, 100_000),
    ],
)
def test_depth_ignores_brackets_inside_strings(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth


def deep(levels: int) -> str:
    return '{"text": "Привет", "x": ' + "[" * levels + "]" * levels + "}"


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code and error["type"] == "invalid_request_error"
    assert ("JSON_MAX_DEPTH" if code == "json_too_deep" else "JSON_MAX_BYTES") in error["message"]


def test_the_orchestrator_bounds_every_json_body(make_client: Callable[..., TestClient]) -> None:
    client = make_client(json_max_depth=8, json_max_bytes=64 * 1024)
    headers = {"content-type": "application/json"}
    for path in ("/chat", "/tts", "/v1/audio/speech", "/v1/chat/completions"):
        assert_refused(
            client.post(path, content=deep(100_000), headers=headers), 413, "json_too_large"
        )
        assert_refused(client.post(path, content=deep(20), headers=headers), 400, "json_too_deep")
    # Without a content type FastAPI still parses JSON: bounded too.
    assert_refused(client.post("/chat", content=deep(20)), 400, "json_too_deep")
    huge = json.dumps({"text": "Здравствуйте! " * 10_000})  # 140 000 characters
    assert_refused(client.post("/chat", content=huge, headers=headers), 413, "json_too_large")
    ok = client.post("/chat", content=deep(3), headers=headers)  # within bounds: the route runs
    assert ok.status_code == 200 and ok.json()["reply"]


def test_the_phone_service_bounds_json_bodies_too(tmp_path: Path) -> None:
    app = create_phone(make_settings(tmp_path), orchestrator_url="http://127.0.0.1:9")
    headers = {"content-type": "application/json"}
    with TestClient(app) as client:
        nested = client.post("/twilio/voice", content=deep(100_000), headers=headers)
        large = client.post("/twilio/status", content="[]" + " " * 2**21, headers=headers)
    assert_refused(nested, 400, "json_too_deep")
    assert_refused(large, 413, "json_too_large")
