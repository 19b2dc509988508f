"""Fake LLM servers speaking the real wire protocols on 127.0.0.1, for tests and benchmarks.

- `FakeGemini`: `POST /{v1|v1beta}/models/{model}:generateContent` and
  `:streamGenerateContent?alt=sse` (what google-genai calls with a custom `base_url`).
- `FakeOpenAI`: `POST /chat/completions`, `/v1/chat/completions` and `/api/chat/completions`
  (OpenWebUI), plain JSON or SSE (`stream: true`, `data: [DONE]`).

Each runs uvicorn in a background thread on a free port, so it serves sync and async tests
alike: `with FakeGemini() as fake: ... fake.base_url ...`. Behaviour is scripted with `Script`
(set `fake.script`, or `fake.enqueue(...)` one script per upcoming request). Every request is
recorded in `fake.requests` (headers + JSON body), and every streamed token in `fake.log`, an
`EventLog` with a global sequence number: a test can pass its own `EventLog` and add its own
events to it, then prove ordering by sequence numbers instead of wall-clock thresholds. A
token event is logged just before its bytes are handed to the server, so "X happened before
token N's event" implies X happened before token N was sent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from lidia.core.settings import Settings

DEFAULT_REPLY = "Здравствуйте! Чем могу помочь?"
_GEMINI_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass
class Script:
    """How the fake answers. Request numbers count from 0 since the last `reset()`.

    Requests with number < `fail_first` get HTTP `fail_status`; those < `hang_first` stall for
    `hang_s` seconds before answering (a timeout for the client). A stream sends `pieces`
    (default: the words of `text`, spaces kept) after `first_token_delay_s`, `token_delay_s`
    apart; with `hang_after_pieces=N` it stalls for `hang_s` after N pieces. `malformed` sends
    invalid JSON. Gemini only: `empty_candidates`, `block_reason` (promptFeedback),
    `finish_reason` (e.g. "SAFETY", sent with no content).

    Tools: `tool_calls` (`[{"name", "arguments"}]`) are answered after the text, as each API
    does: Gemini `functionCall` parts (streamed: one more chunk), OpenAI `message.tool_calls`
    (streamed: `delta.tool_calls` with the arguments JSON cut in fragments, then
    `finish_reason: "tool_calls"`). `refuse_tools` answers a request that offers tools with
    400, as Ollama does for a model without tool support.
    """

    text: str = DEFAULT_REPLY
    pieces: list[str] | None = None
    first_token_delay_s: float = 0.0
    token_delay_s: float = 0.0
    fail_first: int = 0
    fail_status: int = 500
    hang_first: int = 0
    hang_s: float = 5.0
    hang_after_pieces: int | None = None
    malformed: bool = False
    empty_candidates: bool = False
    block_reason: str | None = None
    finish_reason: str = "STOP"
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    refuse_tools: bool = False

    def generation_s(self) -> float:
        """How long producing the whole reply takes: a non-streamed answer waits this long,
        as a real server's does (it cannot answer before the last token exists)."""
        pieces = len(self.stream_pieces())
        return self.first_token_delay_s + self.token_delay_s * max(0, pieces - 1)

    def stream_pieces(self) -> list[str]:
        if self.pieces is not None:
            return self.pieces
        # Blank text still goes out as one (empty) piece, as a real server would send it.
        return re.findall(r"\S+\s*", self.text) or [self.text]


@dataclass(frozen=True)
class Event:
    seq: int
    t: float  # time.monotonic()
    source: str
    kind: str
    data: dict[str, Any]


