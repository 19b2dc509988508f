"""One Twilio Media Streams call: caller audio in, Лидия's voice out, with barge-in.

Protocol (see design.md §4): Twilio sends text frames `connected`, `start`, `media`
(base64 μ-law 8 kHz, 20 ms), `mark` (echo of our mark once the audio before it has played),
`dtmf`, `stop`. We send `media` (20 ms μ-law frames), `mark` after each reply sentence,
and `clear` (drop buffered playback) when the caller interrupts.

Flow per call:
- `start` → the call must already be recorded (created by `POST /twilio/voice`), else the
  socket is closed; the greeting plays (interruptible like any reply).
- caller audio → Silero VAD (`vad.StreamingVad`) → each utterance, as an 8 kHz WAV, goes to
  the orchestrator's `POST /process_call?stream=true&response=events`; its NDJSON audio
  events are re-framed to μ-law and sent while later sentences are still being written.
- speech starting while Лидия talks (audio not yet played, or a turn still in progress)
  → `clear`, the pending orchestrator request is cancelled (its HTTP stream closed, which
  stops the synthesis), and `heard_ms` is estimated from the marks Twilio echoed.
- DTMF: each digit is logged at once; digits typed within `DTMF_GAP_S` of each other are
  passed to the conversation as one text turn `"[DTMF 123]"` through `POST /chat`, and the
  reply is spoken (`POST /tts`).
- orchestrator down, slow (`PHONE_TURN_TIMEOUT_S` between events) or erroring → the
  pre-synthesized apology plays, then a beep, and everything the caller says afterwards is
  kept as a message (`calls_log/<CallSid>/message.wav`).
Malformed frames (bad JSON, unknown events, missing fields, binary frames) are logged and
ignored; the call goes on.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fastapi import WebSocket

from lidia.audio.codecs import decode_audio, wav_bytes
from lidia.audio.mulaw import (
    FRAME_MS,
    MULAW_SAMPLE_RATE,
    MulawFramer,
    mulaw_frames,
    mulaw_to_pcm,
    pcm_to_mulaw,
)
from lidia.audio.vad import StreamingVad, VadEvent
from lidia.core.settings import Settings
from lidia.phone.call_store import CallStore, TurnRecord
from lidia.secretary.caller_message import CallerMessage, fallback_message

log = logging.getLogger("phone.media")

CALL_SID_PATTERN = re.compile(r"^[A-Za-z0-9]{2,64}$")
DTMF_DIGITS = set("0123456789*#ABCD")
DTMF_GAP_S = 1.0


# ----------------------------------------------------------------------- orchestrator client


class OrchestratorError(Exception):
    """The orchestrator could not be reached or answered with an error."""


class OrchestratorClient:
    """HTTP client for the orchestrator (port 8002). Coroutines; one shared connection pool."""

    def __init__(
        self, base_url: str, *, api_key: str | None = None, timeout_s: float = 15.0
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def healthy(self) -> bool:
        try:
            response = await self._client.get("/health", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def tts_wav(
        self,
        text: str,
        language: str | None = None,
        *,
        voice: str | None = None,
        engine: str | None = None,
    ) -> bytes:
        """The reply spoken in the cloned voice (or `voice` / `engine`), as a WAV file."""
        body: dict[str, Any] = {"text": text, "format": "wav"}
        optional = {"language": language, "voice": voice, "engine": engine}
        body.update({key: value for key, value in optional.items() if value})
        response = await self._request("POST", "/tts", json=body)
        return response.content

    async def voices(self) -> list[dict[str, Any]]:
        """The orchestrator's voices (`GET /v1/audio/voices`): `[{"id", "name"}, ...]`."""
        response = await self._request("GET", "/v1/audio/voices")
        return list(response.json().get("voices", []))

    async def extract_message(self, transcript: str, caller_number: str | None) -> dict[str, Any]:
        """The caller's message from the transcript (`POST /extract_message`)."""
        body = {"transcript": transcript, "caller_number": caller_number}
        response = await self._request("POST", "/extract_message", json=body)
        return response.json()

    async def chat(self, text: str, session_id: str) -> dict[str, Any]:
        response = await self._request(
            "POST", "/chat", json={"text": text, "session_id": session_id}
        )
        return response.json()

    async def process_call_json(self, wav: bytes, session_id: str) -> dict[str, Any]:
        """One whole turn (STT → LLM → TTS): transcript, reply, audio_base64 (WAV), timings."""
        response = await self._request(
            "POST",
            "/process_call",
            params={"response": "json"},
            files={"audio": ("caller.wav", wav, "audio/wav")},
            data={"session_id": session_id},
        )
        return response.json()

    async def stream_turn(self, wav: bytes, session_id: str) -> AsyncIterator[dict[str, Any]]:
        """The streamed turn's events; audio events carry decoded float32 `samples`.

        Closing the generator early closes the HTTP stream, which makes the orchestrator stop
        the LLM and the synthesis of that turn.
        """
        try:
            async with self._client.stream(
                "POST",
                "/process_call",
                params={"stream": "true", "response": "events"},
                files={"audio": ("caller.wav", wav, "audio/wav")},
                data={"session_id": session_id},
            ) as response:
                if response.status_code != 200:
                    raise OrchestratorError(
                        _error_text(response.status_code, await response.aread())
                    )
                async for line in response.aiter_lines():
                    if line.strip():
                        yield _decode_event(json.loads(line))
        except httpx.HTTPError as exc:
            raise OrchestratorError(f"orchestrator unreachable: {exc!r}") from exc

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise OrchestratorError(f"orchestrator unreachable: {exc!r}") from exc
        if response.status_code != 200:
            raise OrchestratorError(_error_text(response.status_code, response.content))
        return response


