"""An honest OpenAPI: the error shape and the statuses every layer really answers with.

FastAPI documents what a route *declares*; our answers also come from layers around routes:
the error handlers (the error shape on every 4xx/5xx, our 422 instead of FastAPI's
`HTTPValidationError`), the API-key middleware (401, 429), the JSON bounds (400, 413).
Each layer registers its statuses here with `add_responses(app, ..., when=...)`; the app's
`openapi()` merges them into every operation they apply to (a route's own `responses=`
wins). Routes use `error_responses(404, 413)` for their own refusals and `media(...)` for
the bodies they return.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
ERROR_SCHEMAS: dict[str, Any] = {
    "ErrorDetail": {
        "type": "object",
        "properties": {
            "message": {"type": "string"},
            "type": {"type": "string"},
            "param": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "code": {"type": "string"},
        },
        "required": ["message", "type", "param", "code"],
    },
    "ErrorResponse": {
        "type": "object",
        "description": 'Every error: `{"error": {message, type, param, code}}` (OpenAI shape)',
        "properties": {"error": {"$ref": "#/components/schemas/ErrorDetail"}},
        "required": ["error"],
    },
}
DESCRIPTIONS = {
    400: "Bad request (the message names the field)",
    401: "Missing or wrong credentials",
    403: "Refused (signature, CSRF or origin)",
    404: "Not found",
    413: "Too large",
    422: "Invalid field value (the message and `param` name the field)",
    429: "Too many failed attempts from this address; see Retry-After",
    500: "Internal error (details in the service log)",
    503: "Starting up, or an engine is unavailable",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}

Rule = tuple[dict[str, dict[str, Any]], Callable[[str, str, dict[str, Any]], bool]]


def error_response(status: int, description: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description or DESCRIPTIONS.get(status, "Error"),
        "content": {"application/json": {"schema": ERROR_REF}},
    }
    if status == 429:
        response["headers"] = RETRY_AFTER
    return response


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route's own refusals, in the error shape."""
    return {status: error_response(status) for status in statuses}


def media(description: str, *media_types: str, schema: dict | None = None) -> dict[str, Any]:
    """A success response with several media types (audio formats, JSON or SSE)."""
    body = {"schema": schema} if schema is not None else {}
    return {"description": description, "content": {t: dict(body) for t in media_types}}


def every_operation(path: str, method: str, operation: dict[str, Any]) -> bool:
    return True


def has_json_body(path: str, method: str, operation: dict[str, Any]) -> bool:
    content = operation.get("requestBody", {}).get("content", {})
    return any(t == "application/json" or t.endswith("+json") for t in content)


def add_responses(
    app: FastAPI,
    responses: dict[int | str, dict[str, Any]],
    *,
    when: Callable[[str, str, dict[str, Any]], bool] = every_operation,
) -> None:
    """Document `responses` on every operation `when(path, method, operation)` selects."""
    rules = _rules(app)
    rules.append(({str(status): body for status, body in responses.items()}, when))


def _rules(app: FastAPI) -> list[Rule]:
    rules: list[Rule] | None = getattr(app.state, "openapi_rules", None)
    if rules is None:
        rules = app.state.openapi_rules = []
        fastapi_openapi = app.openapi

        def openapi() -> dict[str, Any]:
            if app.openapi_schema is None:
                app.openapi_schema = apply_rules(fastapi_openapi(), rules)
            return app.openapi_schema

        app.openapi = openapi  # type: ignore[method-assign]
    return rules


def apply_rules(schema: dict[str, Any], rules: list[Rule]) -> dict[str, Any]:
    """The schema with the error components, our 422, and every rule's statuses merged in."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(ERROR_SCHEMAS)
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            responses = operation.setdefault("responses", {})
            if "422" in responses and "HTTPValidationError" in str(responses["422"]):
                responses["422"] = error_response(422)
            for extra, when in rules:
                if when(path, method, operation):
                    for status, body in extra.items():
                        responses.setdefault(status, body)
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused not in str(schema.get("paths")):
            components.pop(unused, None)
    return schema


# Text fields that must hold something to speak or answer: at least one letter or digit
# (documented, so generated "valid" text is; blank text is refused with a 400 naming the field).
SPEAKABLE = {"pattern": r"[^\W_]"}
NOT_BLANK = {"pattern": r"\S"}  # text that must not be empty or only spaces
