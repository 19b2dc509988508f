"""OpenAI-compatible API under `/v1`: what OpenWebUI and the `openai` SDK call.

- `GET /v1/models`, `GET /v1/audio/models`, `GET /v1/audio/voices`: discovery (no key needed).
- `POST /v1/audio/speech`: text to speech; mp3 by default; pcm, mp3, opus and aac stream out
  sentence by sentence (chunked transfer), wav and flac come whole (exact headers).
- `POST /v1/audio/transcriptions`: speech to text in json, text, srt, verbose_json or vtt.
- `POST /v1/chat/completions`: the secretary as the chat model `lidia`, plain or SSE stream.

Leniency on purpose: OpenWebUI sends whatever model and voice its admin typed, so an unknown
model or voice maps to the default engine/voice (logged) instead of failing. Only clearly
invalid input (empty or too long text, unknown format, speed out of range) is a 4xx, and it
is always raised *before* a streamed response starts, so it arrives as a clean JSON error.

Model → engine (speech):
  `tts-1` fastest loaded engine (rhvoice > espeak > xtts); `tts-1-hd` and `lidia` XTTS when
  loaded, else the primary engine; `xtts`/`rhvoice`/`espeak` that engine when loaded; any
  other model: the primary engine.
Voice → (engine, voice):
  `lidia` the cloned voice on XTTS (the primary engine's default voice when XTTS is absent);
  an engine's own voice id (`rhvoice-anna`, `espeak-en`, ...) that voice on its engine;
  OpenAI's names on the engine the model chose: XTTS speaks all of them as `lidia`, espeak
  in its default voice, RHVoice in a Russian voice of the same gender (`OPENAI_VOICES`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, File, Form, Header, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from lidia.audio.codecs import CONTENT_TYPES, FORMATS, StreamEncoder, encode_audio
from lidia.core.errors import InvalidTextError, TextTooLongError, UnsupportedFormatError
from lidia.core.metrics import app_metrics, loaded_engine_names
from lidia.core.settings import Settings
from lidia.orchestrator.deps import SecretaryDep, ServicesDep, SettingsDep, SttDep, VoiceDep
from lidia.orchestrator.routes.conversation import MAX_CHAT_CHARS, SESSION_ID_PATTERN
from lidia.orchestrator.speech_ops import read_upload, resolve_language, transcribe_bytes
from lidia.secretary.brain import Secretary
from lidia.stt.faster_whisper import Segment, Transcript
from lidia.tts.service import VoiceService

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["openai"])

CHAT_MODEL = "lidia"
STT_MODEL = "whisper-1"
TTS_MODELS = ("tts-1", "tts-1-hd")
ENGINE_NAMES = ("xtts", "rhvoice", "espeak")
FASTEST_FIRST = ("rhvoice", "espeak", "xtts")
DEFAULT_SESSION = "openai-default"
PCM_RATE = 24_000  # OpenAI's pcm: 24 kHz, 16-bit little-endian, mono, no header
STREAMED_FORMATS = frozenset({"pcm", "mp3", "opus", "aac"})  # wav/flac need whole-file headers
TRANSCRIPT_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
_CREATED = 1_735_689_600  # fixed "created" stamp (2025-01-01) so listings are stable
_OWNER = "lidia"

# OpenAI voice name → (gender, rank among that gender's RHVoice voices). The rank spreads
# OpenAI's names over the installed voices so different names sound different.
OPENAI_VOICES: dict[str, tuple[Literal["female", "male"], int]] = {
    "alloy": ("female", 0),
    "coral": ("female", 1),
    "marin": ("female", 2),
    "nova": ("female", 3),
    "sage": ("female", 4),
    "shimmer": ("female", 5),
    "ash": ("male", 0),
    "ballad": ("male", 1),
    "cedar": ("male", 2),
    "echo": ("male", 3),
    "fable": ("male", 4),
    "onyx": ("male", 5),
    "verse": ("male", 6),
}
RHVOICE_FEMALE = ("anna", "elena", "irina", "tatiana", "victoria", "arina")
RHVOICE_MALE = (
    "aleksandr",
    "mikhail",
    "artemiy",
    "pavel",
    "yuriy",
    "vitaliy",
    "evgeniy-rus",
    "aleksandr-hq",
)


# --------------------------------------------------------------------------- discovery


def _model(model_id: str) -> dict:
    return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": _OWNER}


def _engines(services: Any) -> list[str]:
    return loaded_engine_names(services.voice) if services.voice is not None else []


@router.get("/models")
async def list_models(services: ServicesDep) -> dict:
    """Every model id this API accepts: the chat model, speech models, engines, STT."""
    ids = [CHAT_MODEL, *TTS_MODELS, STT_MODEL, *_engines(services)]
    return {"object": "list", "data": [_model(i) for i in ids]}


@router.get("/models/{model_id}")
async def retrieve_model(model_id: str, services: ServicesDep) -> JSONResponse:
    known = {CHAT_MODEL, *TTS_MODELS, STT_MODEL, *_engines(services)}
    if model_id not in known:
        body = {
            "error": {
                "message": f"The model {model_id!r} does not exist",
                "type": "invalid_request_error",
                "param": "model",
                "code": "model_not_found",
            }
        }
        return JSONResponse(body, status_code=404)
    return JSONResponse(_model(model_id))


@router.get("/audio/models")
async def list_audio_models(services: ServicesDep) -> dict:
    """Speech models for OpenWebUI's TTS model list."""
    return {"models": [{"id": i} for i in (*TTS_MODELS, *_engines(services))]}


