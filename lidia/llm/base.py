"""The chat-LLM interface: what the secretary, routers and every backend import.

`ChatModel` is the backend Protocol; `ChatMessage` one turn of the conversation. Backends live
beside it (`gemini`, `openai_compat`); `registry` alone knows which one the settings choose.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["user", "assistant"]
    content: str


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
