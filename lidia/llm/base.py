"""The chat-LLM interface: what the secretary, routers and every backend import.

`ChatModel` is the backend Protocol; `ChatMessage` one turn of the conversation. Backends live
beside it (`gemini`, `openai_compat`); `registry` alone knows which one the settings choose.

Tools (function calling) are optional: a backend that can offer them sets
`supports_tools = True` and accepts `tools=` in `stream` and `complete_turn`; its stream then
yields `ToolCall`s besides text. Callers check `supports_tools(model)` first, so a backend
(or a test fake) without tools keeps working as plain talk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call: its name, what it is for, its JSON Schema parameters."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """The model asks for `name(**arguments)`. `id` pairs it with its result (OpenAI, Gemini
    3); `signature` is Gemini's opaque thought signature, which must be sent back with it."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    signature: bytes | None = None


@dataclass(frozen=True)
class ChatReply:
    """A whole (non-streamed) answer: its text and the tools it called."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class ChatMessage:
    """One message. `assistant` may carry the `tool_calls` it made; a `tool` message is the
    result (`content`, JSON text) of the call `tool_call`."""

    role: Literal["user", "assistant", "tool"]
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call: ToolCall | None = None


@runtime_checkable
class ChatModel(Protocol):
    """A chat LLM. `name` is the backend ("gemini" | "openwebui" | "openai"), `model` its model.

    `complete` returns the whole reply; `stream` yields text pieces as they arrive. Both raise
    `LLMError` (never SDK/HTTP exceptions). `aclose` releases connections.
    """

    name: str
    model: str

    async def complete(self, system: str, messages: Sequence[ChatMessage]) -> str: ...

    def stream(self, system: str, messages: Sequence[ChatMessage]) -> AsyncIterator[str]: ...

    async def aclose(self) -> None: ...


def supports_tools(model: object) -> bool:
    """Whether `model` takes `tools=` (a backend, or `RetryingChat` around one, that says so)."""
    return bool(getattr(model, "supports_tools", False))