def _error_text(status: int, body: bytes) -> str:
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body[:200].decode("utf-8", "replace")
    return f"orchestrator HTTP {status}: {message}"


def _decode_event(event: dict[str, Any]) -> dict[str, Any]:
    if event.get("type") == "audio":
        pcm = np.frombuffer(base64.b64decode(event["data"]), dtype="<i2")
        event = {**event, "samples": pcm.astype(np.float32) / 32768.0}
        event.pop("data", None)
    return event


# ----------------------------------------------------------------------------- prompts


@dataclass(frozen=True)
class PhonePrompt:
    """A fixed phrase ready to play: μ-law 8 kHz for the stream, WAV for `<Play>`."""

    text: str
    mulaw: bytes
    wav: bytes
    source: str  # "orchestrator" (cloned voice) | "espeak" (local, always available)


def espeak_wav(text: str, voice: str = "ru") -> bytes:
    """espeak-ng speaking `text` as WAV. Blocking (~50 ms): call from a worker thread."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed")
    return subprocess.run(
        ["espeak-ng", "-v", voice, "--stdout", text], check=True, capture_output=True, timeout=30
    ).stdout


def _prompt_from_wav(text: str, wav: bytes, source: str) -> PhonePrompt:
    samples = decode_audio(wav, sample_rate=MULAW_SAMPLE_RATE)
    return PhonePrompt(text, pcm_to_mulaw(samples), wav, source)


class PromptCache:
    """Greeting and apology audio, synthesized once per text in the cloned voice.

    When the orchestrator cannot speak, espeak-ng speaks instead (so there is always
    something to play); such a stand-in is not cached, the cloned voice is tried again
    on the next request.
    """

    def __init__(
        self, orchestrator: OrchestratorClient, *, language: str, espeak_voice: str
    ) -> None:
        self._orchestrator = orchestrator
        self._language = language
        self._espeak_voice = espeak_voice
        self._cache: dict[str, PhonePrompt] = {}
        self.apology: PhonePrompt | None = None

    async def get(self, text: str) -> PhonePrompt:
        if (cached := self._cache.get(text)) is not None:
            return cached
        try:
            wav = await self._orchestrator.tts_wav(text, self._language)
            prompt = await asyncio.to_thread(_prompt_from_wav, text, wav, "orchestrator")
            self._cache[text] = prompt
            return prompt
        except Exception as exc:  # any failure: the caller must still hear something
            log.warning("cloned voice unavailable for a prompt (%s); using espeak-ng", exc)
            wav = await asyncio.to_thread(espeak_wav, text, self._espeak_voice)
            return await asyncio.to_thread(_prompt_from_wav, text, wav, "espeak")

    async def load_apology(self, text: str) -> PhonePrompt:
        self.apology = await self.get(text)
        return self.apology


def beep_mulaw(seconds: float = 0.3, frequency: float = 1000.0) -> bytes:
    t = np.arange(int(seconds * MULAW_SAMPLE_RATE)) / MULAW_SAMPLE_RATE
    return pcm_to_mulaw((0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32))


# ----------------------------------------------------------------------------- context


@dataclass
class PhoneContext:
    """What every call shares: settings, the call store, the orchestrator, the prompts."""

    settings: Settings
    store: CallStore
    orchestrator: OrchestratorClient
    prompts: PromptCache
    calls_dir: Path
    active_calls: dict[str, MediaStreamSession] = field(default_factory=dict)
    background: set[asyncio.Task[Any]] = field(default_factory=set)  # awaited at shutdown

    def in_background(self, work: Awaitable[Any]) -> None:
        """Run `work` after the response (e.g. message extraction after a status callback)."""
        task = asyncio.ensure_future(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def wait_background(self) -> None:
        if self.background:
            await asyncio.gather(*self.background, return_exceptions=True)

    def call_dir(self, call_sid: str) -> Path:
        if not CALL_SID_PATTERN.match(call_sid):
            raise ValueError(f"not a Twilio CallSid: {call_sid!r}")
        path = self.calls_dir / call_sid
        path.mkdir(parents=True, exist_ok=True)
        return path


def call_transcript(turns: list[TurnRecord], message_transcript: str | None = None) -> str:
    """The conversation as lines "Звонящий: …" / "Лидия: …" (what message extraction reads)."""
    lines: list[str] = []
    for turn in turns:
        if turn.transcript:
            lines.append(f"Звонящий: {turn.transcript.strip()}")
        if turn.reply:
            lines.append(f"Лидия: {turn.reply.strip()}")
    if message_transcript:
        lines.append(f"Звонящий (сообщение): {message_transcript.strip()}")
    return "\n".join(lines)


async def extract_caller_message(ctx: PhoneContext, call_sid: str) -> CallerMessage | None:
    """Ask the orchestrator for the caller's message and store it on the call record.

    None when the caller said nothing. When the orchestrator cannot be reached, the local
    fallback (raw transcript as the reason) is stored instead: a message is never lost."""
    record = await ctx.store.get_call(call_sid)
    if record is None:
        return None
    turns = await ctx.store.turns(call_sid)
    transcript = call_transcript(turns, record.message_transcript)
    if not any(turn.transcript for turn in turns) and not record.message_transcript:
        return None
    try:
        answer = await ctx.orchestrator.extract_message(transcript, record.from_number)
        message = CallerMessage(
            name=answer.get("name"),
            phone=answer.get("phone"),
            reason=answer.get("reason"),
            summary=answer.get("summary"),
            message_left=bool(answer.get("message_left")),
            source=str(answer.get("source", "llm")),
        )
    except OrchestratorError as exc:
        log.warning("message extraction for %s used the raw transcript: %s", call_sid, exc)
        caller_words = [turn.transcript for turn in turns if turn.transcript]
        if record.message_transcript:
            caller_words.append(record.message_transcript)
        message = fallback_message("\n".join(caller_words))
    await ctx.store.update_call(call_sid, **message.store_fields())
    return message


async def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> str:
    data = wav_bytes(samples, sample_rate)
    await asyncio.to_thread(path.write_bytes, data)
    return str(path)


# ----------------------------------------------------------------------------- playback


@dataclass
class Playback:
    """Audio sent to Twilio for one reply, and how much of it Twilio says has played."""

    name: str
    turn_index: int | None
    sent_ms: int = 0
    marks: dict[str, int] = field(default_factory=dict)  # sent, not yet echoed → ms
    echoed_ms: int = 0
    anchor: float | None = None  # when playback of the audio after `echoed_ms` began
    finished_sending: bool = False
    utterance_start: int | None = None  # where the caller's words this answers began

    @property
    def playing(self) -> bool:
        return not self.finished_sending or bool(self.marks) or self.echoed_ms < self.sent_ms

    def heard_ms(self, now: float) -> int:
        """Played so far: the last echoed mark, plus real time since then (capped)."""
        if self.anchor is None:
            return self.echoed_ms
        return min(self.sent_ms, self.echoed_ms + int((now - self.anchor) * 1000))


# ----------------------------------------------------------------------------- the session


class MediaStreamSession:
    """Serves one accepted Media Streams WebSocket until `stop` or disconnect."""

    def __init__(self, ctx: PhoneContext, websocket: WebSocket) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.ws = websocket
        self.call_sid: str | None = None
        self.stream_sid: str | None = None
        self.call_dir: Path | None = None
        self.vad = StreamingVad(
            threshold=settings.vad_threshold,
            min_silence_ms=settings.vad_min_silence_ms,
            min_speech_ms=settings.vad_min_speech_ms,
            speech_pad_ms=settings.vad_speech_pad_ms,
            max_speech_s=settings.max_utterance_s,
        )
        self.inbound = bytearray()  # every caller byte since `start` (μ-law)
        self.playback: Playback | None = None
        self.turn_task: asyncio.Task[None] | None = None
        self.turn_count = 0
        self.turns_started = 0
        self.message_start: int | None = None  # set once the apology offered a message
        self._utterance_start: int | None = None
        self._carry_start: int | None = None  # an interrupted, unanswered utterance
        self._send_lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        self._dtmf_digits = ""
        self._dtmf_task: asyncio.Task[None] | None = None
        self._closed = False
        self.finished = asyncio.Event()  # set once the call's record is complete

    # --------------------------------------------------------------- receive loop

    async def run(self) -> None:
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("text") is None:
                    await self._protocol_error("binary frame ignored (Twilio sends text)")
                    continue
                if not await self.handle_text(message["text"]):
                    break
        finally:
            try:
                await self.finish()
            finally:
                self.finished.set()

    async def handle_text(self, text: str) -> bool:
        """Dispatch one frame; False ends the session."""
        try:
            data = json.loads(text)
            event = data["event"] if isinstance(data, dict) else None
            if not isinstance(event, str):
                raise ValueError("event is not a string")
        except (ValueError, KeyError):
            await self._protocol_error(f"unreadable message ignored: {text[:80]!r}")
            return True
        handler = {
            "connected": self._on_connected,
            "start": self._on_start,
            "media": self._on_media,
            "mark": self._on_mark,
            "dtmf": self._on_dtmf,
            "stop": self._on_stop,
        }.get(event)
        if handler is None:
            await self._protocol_error(f"unknown event ignored: {str(event)[:40]!r}")
            return True
        try:
            return await handler(data)
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
            await self._protocol_error(f"malformed {event!r} message ignored: {exc!r}")
            return True

    async def _on_connected(self, data: dict[str, Any]) -> bool:
        log.debug("media stream connected (protocol %s)", data.get("protocol"))
        return True

    async def _on_start(self, data: dict[str, Any]) -> bool:
        start = data["start"]
        call_sid = str(start["callSid"])
        record = (
            await self.ctx.store.get_call(call_sid) if CALL_SID_PATTERN.match(call_sid) else None
        )
        if record is None:
            log.warning("media stream for unknown call %r refused", call_sid[:64])
            await self.ws.close(code=1008, reason="unknown call")
            self._closed = True
            return False
        self.call_sid = call_sid
        self.stream_sid = str(start.get("streamSid") or data["streamSid"])
        self.call_dir = self.ctx.call_dir(call_sid)
        self.ctx.active_calls[call_sid] = self
        await self.ctx.store.update_call(call_sid, status="in-progress", mode="stream")
        await self.ctx.store.add_event(
            call_sid,
            "stream_start",
            {
                "streamSid": self.stream_sid,
                "customParameters": start.get("customParameters") or {},
                "mediaFormat": start.get("mediaFormat") or {},
            },
        )
        self._start_turn(self._play_greeting())
        return True

    async def _on_media(self, data: dict[str, Any]) -> bool:
        if self.call_sid is None:
            return True  # media before start: nothing to attach it to
        media = data["media"]
        if media.get("track", "inbound") != "inbound":
            return True
        payload = base64.b64decode(media["payload"], validate=True)
        self.inbound += payload
        # Silero inference is small (~0.1 ms a frame) but still model inference: off the loop.
        for event in await asyncio.to_thread(self.vad.feed, mulaw_to_pcm(payload)):
            await self._on_vad(event)
        if len(self.inbound) > self.ctx.settings.max_call_s * MULAW_SAMPLE_RATE:
            log.warning("call %s reached MAX_CALL_S; closing the stream", self.call_sid)
            await self._record_error("call reached MAX_CALL_S")
            return False
        return True

    async def _on_mark(self, data: dict[str, Any]) -> bool:
        name = str(data["mark"]["name"])
        playback = self.playback
        if playback is None or name not in playback.marks:
            return True
        playback.echoed_ms = playback.marks.pop(name)
        playback.anchor = time.perf_counter()
        if not playback.playing:
            self.playback = None
            if playback.turn_index is not None:
                await self._update_turn(playback.turn_index, heard_ms=playback.sent_ms)
        return True

    async def _on_dtmf(self, data: dict[str, Any]) -> bool:
        digit = str(data["dtmf"]["digit"])
        if digit not in DTMF_DIGITS or self.call_sid is None:
            raise ValueError(f"not a DTMF digit: {digit[:8]!r}")
        await self.ctx.store.add_dtmf(self.call_sid, digit)
        if self.message_start is not None:
            return True  # leaving a message: digits are logged, not answered
        self._dtmf_digits += digit
        if self._dtmf_task is not None:
            self._dtmf_task.cancel()
        self._dtmf_task = asyncio.create_task(self._dtmf_after_gap())
        return True

    async def _on_stop(self, data: dict[str, Any]) -> bool:
        log.info("media stream stopped for call %s", self.call_sid)
        return False

    # --------------------------------------------------------------- turn-taking

    async def _on_vad(self, event: VadEvent) -> None:
        if event.kind == "speech_start":
            self._utterance_start = event.sample
            if self.message_start is None and self._lidia_talking():
                await self.barge_in()
            return
        start = self._utterance_start if self._utterance_start is not None else event.voiced_end
        if self._carry_start is not None:
            start, self._carry_start = self._carry_start, None
        self._utterance_start = None
        if self.message_start is not None:
            return  # the whole message is recorded at the end of the call
        utterance = bytes(self.inbound[start : event.sample])
        detected_at = time.perf_counter()
        self._start_turn(self._conversation_turn(utterance, event, detected_at, start))

    def _lidia_talking(self) -> bool:
        busy = self.turn_task is not None and not self.turn_task.done()
        return busy or (self.playback is not None and self.playback.playing)

    async def barge_in(self) -> None:
        """The caller interrupts: drop queued audio, stop the turn, note what was heard."""
        playback = self.playback
        await self._send({"event": "clear", "streamSid": self.stream_sid})
        if self.turn_task is not None and not self.turn_task.done():
            self.turn_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.turn_task
        if playback is not None:
            heard = playback.heard_ms(time.perf_counter())
            self.playback = None
            if playback.turn_index is not None and self.call_sid:
                if playback.sent_ms == 0:
                    # Interrupted before any answer: the next utterance continues this one.
                    self._carry_start = playback.utterance_start
                await self._update_turn(playback.turn_index, barge_in=True, heard_ms=heard)
            if self.call_sid:
                await self.ctx.store.add_event(
                    self.call_sid,
                    "barge_in",
                    {"playback": playback.name, "heard_ms": heard, "sent_ms": playback.sent_ms},
                )
        log.info("barge-in on call %s", self.call_sid)

    def _start_turn(self, work: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let a bug end the call silently
                log.exception("turn failed on call %s", self.call_sid)
                await self._record_error(f"turn failed: {exc!r}")
                await self._apologize()

        if self.turn_task is not None and not self.turn_task.done():
            self.turn_task.cancel()  # one turn speaks at a time: never two replies interleaved
        self.turn_task = asyncio.create_task(guarded())

    async def _play_greeting(self) -> None:
        prompt = await self.ctx.prompts.get(self.ctx.settings.greeting_text)
        playback = self._new_playback("greeting", None)
        await self._send_frames(mulaw_frames(prompt.mulaw), playback)
        await self._send_mark(playback, "greeting-end")
        playback.finished_sending = True

    async def _conversation_turn(
        self, utterance: bytes, vad_event: VadEvent, detected_at: float, utterance_start: int
    ) -> None:
        assert self.call_sid and self.call_dir
        index = self._next_turn_index()
        caller_path = await write_wav(
            self.call_dir / f"turn{index:03d}_caller.wav",
            mulaw_to_pcm(utterance),
            MULAW_SAMPLE_RATE,
        )
        latencies: dict[str, Any] = {
            "vad_wait_s": round((vad_event.decided - vad_event.voiced_end) / MULAW_SAMPLE_RATE, 4),
            "utterance_s": round(len(utterance) / MULAW_SAMPLE_RATE, 3),
        }
        wav = wav_bytes(mulaw_to_pcm(utterance), MULAW_SAMPLE_RATE)
        events = self.ctx.orchestrator.stream_turn(wav, self.call_sid)
        await self._speak_turn(index, events, detected_at, latencies, caller_path, utterance_start)

    async def _dtmf_after_gap(self) -> None:
        await asyncio.sleep(DTMF_GAP_S)
        digits, self._dtmf_digits = self._dtmf_digits, ""
        self._dtmf_task = None
        if self._lidia_talking():
            await self.barge_in()
        self._start_turn(self._dtmf_turn(digits))

    async def _dtmf_turn(self, digits: str) -> None:
        index = self._next_turn_index()
        events = self._dtmf_events(f"[DTMF {digits}]")
        await self._speak_turn(index, events, time.perf_counter(), {"dtmf": digits}, None, None)

    async def _dtmf_events(self, text: str) -> AsyncIterator[dict[str, Any]]:
        """The same events a streamed turn yields, for a text turn: /chat, then /tts."""
        assert self.call_sid
        yield {"type": "transcript", "text": text}
        result = await self.ctx.orchestrator.chat(text, self.call_sid)
        reply = str(result["reply"])
        yield {"type": "sentence", "text": reply}
        wav = await self.ctx.orchestrator.tts_wav(reply, self.ctx.settings.tts_language)
        samples = await asyncio.to_thread(decode_audio, wav, sample_rate=MULAW_SAMPLE_RATE)
        yield {"type": "audio", "samples": samples, "sample_rate": MULAW_SAMPLE_RATE}
        yield {
            "type": "done",
            "reply": reply,
            "fallback": bool(result.get("fallback")),
            "timings": {},
        }

    async def _speak_turn(
        self,
        index: int,
        events: AsyncIterator[dict[str, Any]],
        detected_at: float,
        latencies: dict[str, Any],
        caller_path: str | None,
        utterance_start: int | None,
    ) -> None:
        """Play a turn's audio as it arrives; record the turn however it ends."""
        playback = self._new_playback(f"turn{index}", index)
        playback.utterance_start = utterance_start
        turn = TurnRecord(turn_index=index, caller_audio_path=caller_path, latencies=latencies)
        reply_audio: list[np.ndarray] = []
        rate = 0
        framer: MulawFramer | None = None
        sentences = 0
        timeout = self.ctx.settings.phone_turn_timeout_s
        try:
            while True:
                try:
                    event = await asyncio.wait_for(anext(events), timeout)
                except StopAsyncIteration:
                    break
                now = time.perf_counter()
                kind = event.get("type")
                if kind == "transcript":
                    turn.transcript = str(event.get("text", ""))
                    latencies.setdefault("transcript_s", round(now - detected_at, 4))
                elif kind == "sentence":
                    if sentences:
                        await self._send_mark(playback, f"turn{index}-s{sentences}")
                    sentences += 1
                elif kind == "audio":
                    samples = event["samples"]
                    rate = int(event["sample_rate"])
                    reply_audio.append(samples)
                    if framer is None:
                        framer = MulawFramer(rate)
                        latencies["first_audio_event_s"] = round(now - detected_at, 4)
                    frames = framer.feed(samples)
                    if frames and "first_frame_s" not in latencies:
                        latencies["encoding_s"] = round(time.perf_counter() - now, 5)
                    await self._send_frames(frames, playback)
                    if frames and "first_frame_s" not in latencies:
                        latencies["first_frame_s"] = round(time.perf_counter() - detected_at, 4)
                elif kind == "done":
                    turn.reply = str(event.get("reply", ""))
                    turn.fallback = bool(event.get("fallback"))
                    latencies["orchestrator"] = event.get("timings") or {}
            if framer is not None:
                await self._send_frames(framer.flush(), playback)
            await self._send_mark(playback, f"turn{index}-end")
        except (TimeoutError, OrchestratorError, ValueError, KeyError) as exc:
            reason = "orchestrator timed out" if isinstance(exc, TimeoutError) else str(exc)
            turn.error = reason
            await self._record_error(f"turn {index}: {reason}")
            await self._apologize()
        except asyncio.CancelledError:
            turn.barge_in = True
            raise
        finally:
            playback.finished_sending = True
            with contextlib.suppress(Exception):
                await events.aclose()  # type: ignore[attr-defined]  # stops the synthesis
            latencies["total_s"] = round(time.perf_counter() - detected_at, 4)
            self._in_background(self._record_turn(turn, reply_audio, rate, playback))

    async def _record_turn(
        self, turn: TurnRecord, reply_audio: list[np.ndarray], rate: int, playback: Playback
    ) -> None:
        assert self.call_sid and self.call_dir
        if reply_audio:
            turn.reply_audio_path = await write_wav(
                self.call_dir / f"turn{turn.turn_index:03d}_reply.wav",
                np.concatenate(reply_audio),
                rate,
            )
        if turn.barge_in:
            turn.heard_ms = playback.heard_ms(time.perf_counter())
        await self.ctx.store.add_turn(self.call_sid, turn)

    def _next_turn_index(self) -> int:
        self.turns_started += 1
        return self.turns_started

    # --------------------------------------------------------------- never silent

    async def _apologize(self) -> None:
        """Play the cached apology and a beep; from now on the caller leaves a message."""
        prompt = self.ctx.prompts.apology
        if self.message_start is not None or prompt is None:
            return
        self.message_start = len(self.inbound)
        playback = self._new_playback("apology", None)
        await self._send_frames(mulaw_frames(prompt.mulaw + beep_mulaw()), playback)
        await self._send_mark(playback, "apology-end")
        playback.finished_sending = True
        if self.call_sid:
            await self.ctx.store.add_event(self.call_sid, "message_offered", {})

    # --------------------------------------------------------------- sending

    def _new_playback(self, name: str, turn_index: int | None) -> Playback:
        self.playback = Playback(name, turn_index)
        return self.playback

    async def _send(self, message: dict[str, Any]) -> None:
        if self._closed:
            return
        async with self._send_lock:  # turn tasks and the receive loop both send
            await self.ws.send_text(json.dumps(message))

    async def _send_frames(self, frames: list[bytes], playback: Playback) -> None:
        for frame in frames:
            await self._send(
                {
                    "event": "media",
                    "streamSid": self.stream_sid,
                    "media": {"payload": base64.b64encode(frame).decode("ascii")},
                }
            )
            if playback.anchor is None:
                playback.anchor = time.perf_counter()
            playback.sent_ms += FRAME_MS

    async def _send_mark(self, playback: Playback, name: str) -> None:
        if playback.sent_ms == playback.echoed_ms and not playback.marks:
            return  # nothing new to mark
        playback.marks[name] = playback.sent_ms
        await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    # --------------------------------------------------------------- bookkeeping

    async def _protocol_error(self, message: str) -> None:
        log.warning("call %s: %s", self.call_sid, message)
        if self.call_sid:
            await self.ctx.store.add_event(self.call_sid, "protocol_error", {"message": message})

    async def _record_error(self, message: str) -> None:
        log.error("call %s: %s", self.call_sid, message)
        if self.call_sid:
            await self.ctx.store.add_error(self.call_sid, message)

    async def _update_turn(self, turn_index: int, **fields: Any) -> None:
        """Update a recorded turn, once its record (written in the background) exists."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.call_sid:
            await self.ctx.store.update_turn(self.call_sid, turn_index, **fields)

    def _in_background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def finish(self) -> None:
        """Stop everything; save the message and the caller's recording; close the record."""
        for task in (self._dtmf_task, self.turn_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self.call_sid is None or self.call_dir is None:
            return
        self.ctx.active_calls.pop(self.call_sid, None)
        store = self.ctx.store
        if self.inbound:
            await write_wav(
                self.call_dir / "caller.wav", mulaw_to_pcm(bytes(self.inbound)), MULAW_SAMPLE_RATE
            )
        outcome = "conversation" if self.turns_started else "no_speech"
        if self.message_start is not None:
            message = bytes(self.inbound[self.message_start :])
            path = await write_wav(
                self.call_dir / "message.wav", mulaw_to_pcm(message), MULAW_SAMPLE_RATE
            )
            await store.update_call(self.call_sid, message_audio_path=path)
            outcome = "message"
        record = await store.get_call(self.call_sid)
        if record is not None and record.ended_at is None:
            await store.finish_call(self.call_sid, status="completed", outcome=outcome)
        else:
            await store.update_call(self.call_sid, outcome=outcome)
