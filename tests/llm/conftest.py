"""The fake LLM servers of every module here insist on the test keys."""

from __future__ import annotations

import pytest

from tests.support.llm_cases import GEMINI_KEY, OPENWEBUI_KEY


@pytest.fixture(scope="module")
def gemini_server_key() -> str:
    return GEMINI_KEY


@pytest.fixture(scope="module")
def openai_server_key() -> str:
    return OPENWEBUI_KEY
