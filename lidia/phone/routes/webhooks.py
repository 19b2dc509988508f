"""Twilio's webhooks: `POST /twilio/voice`, `/twilio/gather`, `/twilio/recording`, `/twilio/status`,
`/twilio/dial` (the `<Dial action>` of a transfer: an unanswered call comes back here), and
`/twilio/call-recording` (gather mode's whole-call recording is ready: `twilio_call_recording`).

Every request is signature-checked (`deps.TwilioForm`). A webhook never answers with a 5xx:
any failure becomes TwiML with the apology and a `<Record>` for a message; the status
callback always answers 204.
"""

from __future__ import annotations

import base64
import logging
import math
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lidia.phone.call_actions import call_actions
from lidia.phone.call_end import after_call
from lidia.phone.call_files import MESSAGE_FILE, turn_file, write_file
from lidia.phone.call_store import TurnRecord
from lidia.phone.capacity import busy_twiml
from lidia.phone.context import PhoneContext
from lidia.phone.deps import PhoneDep, TwilioForm
from lidia.phone.ids import is_call_sid
from lidia.phone.recordings import fetch_recording
from lidia.phone.stream_tokens import issue_stream_token
from lidia.phone.transfer import DIAL_NOT_ANSWERED, TRANSFER_UNANSWERED_TEXT, gather_actions_twiml
from lidia.phone.twilio_call_recording import save_twilio_call_recording
from lidia.phone.twiml import (
    CALL_RECORDING_PATH,
    SIGNATURE_REFUSED,
    TWIML_RESPONSES,
    apology_twiml,
    gather_twiml,
    hangup_twiml,
    message_after_dial_twiml,
    record_turn_twiml,
    stream_twiml,
    twilio_form,
    twiml_response,
)

log = logging.getLogger("phone")

router = APIRouter(tags=["twilio"])

# Twilio's statuses after which nothing more happens on the call.
FINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


@router.post("/twilio/voice", responses=TWIML_RESPONSES, openapi_extra=twilio_form("voice"))
async def twilio_voice(request: Request, form: TwilioForm, phone: PhoneDep) -> Response:
    return await _never_5xx(request, phone, form, lambda: _answer_call(request, phone, form))


@router.post("/twilio/gather", responses=TWIML_RESPONSES, openapi_extra=twilio_form("gather"))
async def twilio_gather(request: Request, form: TwilioForm, phone: PhoneDep) -> Response:
    return await _never_5xx(request, phone, form, lambda: _gather_turn(request, phone, form))


@router.post(
    "/twilio/recording",
    responses=TWIML_RESPONSES,
    openapi_extra=twilio_form("recording", query={"purpose": "message (the caller's), or turn"}),
)
async def twilio_recording(request: Request, form: TwilioForm, phone: PhoneDep) -> Response:
    return await _never_5xx(request, phone, form, lambda: _recording(request, phone, form))


@router.post("/twilio/dial", responses=TWIML_RESPONSES, openapi_extra=twilio_form("dial"))
async def twilio_dial(request: Request, form: TwilioForm, phone: PhoneDep) -> Response:
    return await _never_5xx(request, phone, form, lambda: _dial_ended(request, phone, form))


@router.post(
    "/twilio/status",
    status_code=204,
    responses={204: {"description": "Recorded (always, once signed)"}, **SIGNATURE_REFUSED},
    openapi_extra=twilio_form("status"),
)
async def twilio_status(form: TwilioForm, phone: PhoneDep) -> Response:
    call_sid = form.get("CallSid", "")
    try:
        if is_call_sid(call_sid):
            await phone.capacity.records_pending.settled(call_sid)  # a refused call's record
            await _ensure_record(phone, form)
            status = form.get("CallStatus", "completed")
            duration = _seconds(form.get("CallDuration"))
            await phone.store.finish_call(call_sid, status=status, duration_s=duration)
            if status in FINAL_CALL_STATUSES:
                phone.capacity.release(call_sid)
                phone.in_background(after_call(phone, call_sid))
    except Exception:  # Twilio must get a 2xx; the failure is in our log
        log.exception("status callback for %s not recorded", call_sid)
    return Response(status_code=204)


@router.post(
    CALL_RECORDING_PATH,
    status_code=204,
    responses={204: {"description": "Accepted (always, once signed)"}, **SIGNATURE_REFUSED},
    openapi_extra=twilio_form("call-recording"),
)
async def twilio_call_recording(form: TwilioForm, phone: PhoneDep) -> Response:
    """Twilio's whole-call recording (gather mode) is ready: fetched and saved as `call.wav`
    after the 204 (a long call's file takes longer than Twilio waits for an answer)."""
    if is_call_sid(form.get("CallSid", "")):
        phone.in_background(save_twilio_call_recording(phone, form))
    else:
        log.warning("call recording callback without a valid CallSid ignored")
    return Response(status_code=204)


