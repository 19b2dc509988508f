"""The secretary's LLM (Gemini or any OpenAI-compatible API): the public names, kept where the
original design put them. The code lives in `lidia.llm`.
"""

from lidia.llm.base import ChatMessage, ChatModel
from lidia.llm.errors import LLMError
from lidia.llm.gemini import GeminiChat
from lidia.llm.health import LLMHealth
from lidia.llm.openai_compat import OpenAICompatChat
from lidia.llm.registry import build_chat_model
from lidia.llm.retries import RetryingChat

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