@router.get("/audio/voices")
async def list_audio_voices(services: ServicesDep) -> dict:
    """Voices for OpenWebUI's voice list: `lidia` first, then each loaded engine's voices."""
    voice = services.voice
    if voice is None:
        return {"voices": []}
    listed = [{"id": v.id, "name": v.name} for v in voice.voices()]
    if not any(v["id"] == "lidia" for v in listed):
        # "lidia" is always accepted (it falls back to the primary voice): list it too.
        listed.insert(0, {"id": "lidia", "name": f"Лидия (now spoken by {voice.primary})"})
    listed.sort(key=lambda v: v["id"] != "lidia")
    return {"voices": listed}


# --------------------------------------------------------------------------- speech


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(default="tts-1-hd", description="tts-1, tts-1-hd, lidia or an engine")
    input: str = Field(description="Text to speak")
    voice: str | dict = Field(default="lidia", description="lidia, an engine voice, or alloy...")
    response_format: str = Field(default="mp3", description="mp3, opus, aac, flac, wav, pcm")
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    instructions: str | None = Field(default=None, description="Accepted and ignored")
    stream_format: str = Field(default="audio", description="Only 'audio' is supported")


@dataclass(frozen=True)
class SpeechChoice:
    engine: str
    voice: str | None  # None: the engine's default voice
    wanted_clone: bool  # the caller asked for the cloned voice (counts fallback use)


def engine_for_model(model: str, engines: list[str], primary: str) -> str:
    """The engine a speech `model` name selects among the loaded `engines`."""
    name = model.strip().lower()
    if name == "tts-1":
        return next((e for e in FASTEST_FIRST if e in engines), primary)
    if name in ("tts-1-hd", CHAT_MODEL, "xtts"):
        return "xtts" if "xtts" in engines else primary
    if name in engines:
        return name
    log.info("speech model %r is not loaded here; using the primary engine %s", model, primary)
    return primary


def rhvoice_for(openai_voice: str, voice_ids: set[str], default: str) -> str | None:
    """The RHVoice voice id an OpenAI voice name maps to (same gender, spread by rank)."""
    gender, rank = OPENAI_VOICES[openai_voice]
    names = RHVOICE_FEMALE if gender == "female" else RHVOICE_MALE
    if default in names:  # the configured voice is its gender's first choice
        names = (default, *(n for n in names if n != default))
    available = [f"rhvoice-{n}" for n in names if f"rhvoice-{n}" in voice_ids]
    return available[rank % len(available)] if available else None


