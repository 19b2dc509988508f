"""The secretary's conversation endpoints: `/chat`, `/reset_conversation`, `/process_call`."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError

from lidia.audio.codecs import StreamEncoder, encode_audio, float_to_int16
from lidia.core.errors import AUDIO_FIELD, InvalidTextError, UnknownActionError, route_fields
from lidia.core.openapi import NOT_BLANK, error_responses, media
from lidia.core.sse import sse_event, sse_response
from lidia.orchestrator.deps import SecretaryDep, ServicesDep, SettingsDep, SttDep, VoiceDep
from lidia.orchestrator.metrics import engine_metrics
from lidia.orchestrator.speech_ops import encode, read_upload, resolve_language
from lidia.orchestrator.turns import TurnContext, TurnEvent, run_turn, stream_turn
from lidia.secretary.brain import Secretary
from lidia.secretary.channel import TEXT_CHAT, TurnChannel, phone_channel
from lidia.secretary.sessions import SessionStoreUnavailableError

router = APIRouter(tags=["conversation"])

SESSION_ID_PATTERN = r"^[A-Za-z0-9_.:@+\-]{1,128}$"
CHAT_MEDIA_TYPES = ("application/json", "text/event-stream")
CALLER_PATTERN = r"^\+?[0-9]{3,20}$"
PhoneAction = Literal["transfer_call", "end_call", "take_message"]  # secretary.actions
_ACTION = "(?:transfer_call|end_call|take_message)"
ACTIONS_PATTERN = rf"^\s*(?:{_ACTION}\s*(?:,\s*{_ACTION}\s*)*)?$"
ACTIONS_HELP = (
    "The phone actions this call can carry out (transfer_call, end_call, take_message), "
    "comma-separated: the phone service decides them (carrier, TRANSFER_NUMBER and its hours). "
    "Absent: none (a text chat never gets phone tools)."
)
# What one caller turn may hold: far above any spoken utterance, far below a costly prompt.
MAX_CHAT_CHARS = 8000


class ChatRequest(BaseModel):
    model_config = ConfigDict(strict=True)  # `"stream": 0` is a mistake, not `false`

    text: str = Field(
        description="What the caller said", max_length=MAX_CHAT_CHARS, json_schema_extra=NOT_BLANK
    )
    session_id: str = Field(default="default", pattern=SESSION_ID_PATTERN)
    stream: bool = False
    actions: list[PhoneAction] | None = Field(
        default=None,
        max_length=10,
        description="A phone turn (e.g. DTMF): " + ACTIONS_HELP,
    )
    caller: str | None = Field(
        default=None, pattern=CALLER_PATTERN, description="The caller's number (phone turns)"
    )


def turn_channel(
    actions: list[PhoneAction] | list[str] | None, caller: str | None, *, phone: bool
) -> TurnChannel:
    """The turn's channel; an unknown action name is a 422 naming the field."""
    if not phone:
        return TEXT_CHAT
    try:
        return phone_channel(actions or [], caller)
    except ValueError as exc:
        raise UnknownActionError(str(exc), param="actions") from exc


class ResetRequest(BaseModel):
    model_config = ConfigDict(strict=True)  # `{"all": 0}` is refused, not read as `false`

    session_id: str = Field(default="default", pattern=SESSION_ID_PATTERN)
    all: bool = False
    turn_id: str | None = Field(
        default=None,
        pattern=SESSION_ID_PATTERN,
        description="Forget only this turn of the session (a reply the caller never heard)",
    )


@router.post(
    "/chat",
    response_model=None,
    responses={
        200: media("The reply (JSON), or with `stream: true` SSE events", *CHAT_MEDIA_TYPES),
        **error_responses(400, 422),
    },
)
async def chat(request: ChatRequest, secretary: SecretaryDep) -> dict | StreamingResponse:
    """The secretary's reply to `text` in the conversation `session_id`."""
    if not request.text.strip():
        raise InvalidTextError("text is empty", param="text")
    phone = request.actions is not None or request.caller is not None
    channel = turn_channel(request.actions, request.caller, phone=phone)
    if not request.stream:
        result = await secretary.reply(request.session_id, request.text, channel=channel)
        return {
            "reply": result.reply,
            "session_id": request.session_id,
            "fallback": result.fallback,
            "actions": list(result.actions),
        }
    return sse_response(_chat_events(secretary, request.session_id, request.text, channel))


