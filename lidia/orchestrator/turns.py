"""One conversational turn: caller audio → transcript → the secretary's reply → speech.

Two shapes of the same turn:
- `run_turn` waits for the whole reply, then synthesizes it (one WAV, simple clients);
- `stream_turn` overlaps the stages: the LLM's token stream is cut into sentences, each
  sentence is synthesized as soon as it is complete, and audio pieces are yielded in order
  while later sentences are still in the LLM or the TTS. That is what makes a phone turn
  feel immediate: the caller hears the first sentence while the rest is being written.

What the secretary decided to do (transfer, hang up, take a message) comes after the spoken
sentences and before `done`: one "action" event each, `{"name", "arguments"}`, also listed
in `done`'s `actions`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field

import numpy as np

from lidia.core.errors import InvalidTextError
from lidia.orchestrator.speech_ops import transcribe_bytes
from lidia.secretary.brain import NO_SPEECH_REPLY, Secretary
from lidia.secretary.channel import TEXT_CHAT, TurnChannel
from lidia.stt.base import SpeechToText, Transcript
from lidia.text.sentences import SentenceStream
from lidia.tts.service import VoiceService

log = logging.getLogger(__name__)


@dataclass
class TurnTimings:
    """Seconds. `first_audio_s` and `total_s` count from the start of the turn."""

    stt_s: float = 0.0
    llm_first_token_s: float | None = None
    llm_total_s: float = 0.0
    tts_first_audio_s: float | None = None  # first sentence handed to TTS → its first audio
    first_audio_s: float | None = None
    total_s: float = 0.0

    def rounded(self) -> dict:
        return {k: (round(v, 4) if v is not None else None) for k, v in asdict(self).items()}


@dataclass
class TurnResult:
    transcript: Transcript
    reply: str
    fallback: bool
    samples: np.ndarray
    sample_rate: int
    timings: TurnTimings
    actions: list[dict] = field(default_factory=list)


@dataclass
class TurnEvent:
    """One step of a streamed turn, in the order it happened."""

    kind: str  # "transcript" | "sentence" | "audio" | "action" | "done"
    text: str = ""
    samples: np.ndarray | None = None
    sample_rate: int = 0
    fallback: bool = False
    timings: TurnTimings | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class TurnContext:
    stt: SpeechToText
    voice: VoiceService
    secretary: Secretary
    stt_language: str | None
    tts_language: str | None
    first_clause_chars: int = 0  # see Settings.tts_first_clause_chars
    channel: TurnChannel = TEXT_CHAT  # a phone turn names the actions its call can carry out


async def heard(ctx: TurnContext, audio: bytes | None, transcript: str | None) -> Transcript:
    """What the caller said: recognised here, or as the client already recognised it.

    The phone recognises an utterance speculatively while the caller pauses; when the pause
    turns out to be the end of the turn, it sends those words and speech-to-text is skipped.
    """
    if transcript is not None:
        return Transcript(
            text=transcript.strip(),
            language=ctx.stt_language or "",
            language_probability=1.0,
            duration=0.0,
        )
    assert audio is not None, "the route requires audio when no transcript is given"
    return await transcribe_bytes(ctx.stt, audio, ctx.stt_language)


async def run_turn(
    ctx: TurnContext,
    audio: bytes | None,
    session_id: str,
    transcript_text: str | None = None,
    turn_id: str | None = None,
) -> TurnResult:
    started = time.perf_counter()
    timings = TurnTimings()
    transcript = await heard(ctx, audio, transcript_text)
    timings.stt_s = time.perf_counter() - started

    actions: list[dict] = []
    if not transcript.text.strip():
        reply, fallback = NO_SPEECH_REPLY, False
    else:
        result = await ctx.secretary.reply(session_id, transcript.text, turn_id, ctx.channel)
        reply, fallback, actions = result.reply, result.fallback, list(result.actions)
        timings.llm_first_token_s = result.llm_first_token_s
        timings.llm_total_s = result.llm_total_s

    tts_started = time.perf_counter()
    samples, sample_rate = await ctx.voice.synthesize(reply, language=ctx.tts_language)
    timings.tts_first_audio_s = time.perf_counter() - tts_started
    timings.first_audio_s = timings.total_s = time.perf_counter() - started
    return TurnResult(transcript, reply, fallback, samples, sample_rate, timings, actions)


async def stream_turn(
    ctx: TurnContext,
    audio: bytes | None,
    session_id: str,
    transcript_text: str | None = None,
    turn_id: str | None = None,
) -> AsyncIterator[TurnEvent]:
    """Yield the turn's events: transcript, then sentences and their audio, then done."""
    started = time.perf_counter()
    timings = TurnTimings()
    transcript = await heard(ctx, audio, transcript_text)
    timings.stt_s = time.perf_counter() - started
    yield TurnEvent("transcript", text=transcript.text, extra={"language": transcript.language})

    sentences: asyncio.Queue[str | None] = asyncio.Queue()
    outcome: dict = {}
    if transcript.text.strip():
        producer = asyncio.create_task(
            _produce_sentences(ctx, session_id, transcript.text, sentences, outcome, turn_id)
        )
    else:
        producer = None
        outcome.update(reply=NO_SPEECH_REPLY, fallback=False)
        sentences.put_nowait(NO_SPEECH_REPLY)
        sentences.put_nowait(None)

    rate = ctx.voice.engine_for(None).sample_rate
    pause = np.zeros(int(rate * ctx.voice.pause_ms / 1000), dtype=np.float32)
    try:
        spoken = 0
        while (sentence := await sentences.get()) is not None:
            try:
                # Only a turn's first sentence jumps the engine queue: later ones take
                # their turn behind other callers' first sentences.
                pieces = ctx.voice.stream(
                    sentence, language=ctx.tts_language, first_chunk_priority=spoken == 0
                )
            except InvalidTextError:
                # Nothing to say aloud ("***", a lone emoji): skip it, the turn goes on.
                log.info("skipping an unspeakable piece of the reply: %r", sentence[:40])
                continue
            yield TurnEvent("sentence", text=sentence)
            if spoken and pause.size:
                yield TurnEvent("audio", samples=pause, sample_rate=rate)  # between sentences
            spoken += 1
            tts_started = time.perf_counter()
            async for piece in pieces:
                now = time.perf_counter()
                if timings.first_audio_s is None:
                    timings.first_audio_s = now - started
                    timings.tts_first_audio_s = now - tts_started
                yield TurnEvent("audio", samples=piece, sample_rate=rate)
        if producer is not None:
            await producer
    finally:
        if producer is not None and not producer.done():
            producer.cancel()  # the client went away: stop paying for LLM tokens

    actions = list(outcome.get("actions", ()))
    for action in actions:  # after every sentence is out: the caller has heard the notice
        yield TurnEvent("action", extra=action)
    timings.llm_first_token_s = outcome.get("llm_first_token_s")
    timings.llm_total_s = outcome.get("llm_total_s", 0.0)
    timings.total_s = time.perf_counter() - started
    yield TurnEvent(
        "done",
        text=outcome.get("reply", ""),
        fallback=outcome.get("fallback", False),
        timings=timings,
        extra={"transcript": transcript.text, "actions": actions},
    )


async def _produce_sentences(
    ctx: TurnContext,
    session_id: str,
    text: str,
    out: asyncio.Queue[str | None],
    outcome: dict,
    turn_id: str | None = None,
) -> None:
    """Feed the LLM's pieces through the sentence splitter into `out`; None ends it."""
    splitter = SentenceStream(
        max_chars=ctx.voice.chunk_chars, first_clause_chars=ctx.first_clause_chars
    )
    stream = ctx.secretary.reply_stream(session_id, text, turn_id, ctx.channel)
    try:
        async for piece in stream:
            for sentence in splitter.feed(piece):
                await out.put(sentence)
        for sentence in splitter.flush():
            await out.put(sentence)
        result = stream.result
        outcome.update(
            reply=result.reply,
            fallback=result.fallback,
            llm_first_token_s=result.llm_first_token_s,
            llm_total_s=result.llm_total_s,
            actions=result.actions,
        )
    finally:
        await stream.aclose()  # cancelled mid-reply: the part said so far is recorded
        await out.put(None)