def choose_speech(
    model: str, voice_name: str, service: VoiceService, settings: Settings
) -> SpeechChoice:
    """Map OpenAI's (model, voice) to one of our engines and voices; never raises."""
    voices = {v.id.lower(): v for v in service.voices()}
    engines = loaded_engine_names(service)
    requested = voice_name.strip().lower()
    model_engine = engine_for_model(model, engines, service.primary)
    wants_hd = model.strip().lower() in ("tts-1-hd", CHAT_MODEL, "xtts")
    if requested == "lidia":
        if "lidia" in voices:
            return SpeechChoice(voices["lidia"].engine, voices["lidia"].id, True)
        return SpeechChoice(service.primary, None, True)
    if requested in voices:
        found = voices[requested]
        return SpeechChoice(found.engine, found.id, wants_hd and found.engine == "xtts")
    if requested in OPENAI_VOICES:
        mapped = None
        if model_engine == "rhvoice":
            mapped = rhvoice_for(requested, set(voices), settings.rhvoice_voice)
        return SpeechChoice(model_engine, mapped, wants_hd)
    log.warning("unknown voice %r: speaking with the default voice of %s", voice_name, model_engine)
    return SpeechChoice(model_engine, None, wants_hd)


def _voice_name(voice: str | dict) -> str:
    # OpenAI's newer API also accepts {"id": "..."} for custom voices.
    if isinstance(voice, dict):
        return str(voice.get("id") or voice.get("name") or "")
    return voice


def check_speech_request(body: SpeechRequest, max_chars: int) -> str:
    """Validate what can be checked without synthesizing; returns the normalised format."""
    if not body.input.strip():
        raise InvalidTextError("input is empty: nothing to speak", param="input")
    if len(body.input) > max_chars:
        raise TextTooLongError(
            f"input is {len(body.input)} characters; the limit is {max_chars} (TTS_MAX_CHARS)",
            param="input",
        )
    fmt = body.response_format.strip().lower()
    if fmt not in FORMATS:
        raise UnsupportedFormatError(
            f"unsupported response_format {body.response_format!r}; "
            f"supported: {', '.join(FORMATS)}",
            param="response_format",
        )
    if body.stream_format != "audio":
        raise UnsupportedFormatError(
            f"stream_format {body.stream_format!r} is not supported; use 'audio'",
            param="stream_format",
        )
    return fmt


def speech_language(choice: SpeechChoice, service: VoiceService, default: str) -> str:
    """The configured TTS language, unless the chosen voice cannot speak it (espeak-en)."""
    if choice.voice is None:
        return default
    voice = next((v for v in service.voices() if v.id == choice.voice), None)
    if voice is None or not voice.languages or default in voice.languages:
        return default
    return voice.languages[0]


@router.post(
    "/audio/speech",
    response_class=Response,
    responses={200: {"content": {ct: {} for ct in CONTENT_TYPES.values()}}},
)
async def create_speech(
    body: SpeechRequest, request: Request, voice: VoiceDep, settings: SettingsDep
) -> Response:
    """Speak `input`. Streams (chunked) for pcm, mp3, opus and aac; wav and flac come whole."""
    fmt = check_speech_request(body, settings.tts_max_chars)
    if body.instructions:
        log.debug("speech instructions ignored (no engine supports them): %r", body.instructions)
    choice = choose_speech(body.model, _voice_name(body.voice), voice, settings)
    language = speech_language(choice, voice, resolve_language(None, settings.tts_language) or "ru")
    kwargs = {
        "language": language,
        "voice": choice.voice,
        "engine": choice.engine,
        "speed": body.speed,
    }
    headers = {"X-TTS-Engine": choice.engine, "X-TTS-Voice": choice.voice or "default"}
    target_rate = PCM_RATE if fmt == "pcm" else None
    started = time.perf_counter()
    if fmt not in STREAMED_FORMATS:
        samples, rate = await voice.synthesize(body.input, **kwargs)
        data = await asyncio.to_thread(encode_audio, samples, rate, fmt, target_rate=target_rate)
        _record_synthesis(request, choice, started)
        return Response(data, media_type=CONTENT_TYPES[fmt], headers=headers)
    rate = voice.engine_for(choice.voice, choice.engine).sample_rate
    pieces = voice.stream(body.input, **kwargs)
    # The first piece is made before the response starts: a request the engine refuses
    # (language, voice) still gets a clean JSON error instead of a broken audio stream.
    first = await anext(pieces, None)
    encoder = StreamEncoder(fmt, rate, target_rate=target_rate)
    return StreamingResponse(
        _encoded_stream(
            first, pieces, encoder, on_done=lambda: _record_synthesis(request, choice, started)
        ),
        media_type=CONTENT_TYPES[fmt],
        headers=headers,
    )