async def _chat_events(
    secretary: Secretary, session_id: str, text: str, channel: TurnChannel
) -> AsyncIterator[str]:
    stream = secretary.reply_stream(session_id, text, channel=channel)
    try:
        async for piece in stream:
            yield sse_event({"type": "delta", "text": piece})
    finally:
        await stream.aclose()  # a client that left mid-reply still leaves a recorded turn
    result = stream.result
    yield sse_event(
        {
            "type": "done",
            "reply": result.reply,
            "session_id": session_id,
            "fallback": result.fallback,
            "actions": list(result.actions),
        }
    )


@router.post("/reset_conversation", responses=error_responses(422, 503))
async def reset_conversation(services: ServicesDep, request: ResetRequest | None = None) -> dict:
    """Forget one conversation (`session_id`, default "default"), or all with `"all": true`."""
    request = request or ResetRequest()
    try:
        if request.all:
            cleared = await services.sessions.reset_all()
            return {"status": "ok", "cleared": cleared, "all": True}
        if request.turn_id is not None:
            forgot = await services.sessions.forget_turn(request.session_id, request.turn_id)
            return {
                "status": "ok",
                "session_id": request.session_id,
                "turn_id": request.turn_id,
                "cleared": int(forgot),
            }
        existed = await services.sessions.reset(request.session_id)
    except (RedisError, OSError) as exc:  # Redis down: a clear 503, not a 500 (issue 15)
        raise SessionStoreUnavailableError(
            f"conversation store unreachable, nothing was reset: {type(exc).__name__}",
            param="all" if request.all else "session_id",
        ) from exc
    return {"status": "ok", "session_id": request.session_id, "cleared": int(existed)}