class EventLog:
    """A thread-safe, globally ordered log of events from fakes and tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._events: list[Event] = []

    def add(self, source: str, kind: str, **data: Any) -> Event:
        with self._lock:
            event = Event(next(self._seq), time.monotonic(), source, kind, data)
            self._events.append(event)
            return event

    def events(self, source: str | None = None, kind: str | None = None) -> list[Event]:
        with self._lock:
            return [
                e
                for e in self._events
                if (source is None or e.source == source) and (kind is None or e.kind == kind)
            ]

    def clear(self, source: str | None = None) -> None:
        with self._lock:
            self._events = [e for e in self._events if source is not None and e.source != source]


@dataclass(frozen=True)
class RecordedRequest:
    number: int
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None when the body was not JSON
    seq: int  # sequence number of its "request" event in the log


@dataclass
class _State:
    requests: list[RecordedRequest] = field(default_factory=list)
    queue: deque[Script] = field(default_factory=deque)


class _FakeServer:
    source = "fake"

    def __init__(
        self,
        script: Script | None = None,
        *,
        api_key: str | None = None,
        log: EventLog | None = None,
    ) -> None:
        self.script = script or Script()
        self.api_key = api_key
        self.log = log or EventLog()
        self._state = _State()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port = 0

    # --- lifecycle ---
    def start(self) -> Self:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self._app(),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends scripted stalls at once
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- scripting and inspection ---
    def reset(self, script: Script | None = None) -> None:
        """Forget recorded requests, queued scripts and this fake's events; set a new script."""
        with self._lock:
            self._state = _State()
        self.log.clear(self.source)
        self.script = script or Script()

    def enqueue(self, *scripts: Script) -> None:
        """Use these scripts for the next requests, one each, before falling back to `script`."""
        with self._lock:
            self._state.queue.extend(scripts)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._state.requests)

    def token_events(self) -> list[Event]:
        return self.log.events(self.source, "token")

    # --- helpers for the apps ---
    async def _record(self, request: Request) -> tuple[RecordedRequest, Script]:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        event = self.log.add(self.source, "request", path=request.url.path)
        with self._lock:
            number = len(self._state.requests)
            recorded = RecordedRequest(
                number,
                request.url.path,
                dict(request.query_params),
                {k.lower(): v for k, v in request.headers.items()},
                body,
                event.seq,
            )
            self._state.requests.append(recorded)
            script = self._state.queue.popleft() if self._state.queue else self.script
        return recorded, script

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when the server is stopping."""
        deadline = time.monotonic() + seconds
        # Polling, because the stop signal comes from another thread (the test's).
        while not self._stopping.is_set() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(min(0.02, max(0.0, deadline - time.monotonic())))

    async def _sse(
        self,
        script: Script,
        encode: Callable[[int, str, bool], str],
        tail: str = "",
        after_text: Sequence[str] = (),
    ) -> AsyncIterator[str]:
        pieces = script.stream_pieces()
        await self._pause(script.first_token_delay_s)
        for index, piece in enumerate(pieces):
            if script.hang_after_pieces == index:
                await self._pause(script.hang_s)  # a stall mid-stream; the stream then ends
                return
            if index and script.token_delay_s:
                await self._pause(script.token_delay_s)
            last = index == len(pieces) - 1
            self.log.add(self.source, "token", index=index, text=piece, last=last)
            yield encode(index, piece, last)
        if script.hang_after_pieces == len(pieces):
            await self._pause(script.hang_s)
            return
        for frame in after_text:  # tool calls come after the words
            yield frame
        self.log.add(self.source, "end", pieces=len(pieces))
        if tail:
            yield tail

    def _app(self) -> Starlette:
        raise NotImplementedError


class FakeGemini(_FakeServer):
    """A Gemini API fake. With `api_key` set, a wrong `x-goog-api-key` gets Gemini's 400."""

    source = "gemini"

    def _app(self) -> Starlette:
        return Starlette(
            routes=[Route("/{version}/models/{target}", self._handle, methods=["POST"])]
        )

    async def _handle(self, request: Request) -> Response:
        recorded, script = await self._record(request)
        model, _, action = request.path_params["target"].partition(":")
        if self.api_key is not None and recorded.headers.get("x-goog-api-key") != self.api_key:
            return self._error(400, "API key not valid. Please pass a valid API key.")
        if recorded.number < script.hang_first:
            await self._pause(script.hang_s)
        if recorded.number < script.fail_first:
            return self._error(script.fail_status, f"scripted failure {script.fail_status}")
        if script.refuse_tools and isinstance(recorded.body, dict) and recorded.body.get("tools"):
            return self._error(400, "Function calling is not enabled for this model")
        if action == "generateContent":
            await self._pause(script.generation_s())
            return self._complete(script, model)
        if action == "streamGenerateContent":
            return self._stream(script, model)
        return self._error(404, f"unknown action {action!r}")

    def _error(self, status: int, message: str) -> Response:
        body = {
            "error": {
                "code": status,
                "message": message,
                "status": _GEMINI_STATUS_NAMES.get(status, "UNKNOWN"),
            }
        }
        return JSONResponse(body, status_code=status)

    @staticmethod
    def _refusal(script: Script) -> dict[str, Any] | None:
        """The body of a blocked/empty answer, or None for a normal one."""
        if script.block_reason is not None:
            return {"promptFeedback": {"blockReason": script.block_reason}}
        if script.empty_candidates:
            return {"candidates": []}
        if script.finish_reason != "STOP":
            return {"candidates": [{"finishReason": script.finish_reason, "index": 0}]}
        return None

    @staticmethod
    def _payload(
        text: str, model: str, finish: str | None, calls: Sequence[dict[str, Any]] = ()
    ) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": text}] if text or not calls else []
        parts += [
            {"functionCall": {"name": c["name"], "args": c.get("arguments", {})}} for c in calls
        ]
        candidate: dict[str, Any] = {
            "content": {"role": "model", "parts": parts},
            "index": 0,
        }
        if finish is not None:
            candidate["finishReason"] = finish
        return {"candidates": [candidate], "modelVersion": model}

    def _complete(self, script: Script, model: str) -> Response:
        if script.malformed:
            return Response('{"candidates": [', media_type="application/json")
        refusal = self._refusal(script)
        if refusal is not None:
            return JSONResponse(refusal)
        return JSONResponse(self._payload(script.text, model, "STOP", script.tool_calls))

    def _stream(self, script: Script, model: str) -> Response:
        def frame(payload: dict[str, Any]) -> str:
            return f"data: {json.dumps(payload, ensure_ascii=False)}\r\n\r\n"

        if script.malformed:
            return _sse_response(_single("data: {not json\r\n\r\n"))
        refusal = self._refusal(script)
        if refusal is not None:
            return _sse_response(_single(frame(refusal)))

        def encode(index: int, piece: str, last: bool) -> str:
            finish = "STOP" if last and not script.tool_calls else None
            return frame(self._payload(piece, model, finish))

        calls = [frame(self._payload("", model, "STOP", script.tool_calls))]
        return _sse_response(
            self._sse(script, encode, after_text=calls if script.tool_calls else ())
        )