async def _encoded_stream(
    first: np.ndarray | None,
    pieces: AsyncIterator[np.ndarray],
    encoder: StreamEncoder,
    *,
    on_done: Any,
) -> AsyncIterator[bytes]:
    """Encode pieces as they come (in a worker thread: mp3/opus encoding is CPU work)."""
    try:
        if first is not None and (chunk := await asyncio.to_thread(encoder.encode, first)):
            yield chunk
        async for piece in pieces:
            if chunk := await asyncio.to_thread(encoder.encode, piece):
                yield chunk
        if tail := await asyncio.to_thread(encoder.finish):
            yield tail
        on_done()
    finally:
        closer = getattr(pieces, "aclose", None)
        if closer is not None:  # a client that hung up must not leave synthesis running
            await closer()


def _record_synthesis(request: Request, choice: SpeechChoice, started: float) -> None:
    metrics = app_metrics(request.app)
    if metrics is not None:
        metrics.observe_synthesis(
            choice.engine, time.perf_counter() - started, wanted_clone=choice.wanted_clone
        )


# --------------------------------------------------------------------------- transcription


@router.post("/audio/transcriptions", response_model=None)
async def create_transcription(
    request: Request,
    stt: SttDep,
    settings: SettingsDep,
    file: Annotated[UploadFile | None, File(description="Audio in any common format")] = None,
    model: Annotated[str, Form()] = STT_MODEL,
    language: Annotated[
        str | None, Form(description="ISO-639-1 code; default STT_LANGUAGE")
    ] = None,
    prompt: Annotated[str | None, Form()] = None,
    response_format: Annotated[str, Form()] = "json",
    temperature: Annotated[float, Form(ge=0.0, le=1.0)] = 0.0,
    timestamp_granularities: Annotated[
        list[str] | None, Form(alias="timestamp_granularities[]")
    ] = None,
) -> Response:
    """Transcribe `file`. Any `model` is accepted: one STT model is loaded (see /health)."""
    fmt = _check_transcript_format(response_format)
    granularities = _check_granularities(timestamp_granularities or [])
    data = await read_upload(file, max_bytes=settings.stt_max_bytes, field="file")
    words_wanted = fmt == "verbose_json" and "word" in granularities
    started = time.perf_counter()
    transcript = await transcribe_bytes(
        stt,
        data,
        resolve_language(_language_code(language), settings.stt_language),
        prompt=prompt or None,
        temperature=temperature,
        word_timestamps=words_wanted,
    )
    metrics = app_metrics(request.app)
    if metrics is not None:
        metrics.observe_transcription(stt.name, time.perf_counter() - started)
    return transcript_response(transcript, fmt, granularities)


def _check_transcript_format(response_format: str) -> str:
    fmt = response_format.strip().lower()
    if fmt not in TRANSCRIPT_FORMATS:
        raise UnsupportedFormatError(
            f"unsupported response_format {response_format!r}; "
            f"supported: {', '.join(TRANSCRIPT_FORMATS)}",
            param="response_format",
        )
    return fmt


def _check_granularities(values: list[str]) -> set[str]:
    granularities = {v.strip().lower() for v in values if v.strip()}
    unknown = granularities - {"word", "segment"}
    if unknown:
        raise UnsupportedFormatError(
            f"unsupported timestamp_granularities {sorted(unknown)}; use 'word' and/or 'segment'",
            param="timestamp_granularities",
        )
    return granularities


def _language_code(language: str | None) -> str | None:
    """Accept OpenAI's ISO-639-1 codes and also full names ("russian") that some clients send."""
    if language is None:
        return None
    return LANGUAGE_CODES.get(language.strip().lower(), language)