@router.post(
    "/process_call",
    response_model=None,
    responses={
        200: media(
            "WAV (default, or streamed), JSON (`?response=json`) or NDJSON events",
            "audio/wav",
            "application/json",
            "application/x-ndjson",
        ),
        **error_responses(400, 413, 422),
    },
)
async def process_call(
    http: Request,
    stt: SttDep,
    voice: VoiceDep,
    secretary: SecretaryDep,
    settings: SettingsDep,
    audio: Annotated[UploadFile | None, File(description="The caller's audio")] = None,
    session_id: Annotated[str, Form(pattern=SESSION_ID_PATTERN)] = "default",
    language: Annotated[str | None, Form(description="Caller's language")] = None,
    transcript: Annotated[
        str | None,
        Form(
            min_length=1,
            max_length=MAX_CHAT_CHARS,
            pattern=r"\S",
            description="The caller's words, already recognised (the phone service recognises "
            "them while the caller pauses): speech-to-text is skipped and `audio` may be left out",
        ),
    ] = None,
    turn_id: Annotated[
        str | None,
        Form(
            pattern=SESSION_ID_PATTERN,
            description="Names the turn in the session's history, so `/reset_conversation` "
            "with this `turn_id` can forget it (the phone service's speculative replies)",
        ),
    ] = None,
    actions: Annotated[
        str | None, Form(max_length=200, pattern=ACTIONS_PATTERN, description=ACTIONS_HELP)
    ] = None,
    caller: Annotated[
        str | None,
        Form(pattern=CALLER_PATTERN, description="The caller's number (bookings default to it)"),
    ] = None,
    response: Annotated[Literal["audio", "json", "events"], Query()] = "audio",
    stream: Annotated[bool, Query()] = False,
) -> Response:
    """STT → LLM → TTS for one caller utterance.

    Default: the reply as WAV with `X-Transcript`/`X-Reply` (percent-encoded UTF-8).
    `?response=json`: transcript, reply, base64 WAV and timings.
    `?stream=true`: WAV streamed while the reply is still being written.
    `?stream=true&response=events`: NDJSON events (transcript, sentence, audio as base64
    16-bit PCM, action, done with timings and actions) for machine clients such as the phone
    service.
    """
    data = None
    if transcript is None or audio is not None:
        data = await read_upload(audio, max_bytes=settings.stt_max_bytes, field="audio")
    ctx = TurnContext(
        stt=stt,
        voice=voice,
        secretary=secretary,
        stt_language=resolve_language(language, settings.stt_language),
        tts_language=resolve_language(None, settings.tts_language),
        first_clause_chars=settings.tts_first_clause_chars,
        channel=turn_channel([actions] if actions else [], caller, phone=True),
    )
    if stream:
        # Errors in the request (bad audio, language) must still be a clean 4xx, so the
        # first event (the transcript) is produced before the response starts.
        events = stream_turn(ctx, data, session_id, transcript, turn_id)
        with route_fields(**{AUDIO_FIELD: "audio"}):
            first = await anext(events)
        if response == "events":
            return StreamingResponse(
                _ndjson(first, events),
                media_type="application/x-ndjson",
                headers={"X-Session-Id": session_id},
            )
        return StreamingResponse(
            _wav_stream(events, voice.engine_for(None).sample_rate),
            media_type="audio/wav",
            headers={"X-Session-Id": session_id, "X-Transcript": quote(first.text)},
        )

    with route_fields(**{AUDIO_FIELD: "audio"}):  # the upload is `audio` here, not `file`
        turn = await run_turn(ctx, data, session_id, transcript, turn_id)
    if metrics := engine_metrics(http.app):
        metrics.observe_transcription(stt.name, turn.timings.stt_s)
        metrics.observe_synthesis(
            voice.primary, turn.timings.tts_first_audio_s or 0.0, wanted_clone=True
        )
    wav = await encode(encode_audio, turn.samples, turn.sample_rate, "wav")
    if response == "audio":
        return Response(
            wav,
            media_type="audio/wav",
            headers={
                "X-Transcript": quote(turn.transcript.text),
                "X-Reply": quote(turn.reply),
                "X-Session-Id": session_id,
                "X-Timings": json.dumps(turn.timings.rounded()),
            },
        )
    return JSONResponse(
        {
            "session_id": session_id,
            "transcript": turn.transcript.text,
            "language": turn.transcript.language,
            "reply": turn.reply,
            "fallback": turn.fallback,
            "actions": turn.actions,
            "audio_base64": base64.b64encode(wav).decode("ascii"),
            "audio_format": "wav",
            "sample_rate": turn.sample_rate,
            "timings": turn.timings.rounded(),
        }
    )


async def _wav_stream(events: AsyncIterator[TurnEvent], sample_rate: int) -> AsyncIterator[bytes]:
    encoder = StreamEncoder("wav", sample_rate)
    async for event in events:
        if (
            event.kind == "audio"
            and event.samples is not None
            and (chunk := encoder.encode(event.samples))
        ):
            yield chunk
    if tail := encoder.finish():
        yield tail


async def _ndjson(first: TurnEvent, events: AsyncIterator[TurnEvent]) -> AsyncIterator[bytes]:
    yield _event_line(first)
    async for event in events:
        yield _event_line(event)


def _event_line(event: TurnEvent) -> bytes:
    payload: dict = {"type": event.kind}
    if event.kind == "audio" and event.samples is not None:
        pcm = float_to_int16(event.samples).astype("<i2").tobytes()
        payload.update(
            format="pcm_s16le",
            sample_rate=event.sample_rate,
            data=base64.b64encode(pcm).decode("ascii"),
        )
    elif event.kind == "action":
        payload.update(name=event.extra["name"], arguments=event.extra.get("arguments", {}))
    elif event.kind == "done":
        payload.update(
            reply=event.text,
            fallback=event.fallback,
            **event.extra,
            timings=event.timings.rounded() if event.timings else None,
        )
    else:
        payload.update(text=event.text, **event.extra)
    return (json.dumps(payload, ensure_ascii=False) + "\n").encode("utf-8")
