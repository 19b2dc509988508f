"""Exception handlers: every error leaves as JSON in one shape, never as an HTML page.

Client mistakes become 4xx bodies that name the problem; anything unexpected becomes a
500 whose body says so without leaking internals (the traceback goes to the log).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lidia.core.errors import LidiaError, error_body
from lidia.core.openapi import add_responses, error_responses

log = logging.getLogger(__name__)


async def _lidia_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LidiaError)
    return JSONResponse(exc.to_body(), status_code=exc.status_code)


def _describe_validation_error(err: dict) -> tuple[str, str | None]:
    location = [str(part) for part in err.get("loc", ()) if part not in ("body", "query", "form")]
    param = ".".join(location) or None
    if err.get("type") == "json_invalid":
        return "request body is not valid JSON", None
    if err.get("type") == "missing":
        return f"missing required field {param!r}", param
    return f"{param or 'request'}: {err.get('msg', 'invalid value')}", param


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    message, param = _describe_validation_error(errors[0]) if errors else ("invalid request", None)
    body = error_body(
        message, error_type="invalid_request_error", code="invalid_request", param=param
    )
    return JSONResponse(body, status_code=422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error_type = "invalid_request_error" if exc.status_code < 500 else "server_error"
    body = error_body(str(exc.detail), error_type=error_type, code=f"http_{exc.status_code}")
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    body = error_body(
        "internal error; see the service log", error_type="server_error", code="internal_error"
    )
    return JSONResponse(body, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LidiaError, _lidia_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    # In the OpenAPI: the error shape on every operation (and our 422 for FastAPI's own).
    add_responses(app, error_responses(500, 503))