def transcript_response(transcript: Transcript, fmt: str, granularities: set[str]) -> Response:
    """OpenAI's response for `fmt`: JSON for json/verbose_json, plain text otherwise."""
    text = transcript.text.strip()
    if fmt == "json":
        return JSONResponse({"text": text, "usage": _usage(transcript)})
    if fmt == "verbose_json":
        return JSONResponse(verbose_json(transcript, granularities))
    if fmt == "text":
        return PlainTextResponse(text + "\n")
    if fmt == "srt":
        return PlainTextResponse(to_srt(transcript.segments))
    return PlainTextResponse(to_vtt(transcript.segments), media_type="text/vtt")


def _usage(transcript: Transcript) -> dict:
    return {"type": "duration", "seconds": max(1, round(transcript.duration))}


def verbose_json(transcript: Transcript, granularities: set[str]) -> dict:
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": LANGUAGE_NAMES.get(transcript.language, transcript.language),
        "duration": round(transcript.duration, 3),
        "text": transcript.text.strip(),
    }
    if "segment" in granularities or not granularities:
        body["segments"] = [_segment_json(s) for s in transcript.segments]
    if "word" in granularities:
        body["words"] = [
            {"word": w.word.strip(), "start": round(w.start, 3), "end": round(w.end, 3)}
            for s in transcript.segments
            for w in s.words
        ]
    body["usage"] = _usage(transcript)
    return body


def _segment_json(segment: Segment) -> dict:
    encoded = segment.text.encode("utf-8")
    compression = len(encoded) / max(1, len(zlib.compress(encoded))) if encoded else 0.0
    return {
        "id": segment.id,
        "seek": round(segment.start * 100),  # Whisper's seek counts 10 ms mel frames
        "start": round(segment.start, 3),
        "end": round(segment.end, 3),
        "text": segment.text,
        "tokens": [],
        "temperature": 0.0,
        "avg_logprob": round(segment.avg_logprob, 4),
        "compression_ratio": round(compression, 4),
        "no_speech_prob": round(segment.no_speech_prob, 4),
    }


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(segments: tuple[Segment, ...]) -> str:
    blocks = [
        f"{i}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{s.text.strip()}\n"
        for i, s in enumerate(segments, start=1)
    ]
    return "\n".join(blocks) + ("\n" if blocks else "")


def to_vtt(segments: tuple[Segment, ...]) -> str:
    blocks = [
        f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{s.text.strip()}\n"
        for s in segments
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


# --------------------------------------------------------------------------- chat


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens, ... accepted, unused

    model: str = CHAT_MODEL
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    user: Any = None  # OpenAI: a string; some clients send other shapes, so only use strings
    stream_options: dict[str, Any] | None = None


def last_user_text(messages: list[ChatMessageIn]) -> str:
    """The text of the last user message. Earlier messages are ignored: the secretary keeps
    the conversation in its own session memory (and its persona replaces any system prompt).
    """
    for message in reversed(messages):
        if message.role != "user":
            continue
        content = message.content
        if isinstance(content, list):  # content parts: keep the text ones
            content = "\n".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
        if content and content.strip():
            return content.strip()
        break
    raise InvalidTextError("messages must end with a user message that has text", param="messages")


def session_for(header: str | None, openwebui_chat: str | None, user: Any) -> str:
    """Session id: `X-Session-Id`, else OpenWebUI's chat id header, else `user`, else default.

    Ids that are not plain tokens (e-mails with spaces, long ids) are hashed, so any client
    value gives a stable, valid session id.
    """
    for candidate in (header, openwebui_chat, user if isinstance(user, str) else None):
        if candidate and candidate.strip():
            value = candidate.strip()
            if re.fullmatch(SESSION_ID_PATTERN, value):
                return value
            return "openai-" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]
    return DEFAULT_SESSION


def estimate_tokens(text: str) -> int:
    """A rough token count (about 4 characters per token): no tokenizer for every backend."""
    return max(1, round(len(text) / 4)) if text else 0


