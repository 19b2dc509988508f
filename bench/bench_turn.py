"""Issue "The secretary's brain" benchmark: what streaming a turn buys, and what it costs.

    python -m bench.bench_turn

The LLM is the fake OpenAI-compatible server with a realistic first-token delay and a fixed
token rate, so the numbers measure our pipeline, not a provider's mood.

- /process_call time to first audio byte, streamed ÷ not streamed   (goal ≤ 0.5, 3 sentences)
- streamed time to first audio ÷ (STT + LLM first sentence + TTS first sentence) measured
  separately in the same run                                          (goal ≤ 1.15)
"""

from __future__ import annotations

import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import Row, bench_settings, bench_stt, print_rows

REPEATS = 5
FIRST_TOKEN_DELAY_S = 0.35
TOKEN_DELAY_S = 0.025  # 40 tokens/s: a local model on a GPU, or a busy hosted one
REPLY = (
    "Здравствуйте, вы позвонили в компанию Ромашка. Наш офис работает с девяти до "
    "шести по будним дням. Оставьте, пожалуйста, ваше имя и номер телефона, и мы вам "
    "перезвоним."
)
WAV_HEADER_BYTES = 44


def run() -> list[Row]:
    from lidia.orchestrator.app import create_app
    from lidia.tts.service import VoiceService
    from tests.support.fake_llm_servers import FakeOpenAI, Script
    from tests.support.live_server import live_server
    from tests.support.speech_fixtures import ENGLISH_SENTENCE, espeak_wav

    script = Script(
        text=REPLY,
        pieces=_tokens(REPLY),
        first_token_delay_s=FIRST_TOKEN_DELAY_S,
        token_delay_s=TOKEN_DELAY_S,
    )
    wav = espeak_wav(ENGLISH_SENTENCE)
    details: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch, FakeOpenAI() as llm:
        llm.reset(script)
        settings = bench_settings(
            Path(scratch),
            openai_base_url=llm.base_url,
            llm_backend="openai",
            stt_language="en",
            orchestrator_api_key=None,
            redis_url=None,
        )
        stt = bench_stt(settings)
        voice = VoiceService.from_settings(settings)
        try:
            app = create_app(settings, stt=stt, tts=voice)
            with live_server(app) as base_url, httpx.Client(base_url=base_url, timeout=120) as http:
                _first_audio(http, wav, stream=True)  # warm-up
                whole = statistics.median(
                    _first_audio(http, wav, stream=False) for _ in range(REPEATS)
                )
                streamed = statistics.median(
                    _first_audio(http, wav, stream=True) for _ in range(REPEATS)
                )
            parts = asyncio.run(_separate_stages(settings, stt, voice, wav))
        finally:
            voice.close()
    details["first audio, not streamed (whole reply), s"] = whole
    details["first audio, streamed, s"] = streamed
    for name, value in parts.items():
        details[f"separately: {name}, s"] = value
    unavoidable = sum(parts.values())
    rows = [
        ("/process_call first audio: streamed ÷ not streamed", streamed / whole, "≤ 0.5"),
        (
            "streamed first audio ÷ (stt + llm 1st sentence + tts 1st)",
            streamed / unavoidable,
            "≤ 1.15",
        ),
    ]
    print_rows("turn: streaming STT → LLM → TTS", rows, details)
    return rows


def _tokens(text: str) -> list[str]:
    """Pieces the size of real LLM tokens (about 4 characters of Russian each)."""
    return re.findall(r".{1,4}", text, flags=re.DOTALL)


def _first_audio(http: httpx.Client, wav: bytes, *, stream: bool) -> float:
    """Seconds from sending the request to the first byte of reply audio."""
    url = "/process_call?stream=true" if stream else "/process_call"
    started = time.perf_counter()
    with http.stream(
        "POST",
        url,
        files={"audio": ("a.wav", wav, "audio/wav")},
        data={"session_id": f"bench-{time.monotonic_ns()}"},
    ) as response:
        response.raise_for_status()
        received, first = 0, None
        for chunk in response.iter_bytes():  # read to the end: the turn finishes before the next
            received += len(chunk)
            if first is None and received > WAV_HEADER_BYTES:
                first = time.perf_counter() - started
    assert first is not None, "the reply had no audio"
    return first


async def _separate_stages(settings, stt, voice, wav: bytes) -> dict[str, float]:
    from lidia.audio.codecs import decode_audio
    from lidia.llm.base import ChatMessage
    from lidia.llm.registry import build_chat_model
    from lidia.stt.base import STT_SAMPLE_RATE
    from lidia.text.sentences import SentenceStream

    samples = decode_audio(wav, sample_rate=STT_SAMPLE_RATE)
    stt_times, llm_times, tts_times = [], [], []
    model, _ = build_chat_model(settings)
    assert model is not None
    try:
        for _ in range(REPEATS):
            started = time.perf_counter()
            transcript = await asyncio.to_thread(stt.transcribe, samples, "en")
            stt_times.append(time.perf_counter() - started)

            started = time.perf_counter()
            splitter = SentenceStream(  # the same cut as the pipeline: what is spoken first
                max_chars=settings.tts_chunk_chars,
                first_clause_chars=settings.tts_first_clause_chars,
            )
            first_sentence = None
            async for piece in model.stream("system", [ChatMessage("user", transcript.text)]):
                if first_sentence is None and (done := splitter.feed(piece)):
                    first_sentence = done[0]
                    llm_times.append(time.perf_counter() - started)
            first_sentence = first_sentence or splitter.flush()[0]

            started = time.perf_counter()
            pieces = voice.stream(first_sentence, language="ru")
            await anext(pieces)
            tts_times.append(time.perf_counter() - started)
            await pieces.aclose()
    finally:
        await model.aclose()
    return {
        "stt": statistics.median(stt_times),
        "llm first sentence": statistics.median(llm_times),
        "tts first audio of sentence 1": statistics.median(tts_times),
    }


if __name__ == "__main__":
    run()
