"""Both backends stream: pieces reach the caller while the server is still sending."""

from __future__ import annotations

import pytest

from lidia.llm.registry import build_chat_model
from tests.support.fake_llm_servers import FakeGemini, FakeOpenAI, Script
from tests.support.llm_cases import HISTORY, SYSTEM, gemini_settings, openwebui_settings


@pytest.mark.parametrize("backend_name", ["gemini", "openwebui"])
async def test_stream_delivers_pieces_while_the_server_is_still_sending(
    backend_name: str, gemini: FakeGemini, openai: FakeOpenAI
) -> None:
    # Ordering proof, not timing: the client logs each piece into the fake's own event log, and
    # the first piece must be logged before the server logs its last token (no buffering).
    fake = gemini if backend_name == "gemini" else openai
    settings = gemini_settings(gemini) if backend_name == "gemini" else openwebui_settings(openai)
    fake.script = Script(pieces=["Раз. ", "Два. ", "Три. ", "Четыре."], token_delay_s=0.05)
    model, _ = build_chat_model(settings)
    assert model is not None
    try:
        async for piece in model.stream(SYSTEM, HISTORY):
            fake.log.add("client", "piece", text=piece)
    finally:
        await model.aclose()
    received = fake.log.events("client", "piece")
    tokens = fake.token_events()
    assert [e.data["text"] for e in received] == ["Раз. ", "Два. ", "Три. ", "Четыре."]
    assert received[0].seq < tokens[-1].seq
