"""Domain errors and their HTTP shape.

Every error a client can cause maps to a 4xx with a JSON body naming the problem, in
OpenAI's shape so one client-side parser fits all routes:
`{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager


def error_body(message: str, *, error_type: str, code: str, param: str | None = None) -> dict:
    """The JSON body of every error response, in OpenAI's shape."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


class LidiaError(Exception):
    """Base of the errors that carry their own HTTP status and error code."""

    status_code = 400
    error_type = "invalid_request_error"
    code = "bad_request"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def to_body(self) -> dict:
        return error_body(
            self.message, error_type=self.error_type, code=self.code, param=self.param
        )


class InvalidTextError(LidiaError):
    code = "invalid_text"


class TextTooLongError(LidiaError):
    status_code = 413
    code = "text_too_long"


class InvalidAudioError(LidiaError):
    code = "invalid_audio"


class EmptyAudioError(LidiaError):
    code = "empty_audio"


class AudioTooLargeError(LidiaError):
    status_code = 413
    code = "audio_too_large"


class UnsupportedLanguageError(LidiaError):
    status_code = 422
    code = "unsupported_language"

    def __init__(self, language: str, supported: Iterable[str], *, what: str = "engine") -> None:
        supported_list = sorted(supported)
        super().__init__(
            f"language {language!r} is not supported by the {what}; "
            f"supported: {', '.join(supported_list)}",
            param="language",
        )
        self.language = language
        self.supported = supported_list


class UnknownVoiceError(LidiaError):
    status_code = 422
    code = "unknown_voice"


class UnsupportedFormatError(LidiaError):
    status_code = 422
    code = "unsupported_format"


class EngineUnavailableError(LidiaError):
    status_code = 503
    error_type = "server_error"
    code = "engine_unavailable"


class ModelNotFoundError(LidiaError):
    status_code = 404
    code = "model_not_found"


class AuthenticationError(LidiaError):
    status_code = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


# The field names engines and codecs give the values they check: OpenAI's (`input` for the
# text to speak, `file` for an uploaded recording). Routes whose fields are named otherwise
# rename them with `route_fields`.
TEXT_FIELD = "input"
AUDIO_FIELD = "file"


@contextmanager
def route_fields(**names: str) -> Iterator[None]:
    """Errors raised inside name the route's own fields: `route_fields(input="text")` on
    `/tts` turns `"param": "input"` into `"param": "text"`."""
    try:
        yield
    except LidiaError as exc:
        if exc.param in names:
            exc.param = names[exc.param]
        raise


class UnknownActionError(LidiaError):
    status_code = 422
    code = "unknown_action"