@router.post("/chat/completions", response_model=None)
async def create_chat_completion(
    body: ChatCompletionRequest,
    secretary: SecretaryDep,
    x_session_id: Annotated[str | None, Header()] = None,
    x_openwebui_chat_id: Annotated[str | None, Header()] = None,
) -> JSONResponse | StreamingResponse:
    """Лидия answers the last user message, with her persona and her memory of the session."""
    text = last_user_text(body.messages)
    if len(text) > MAX_CHAT_CHARS:
        raise TextTooLongError(
            f"the last user message has {len(text)} characters; the limit is {MAX_CHAT_CHARS}",
            param="messages",
        )
    session_id = session_for(x_session_id, x_openwebui_chat_id, body.user)
    if body.model != CHAT_MODEL:
        log.info("chat model %r requested; the only chat model is %r", body.model, CHAT_MODEL)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    headers = {"X-Session-Id": session_id}
    if body.stream:
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        return StreamingResponse(
            _chat_chunks(secretary, session_id, text, completion_id, include_usage),
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    result = await secretary.reply(session_id, text)
    return JSONResponse(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": CHAT_MODEL,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.reply, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _chat_usage(text, result.reply),
        },
        headers=headers,
    )


def _chat_usage(prompt: str, reply: str) -> dict:
    prompt_tokens, completion_tokens = estimate_tokens(prompt), estimate_tokens(reply)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


async def _chat_chunks(
    secretary: Secretary, session_id: str, text: str, completion_id: str, include_usage: bool
) -> AsyncIterator[str]:
    created = int(time.time())

    def chunk(delta: dict, finish: str | None = None, **extra: Any) -> str:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": CHAT_MODEL,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    stream = secretary.reply_stream(session_id, text)
    said: list[str] = []
    try:
        async for piece in stream:
            said.append(piece)
            yield chunk({"content": piece})
    finally:
        await stream.aclose()  # a client that left mid-reply still leaves a recorded turn
    yield chunk({}, "stop")
    if include_usage:
        usage = _chat_usage(text, "".join(said))
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": CHAT_MODEL,
            "choices": [],
            "usage": usage,
        }
        yield f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


# --------------------------------------------------------------------------- languages

# Whisper's language names, as OpenAI's verbose_json reports them ("english", "russian").
_WHISPER_LANGUAGES = """
en:english zh:chinese de:german es:spanish ru:russian ko:korean fr:french ja:japanese
pt:portuguese tr:turkish pl:polish ca:catalan nl:dutch ar:arabic sv:swedish it:italian
id:indonesian hi:hindi fi:finnish vi:vietnamese he:hebrew uk:ukrainian el:greek ms:malay
cs:czech ro:romanian da:danish hu:hungarian ta:tamil no:norwegian th:thai ur:urdu
hr:croatian bg:bulgarian lt:lithuanian la:latin mi:maori ml:malayalam cy:welsh sk:slovak
te:telugu fa:persian lv:latvian bn:bengali sr:serbian az:azerbaijani sl:slovenian kn:kannada
et:estonian mk:macedonian br:breton eu:basque is:icelandic hy:armenian ne:nepali
mn:mongolian bs:bosnian kk:kazakh sq:albanian sw:swahili gl:galician mr:marathi pa:punjabi
si:sinhala km:khmer sn:shona yo:yoruba so:somali af:afrikaans oc:occitan ka:georgian
be:belarusian tg:tajik sd:sindhi gu:gujarati am:amharic yi:yiddish lo:lao uz:uzbek
fo:faroese ht:haitian_creole ps:pashto tk:turkmen nn:nynorsk mt:maltese sa:sanskrit
lb:luxembourgish my:myanmar bo:tibetan tl:tagalog mg:malagasy as:assamese tt:tatar
haw:hawaiian ln:lingala ha:hausa ba:bashkir jw:javanese su:sundanese yue:cantonese
"""
LANGUAGE_NAMES: dict[str, str] = {
    code: name.replace("_", " ")
    for code, name in (item.split(":") for item in _WHISPER_LANGUAGES.split())
}
LANGUAGE_CODES: dict[str, str] = {name: code for code, name in LANGUAGE_NAMES.items()}
