"""Choosing the LLM backend from settings: the one place that knows every backend's name.

Adding a backend touches its own module and this one, nothing else.
"""

from __future__ import annotations

from typing import Any

from lidia.core.settings import Settings
from lidia.llm.base import ChatModel
from lidia.llm.gemini import GeminiChat
from lidia.llm.openai_compat import OpenAICompatChat

OPENWEBUI_KEY_HOWTO = (
    "create an API key in OpenWebUI: Settings → Account → API Keys and set OPENWEBUI_API_KEY"
)
NOT_CONFIGURED_REASON = (
    "LLM not configured: set GEMINI_API_KEY, or OPENWEBUI_URL + OPENWEBUI_API_KEY, "
    "or OPENAI_BASE_URL in .env"
)


def build_chat_model(settings: Settings) -> tuple[ChatModel | None, str]:
    """The configured backend (not yet wrapped in `RetryingChat`) and a line for `/health`.

    Returns `(None, reason)` when the chosen backend lacks what it needs; `reason` says how to
    configure it. Nothing is contacted here.
    """
    backend = settings.llm_backend
    if backend == "auto":
        if settings.gemini_api_key is not None:
            backend = "gemini"
        elif settings.openwebui_url:
            backend = "openwebui"
        elif settings.openai_base_url:
            backend = "openai"
        else:
            return None, NOT_CONFIGURED_REASON
    if backend == "gemini":
        return _build_gemini(settings)
    if backend == "openwebui":
        return _build_openwebui(settings)
    return _build_openai(settings)


def _common_options(settings: Settings) -> dict[str, Any]:
    return {
        "temperature": settings.llm_temperature,
        "max_output_tokens": settings.llm_max_output_tokens,
        "timeout_s": settings.llm_timeout_s,
    }


def _build_gemini(settings: Settings) -> tuple[ChatModel | None, str]:
    if settings.gemini_api_key is None:
        return None, "LLM not configured: LLM_BACKEND=gemini needs GEMINI_API_KEY in .env"
    model = GeminiChat(
        api_key=settings.gemini_api_key.get_secret_value(),
        model=settings.gemini_model,
        base_url=settings.gemini_base_url,
        **_common_options(settings),
    )
    where = f" via {settings.gemini_base_url}" if settings.gemini_base_url else ""
    return model, f"gemini: {settings.gemini_model}{where}"


def _build_openwebui(settings: Settings) -> tuple[ChatModel | None, str]:
    if not settings.openwebui_url:
        return None, "LLM not configured: LLM_BACKEND=openwebui needs OPENWEBUI_URL in .env"
    if settings.openwebui_api_key is None:
        return None, f"LLM not configured: OpenWebUI needs an API key: {OPENWEBUI_KEY_HOWTO}"
    url = settings.openwebui_url.rstrip("/")
    model = OpenAICompatChat(
        name="openwebui",
        base_url=f"{url}/api",
        model=settings.openwebui_model,
        api_key=settings.openwebui_api_key.get_secret_value(),
        require_key=True,
        auth_hint=OPENWEBUI_KEY_HOWTO,
        **_common_options(settings),
    )
    return model, f"openwebui: {settings.openwebui_model} at {url}"


def _build_openai(settings: Settings) -> tuple[ChatModel | None, str]:
    if not settings.openai_base_url:
        return None, "LLM not configured: LLM_BACKEND=openai needs OPENAI_BASE_URL in .env"
    key = settings.openai_api_key
    model = OpenAICompatChat(
        name="openai",
        base_url=settings.openai_base_url,
        model=settings.openai_model,
        api_key=key.get_secret_value() if key is not None else None,
        auth_hint="check OPENAI_API_KEY",
        **_common_options(settings),
    )
    return model, f"openai: {settings.openai_model} at {settings.openai_base_url}"