class FakeOpenAI(_FakeServer):
    """An OpenAI-compatible chat server (also at OpenWebUI's `/api/chat/completions`).

    With `api_key` set, a missing or wrong `Authorization: Bearer` gets OpenWebUI's 401.
    """

    source = "openai"

    def _app(self) -> Starlette:
        paths = ("/chat/completions", "/v1/chat/completions", "/api/chat/completions")
        return Starlette(routes=[Route(p, self._handle, methods=["POST"]) for p in paths])

    async def _handle(self, request: Request) -> Response:
        recorded, script = await self._record(request)
        if self.api_key is not None and recorded.headers.get("authorization") != (
            f"Bearer {self.api_key}"
        ):
            return JSONResponse({"detail": "Not authenticated"}, status_code=401)
        if recorded.number < script.hang_first:
            await self._pause(script.hang_s)
        if recorded.number < script.fail_first:
            message = f"scripted failure {script.fail_status}"
            return JSONResponse(
                {"error": {"message": message, "code": script.fail_status}},
                status_code=script.fail_status,
            )
        body = recorded.body if isinstance(recorded.body, dict) else {}
        model = str(body.get("model", "fake"))
        if script.refuse_tools and body.get("tools"):
            message = f"registry.ollama.ai/library/{model} does not support tools"
            return JSONResponse({"error": {"message": message}}, status_code=400)
        if body.get("stream"):
            return self._stream(script, model)
        await self._pause(script.generation_s())
        if script.malformed:
            return Response('{"choices": [', media_type="application/json")
        if script.tool_calls:
            return JSONResponse(_openai_tool_completion(script, model))
        return JSONResponse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": script.text},
                        "finish_reason": "stop",
                    }
                ],
            }
        )

    def _stream(self, script: Script, model: str) -> Response:
        if script.malformed:
            return _sse_response(_single("data: {not json\n\n"))

        def encode(index: int, piece: str, last: bool) -> str:
            chunk = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"content": piece},
                        "finish_reason": "stop" if last else None,
                    }
                ],
            }
            return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

        calls = _openai_tool_deltas(script, model)
        return _sse_response(self._sse(script, encode, tail="data: [DONE]\n\n", after_text=calls))


def _openai_tool_completion(script: Script, model: str) -> dict[str, Any]:
    calls = [
        {
            "id": f"call_{index}",
            "type": "function",
            "function": {
                "name": call["name"],
                "arguments": json.dumps(call.get("arguments", {}), ensure_ascii=False),
            },
        }
        for index, call in enumerate(script.tool_calls)
    ]
    message = {"role": "assistant", "content": script.text or None, "tool_calls": calls}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
    }


def _openai_tool_deltas(script: Script, model: str) -> list[str]:
    """Streamed tool calls as OpenAI sends them: id and name first, arguments in pieces."""
    frames: list[str] = []

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        body = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model}
        return f"data: {json.dumps({**body, 'choices': [choice]}, ensure_ascii=False)}\n\n"

    for index, call in enumerate(script.tool_calls):
        arguments = json.dumps(call.get("arguments", {}), ensure_ascii=False)
        head = {"index": index, "id": f"call_{index}", "type": "function"}
        head["function"] = {"name": call["name"], "arguments": ""}
        frames.append(chunk({"tool_calls": [head]}))
        for start in range(0, len(arguments), 7):  # fragments, as real servers cut them
            piece = {"index": index, "function": {"arguments": arguments[start : start + 7]}}
            frames.append(chunk({"tool_calls": [piece]}))
    if frames:
        frames.append(chunk({}, "tool_calls"))
    return frames


async def _single(data: str) -> AsyncIterator[str]:
    yield data


def _sse_response(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream")


def llm_settings(**overrides: Any) -> Settings:
    """Settings for LLM tests: no `.env`, no backend configured, tiny timeouts and waits.

    Every backend field is set explicitly so that variables in the environment cannot leak in.
    """
    values: dict[str, Any] = {
        "llm_backend": "auto",
        "gemini_api_key": None,
        "gemini_base_url": None,
        "openwebui_url": None,
        "openwebui_api_key": None,
        "openai_base_url": None,
        "openai_api_key": None,
        "redis_url": None,
        "llm_timeout_s": 0.5,
        "llm_retry_base_s": 0.01,
        "llm_max_retries": 2,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)