def _seconds(value: str | None) -> float | None:
    """Twilio's CallDuration, or None when it is missing or not a finite number."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) else None


async def _never_5xx(
    request: Request,
    phone: PhoneContext,
    form: dict[str, str],
    answer: Callable[[], Awaitable[Response]],
) -> Response:
    """Run a webhook; any failure becomes the apology and a `<Record>` for a message."""
    try:
        return await answer()
    except Exception as exc:
        call_sid = form.get("CallSid", "")
        log.exception("webhook %s failed for call %s", request.url.path, call_sid)
        with suppress(Exception):
            if is_call_sid(call_sid):
                await phone.store.add_error(call_sid, f"{request.url.path}: {exc!r}")
        apology = phone.prompts.apology
        play_url = _play_url(request, phone, apology.wav) if apology is not None else None
        return twiml_response(apology_twiml(phone.settings, _base_url(request, phone), play_url))


def _base_url(request: Request, phone: PhoneContext) -> str:
    """The public base URL Twilio reaches us at (configured, or the request's own)."""
    return (phone.settings.public_base_url or str(request.base_url)).rstrip("/")


def _play_url(request: Request, phone: PhoneContext, wav: bytes) -> str:
    return f"{_base_url(request, phone)}/audio/{phone.audio.put(wav)}"


def _gather_answer(request: Request, phone: PhoneContext, wav: bytes) -> Response:
    base = _base_url(request, phone)
    return twiml_response(gather_twiml(phone.settings, base, _play_url(request, phone, wav)))


async def _answer_call(request: Request, phone: PhoneContext, form: dict[str, str]) -> Response:
    settings = phone.settings
    call_sid = form.get("CallSid", "")
    if not is_call_sid(call_sid):
        raise ValueError(f"webhook without a valid CallSid: {call_sid[:64]!r}")
    # The gate first: a refused call hears «все линии заняты» before any database write.
    if not phone.capacity.admit(call_sid, phone.active_calls):
        return await _all_lines_busy(request, phone, form)
    created = await _create_record(phone, form)
    if settings.phone_mode == "stream":
        base = _base_url(request, phone)
        url = phone.checker.public_url("/twilio/media", websocket=True, fallback=base)
        token = await issue_stream_token(phone.store, call_sid)  # binds the one stream
        return twiml_response(stream_twiml(url, call_sid, form.get("From", ""), token))
    greeting = await phone.prompts.get(settings.greeting_text)
    base = _base_url(request, phone)
    play_url = _play_url(request, phone, greeting.wav)
    # Twilio records the whole call from here (both sides); once, not again on a retry.
    return twiml_response(gather_twiml(settings, base, play_url, record_call=created))


async def _create_record(phone: PhoneContext, form: dict[str, str]) -> bool:
    """The call's record; False when it exists already (Twilio retried the webhook)."""
    return await phone.store.create_call(
        form["CallSid"],
        from_number=form.get("From"),
        to_number=form.get("To"),
        mode=phone.settings.phone_mode,
        carrier="twilio",
    )


async def _ensure_record(phone: PhoneContext, form: dict[str, str]) -> None:
    """A callback for a call we hold no record of (its first write was lost in a crash,
    e.g. a refused call's, written after the busy answer): the record is made from the
    callback's own fields, so the call's message and status are still kept."""
    call_sid = form["CallSid"]
    try:
        known = await phone.store.get_call(call_sid) is not None
    except Exception:  # the database is down: the journal keeps what the callback writes
        return
    if not known and await _create_record(phone, form):
        log.warning("call %s: no record found at its callback; recreated from it", call_sid)
        await phone.store.add_event(call_sid, "record_recreated", {})


async def _all_lines_busy(request: Request, phone: PhoneContext, form: dict[str, str]) -> Response:
    """Beyond MAX_CONCURRENT_CALLS: «все линии заняты» at once, then a message (capacity.py).

    The prompt is cached and the record is written after the answer (`records_pending`)."""
    call_sid = form["CallSid"]
    log.warning("call %s refused: all %s lines busy", call_sid, phone.capacity.limit)
    write = phone.capacity.records_pending.start(call_sid, _record_refused_call(phone, form))
    phone.in_background(write)
    prompt = await phone.prompts.get(phone.settings.busy_text)
    play_url = _play_url(request, phone, prompt.wav)
    return twiml_response(busy_twiml(phone.settings, _base_url(request, phone), play_url))


async def _record_refused_call(phone: PhoneContext, form: dict[str, str]) -> None:
    """A refused call's record and its `over_capacity` event (never raises: in the background)."""
    try:
        await _create_record(phone, form)
        limit = phone.capacity.limit
        await phone.store.add_event(form["CallSid"], "over_capacity", {"limit": limit})
    except Exception:
        log.exception("record of refused call %s not written", form["CallSid"])


async def _gather_turn(request: Request, phone: PhoneContext, form: dict[str, str]) -> Response:
    """Twilio's recognised text → `/chat` → `/tts` → the reply inside the next `<Gather>`."""
    call_sid = form["CallSid"]
    text = form.get("SpeechResult", "").strip()
    if not text:
        return twiml_response(record_turn_twiml(phone.settings, _base_url(request, phone)))
    started = time.perf_counter()
    result = await phone.orchestrator.chat(
        text, call_sid, actions=call_actions(phone.settings, phone.clock), caller=form.get("From")
    )
    chat_s = time.perf_counter() - started
    reply = str(result["reply"])
    wav = await phone.orchestrator.tts_wav(reply, phone.settings.tts_language)
    index = await _next_turn_index(phone, call_sid)
    reply_path = await _save(phone, call_sid, turn_file(index, "reply"), wav)
    await phone.store.add_turn(
        call_sid,
        TurnRecord(
            turn_index=index,
            transcript=text,
            reply=reply,
            reply_audio_path=reply_path,
            fallback=bool(result.get("fallback")),
            latencies={
                "chat_s": round(chat_s, 4),
                "tts_s": round(time.perf_counter() - started - chat_s, 4),
                "confidence": form.get("Confidence"),
            },
        ),
    )
    return await _acted_on(request, phone, call_sid, result, wav) or _gather_answer(
        request, phone, wav
    )


async def _dial_ended(request: Request, phone: PhoneContext, form: dict[str, str]) -> Response:
    """The transfer's dialled leg ended: hang up after a conversation with the person; when
    nobody answered, Лидия offers to take a message (then a `<Record>`)."""
    call_sid = form["CallSid"]
    status = form.get("DialCallStatus", "")
    await phone.store.add_event(call_sid, "transfer_result", {"DialCallStatus": status})
    if status not in DIAL_NOT_ANSWERED:
        return twiml_response(hangup_twiml())
    await phone.store.update_call(call_sid, outcome="transfer_unanswered")
    prompt = await phone.prompts.get(TRANSFER_UNANSWERED_TEXT)
    play_url = _play_url(request, phone, prompt.wav)
    base = _base_url(request, phone)
    return twiml_response(
        message_after_dial_twiml(phone.settings, base, play_url, TRANSFER_UNANSWERED_TEXT)
    )


async def _acted_on(
    request: Request, phone: PhoneContext, call_sid: str, result: dict, wav: bytes
) -> Response | None:
    """The TwiML for a turn whose actions change the call (transfer, hang-up), else None."""
    actions = result.get("actions") or []
    if not actions:
        return None
    base = _base_url(request, phone)
    twiml = await gather_actions_twiml(
        phone, call_sid, actions, base_url=base, reply_url=_play_url(request, phone, wav)
    )
    return twiml_response(twiml) if twiml is not None else None


async def _recording(request: Request, phone: PhoneContext, form: dict[str, str]) -> Response:
    """A `<Record>` finished: the caller's message (`?purpose=message`), or a turn."""
    call_sid = form["CallSid"]
    await phone.capacity.records_pending.settled(call_sid)  # a refused call's record
    await _ensure_record(phone, form)
    recording = await fetch_recording(phone.settings, form["RecordingUrl"])
    if request.query_params.get("purpose", "turn") == "message":
        path = await _save(phone, call_sid, MESSAGE_FILE, recording)
        await phone.store.update_call(
            call_sid,
            message_audio_path=path,
            outcome="message",
            message_recording_url=form["RecordingUrl"],
        )
        return twiml_response(hangup_twiml())
    index = await _next_turn_index(phone, call_sid)
    caller_path = await _save(phone, call_sid, turn_file(index, "caller"), recording)
    result = await phone.orchestrator.process_call_json(
        recording,
        call_sid,
        actions=call_actions(phone.settings, phone.clock),
        caller=form.get("From"),
    )
    wav = base64.b64decode(result["audio_base64"])
    reply_path = await _save(phone, call_sid, turn_file(index, "reply"), wav)
    await phone.store.add_turn(
        call_sid,
        TurnRecord(
            turn_index=index,
            caller_audio_path=caller_path,
            transcript=result.get("transcript"),
            reply=result.get("reply"),
            reply_audio_path=reply_path,
            fallback=bool(result.get("fallback")),
            latencies=result.get("timings") or {},
        ),
    )
    return await _acted_on(request, phone, call_sid, result, wav) or _gather_answer(
        request, phone, wav
    )


async def _next_turn_index(phone: PhoneContext, call_sid: str) -> int:
    return len(await phone.store.turns(call_sid)) + 1


async def _save(phone: PhoneContext, call_sid: str, name: str, data: bytes) -> str:
    return await write_file(phone.call_dir(call_sid) / name, data)
