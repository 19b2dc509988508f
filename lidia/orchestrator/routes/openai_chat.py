"""OpenAI's `POST /v1/chat/completions`: the secretary as the chat model `lidia`.

Plain JSON or an SSE stream of `chat.completion.chunk`s; the secretary keeps the conversation
in its own session memory, keyed by `X-Session-Id`, OpenWebUI's chat id or `user`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from lidia.core.errors import InvalidTextError, TextTooLongError
from lidia.core.openapi import error_responses, media
from lidia.core.sse import SSE_DONE, sse_event, sse_response
from lidia.orchestrator.deps import SecretaryDep
from lidia.orchestrator.routes.conversation import (
    CHAT_MEDIA_TYPES,
    MAX_CHAT_CHARS,
    SESSION_ID_PATTERN,
)
from lidia.orchestrator.routes.openai_models import CHAT_MODEL
from lidia.secretary.brain import Secretary

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["openai"])

DEFAULT_SESSION = "openai-default"


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens, ... accepted, unused

    model: str = CHAT_MODEL
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = Field(default=False, strict=True)
    user: Any = None  # OpenAI: a string; some clients send other shapes, so only use strings
    stream_options: dict[str, Any] | None = None


def last_user_text(messages: list[ChatMessageIn]) -> str:
    """The text of the last user message. Earlier messages are ignored: the secretary keeps
    the conversation in its own session memory (and its persona replaces any system prompt).
    """
    for message in reversed(messages):
        if message.role != "user":
            continue
        content = message.content
        if isinstance(content, list):  # content parts: keep the text ones
            content = "\n".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
        if content and content.strip():
            return content.strip()
        break
    raise InvalidTextError("messages must end with a user message that has text", param="messages")


def session_for(header: str | None, openwebui_chat: str | None, user: Any) -> str:
    """Session id: `X-Session-Id`, else OpenWebUI's chat id header, else `user`, else default.

    Ids that are not plain tokens (e-mails with spaces, long ids) are hashed, so any client
    value gives a stable, valid session id.
    """
    for candidate in (header, openwebui_chat, user if isinstance(user, str) else None):
        if candidate and candidate.strip():
            value = candidate.strip()
            if re.fullmatch(SESSION_ID_PATTERN, value):
                return value
            return "openai-" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]
    return DEFAULT_SESSION


def estimate_tokens(text: str) -> int:
    """A rough token count (about 4 characters per token): no tokenizer for every backend."""
    return max(1, round(len(text) / 4)) if text else 0


@router.post(
    "/chat/completions",
    response_model=None,
    responses={
        200: media("A chat.completion, or with `stream: true` SSE chunks", *CHAT_MEDIA_TYPES),
        **error_responses(400, 413, 422),
    },
)
async def create_chat_completion(
    body: ChatCompletionRequest,
    secretary: SecretaryDep,
    x_session_id: Annotated[str | None, Header()] = None,
    x_openwebui_chat_id: Annotated[str | None, Header()] = None,
) -> JSONResponse | StreamingResponse:
    """Лидия answers the last user message, with her persona and her memory of the session."""
    text = last_user_text(body.messages)
    if len(text) > MAX_CHAT_CHARS:
        raise TextTooLongError(
            f"the last user message has {len(text)} characters; the limit is {MAX_CHAT_CHARS}",
            param="messages",
        )
    session_id = session_for(x_session_id, x_openwebui_chat_id, body.user)
    if body.model != CHAT_MODEL:
        log.info("chat model %r requested; the only chat model is %r", body.model, CHAT_MODEL)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    headers = {"X-Session-Id": session_id}
    if body.stream:
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        return sse_response(
            _chat_chunks(secretary, session_id, text, completion_id, include_usage), headers
        )
    result = await secretary.reply(session_id, text)
    return JSONResponse(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": CHAT_MODEL,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.reply, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _chat_usage(text, result.reply),
        },
        headers=headers,
    )


def _chat_usage(prompt: str, reply: str) -> dict:
    prompt_tokens, completion_tokens = estimate_tokens(prompt), estimate_tokens(reply)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


async def _chat_chunks(
    secretary: Secretary, session_id: str, text: str, completion_id: str, include_usage: bool
) -> AsyncIterator[str]:
    created = int(time.time())

    def chunk(head: dict, choices: list[dict], **extra: Any) -> str:
        base = {"id": completion_id, "object": "chat.completion.chunk", "created": created}
        return sse_event({**base, "model": CHAT_MODEL, **head, "choices": choices, **extra})

    def delta(content: dict, finish: str | None = None) -> str:
        choice = {"index": 0, "delta": content, "logprobs": None, "finish_reason": finish}
        return chunk({"system_fingerprint": None}, [choice])

    yield delta({"role": "assistant", "content": ""})
    stream = secretary.reply_stream(session_id, text)
    said: list[str] = []
    try:
        async for piece in stream:
            said.append(piece)
            yield delta({"content": piece})
    finally:
        await stream.aclose()  # a client that left mid-reply still leaves a recorded turn
    yield delta({}, "stop")
    if include_usage:
        yield chunk({}, [], usage=_chat_usage(text, "".join(said)))
    yield SSE_DONE
