"""Every route's errors name the route's own request field in `param`.

The field names are read from each route's OpenAPI request schema: the upload is the
property with a binary format, the others are looked up by name in that schema, so a test
fails if a route's error names a field the route does not have.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

NOT_AUDIO = ("notes.txt", "Это текстовый файл, а не запись звонка.".encode(), "text/plain")


def request_fields(spec: dict, method: str, path: str) -> dict[str, dict]:
    """The route's request fields (body properties and query parameters) by name."""
    operation = spec["paths"][path][method]
    fields = {param["name"]: param.get("schema", {}) for param in operation.get("parameters", [])}
    for content in operation.get("requestBody", {}).get("content", {}).values():
        for schema in [content["schema"], *content["schema"].get("anyOf", [])]:  # optional body
            if "$ref" in schema:
                schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
            fields.update(schema.get("properties", {}))
    return fields


def is_upload(schema: dict) -> bool:
    options = [schema, *schema.get("anyOf", [])]
    return any(
        option.get("format") == "binary"
        or option.get("contentMediaType") == "application/octet-stream"
        for option in options
    )


def upload_field(fields: dict[str, dict]) -> str:
    uploads = [name for name, schema in fields.items() if is_upload(schema)]
    assert len(uploads) == 1, uploads
    return uploads[0]


def error_param(response: Any) -> str | None:
    assert 400 <= response.status_code < 500, response.text
    return response.json()["error"]["param"]


@pytest.fixture(scope="module")
def spec_client(tmp_path_factory: pytest.TempPathFactory, tiny_stt, fallback_voice) -> Any:
    from lidia.orchestrator.app import create_app
    from tests.conftest import make_settings

    settings = make_settings(tmp_path_factory.mktemp("fields"))
    with TestClient(create_app(settings, stt=tiny_stt, tts=fallback_voice)) as client:
        yield client, client.app.openapi()


UPLOAD_ROUTES = ["/stt", "/process_call", "/v1/audio/transcriptions"]


@pytest.mark.parametrize("path", UPLOAD_ROUTES)
def test_a_file_that_is_not_audio_names_the_upload_field(spec_client: Any, path: str) -> None:
    client, spec = spec_client
    field = upload_field(request_fields(spec, "post", path))
    response = client.post(path, files={field: NOT_AUDIO}, data={"model": "whisper-1"})
    assert error_param(response) == field


@pytest.mark.parametrize("path", UPLOAD_ROUTES)
def test_an_empty_upload_names_the_upload_field(spec_client: Any, path: str) -> None:
    client, spec = spec_client
    field = upload_field(request_fields(spec, "post", path))
    response = client.post(path, files={field: ("empty.wav", b"", "audio/wav")})
    assert error_param(response) == field


def test_the_expected_upload_names(spec_client: Any) -> None:
    _, spec = spec_client
    names = {path: upload_field(request_fields(spec, "post", path)) for path in UPLOAD_ROUTES}
    assert names == {
        "/stt": "audio",
        "/process_call": "audio",
        "/v1/audio/transcriptions": "file",
    }


TEXT_CASES = [
    # (route, its text field, a request whose text is empty or blank)
    ("/tts", "text", {"text": ""}),
    ("/tts", "text", {"text": "   "}),
    ("/v1/audio/speech", "input", {"model": "tts-1", "input": "", "voice": "alloy"}),
    ("/chat", "text", {"text": "  "}),
    ("/extract_message", "transcript", {"transcript": ""}),
    ("/v1/chat/completions", "messages", {"model": "lidia", "messages": []}),
]


@pytest.mark.parametrize(("path", "field", "body"), TEXT_CASES)
def test_empty_text_names_the_routes_text_field(
    spec_client: Any, path: str, field: str, body: dict
) -> None:
    client, spec = spec_client
    assert field in request_fields(spec, "post", path)
    assert error_param(client.post(path, json=body)) == field


def test_too_long_text_on_tts_names_text(spec_client: Any) -> None:
    client, spec = spec_client
    limit = client.app.state.services.settings.tts_max_chars
    response = client.post("/tts", json={"text": "Здравствуйте. " * (limit // 10)})
    assert "text" in request_fields(spec, "post", "/tts")
    assert response.status_code == 413 and error_param(response) == "text"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/tts", {"text": "Привет", "speed": 9}, "speed"),
        ("/tts", {"text": "Привет", "voice": "нет-такого"}, "voice"),
        ("/v1/audio/speech", {"model": "tts-1", "input": "Привет", "speed": 9}, "speed"),
        ("/reset_conversation", {"session_id": "не годится!"}, "session_id"),
    ],
)
def test_other_fields_are_named_as_the_route_names_them(
    spec_client: Any, path: str, body: dict, field: str
) -> None:
    client, spec = spec_client
    assert field in request_fields(spec, "post", path)
    assert error_param(client.post(path, json=body)) == field
