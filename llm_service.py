"""The secretary's LLM (Gemini or any OpenAI-compatible API): the public names, kept where the
original design put them. The code lives in `lidia.llm`.
"""

from lidia.llm.backends import (
    ChatMessage,
    ChatModel,
    GeminiChat,
    LLMError,
    LLMHealth,
    OpenAICompatChat,
    RetryingChat,
    build_chat_model,
)

__all__ = [
    "ChatMessage",
    "ChatModel",
    "GeminiChat",
    "LLMError",
    "LLMHealth",
    "OpenAICompatChat",
    "RetryingChat",
    "build_chat_model",
]
