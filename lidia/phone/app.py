"""Phone service (port 8001): Twilio calls in, the orchestrator's turns out, every call logged.

Run:  python phone_service.py
  or: uvicorn phone_service:create_app --factory --host 0.0.0.0 --port 8001

Endpoints (point the Twilio number's "A call comes in" webhook at `POST /twilio/voice` and
its status callback at `POST /twilio/status`):
- `POST /twilio/voice`     creates the call record; TwiML per `PHONE_MODE`:
    `stream`: `<Connect><Stream url="wss://…/twilio/media">` (real time, barge-in);
    `gather`: greeting `<Play>` inside `<Gather input="speech">` → `POST /twilio/gather`.
- `POST /twilio/gather`    Twilio's recognised text → `/chat` → `/tts` → `<Play>` + `<Gather>`;
                           nothing recognised → `<Record>` → `POST /twilio/recording`.
- `POST /twilio/recording` fetches the recording (account credentials) → `/process_call`,
                           or stores it as the caller's message (`?purpose=message`).
- `POST /twilio/status`    finalises the record (duration, outcome).
- `WS   /twilio/media`     Twilio Media Streams (`media_stream.MediaStreamSession`).
- `GET  /audio/{id}`       generated audio for `<Play>`, unguessable ids, expiring.
- `GET  /`, `GET /health`.
- `GET  /admin`            the calls dashboard (`admin/`; HTTP Basic with ADMIN_PASSWORD).
Every request from Twilio is signature-checked (`twilio_security`). A webhook never answers
with a 5xx: any failure becomes TwiML with the apology and a `<Record>` for a message.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import httpx
from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute
from starlette.routing import WebSocketRoute
from twilio.twiml.voice_response import Connect, Gather, VoiceResponse

from lidia import __version__
from lidia.admin import install_admin
from lidia.core.serve import serve
from lidia.core.settings import Settings, get_settings
from lidia.phone.call_store import CallStore, SqlCallStore, TurnRecord, database_url_for
from lidia.phone.media_stream import (
    CALL_SID_PATTERN,
    MediaStreamSession,
    OrchestratorClient,
    PhoneContext,
    PromptCache,
    extract_caller_message,
)
from lidia.phone.retention import RetentionTask
from lidia.phone.twilio_security import TwilioSignatureChecker

log = logging.getLogger("phone")

SERVICE_NAME = "AI Secretary Лидия — phone service"
VERSION = __version__
TWIML = "application/xml"

GATHER_LOCALES = {
    "ru": "ru-RU",
    "en": "en-US",
    "uk": "uk-UA",
    "de": "de-DE",
    "fr": "fr-FR",
    "es": "es-ES",
    "it": "it-IT",
    "pt": "pt-BR",
    "pl": "pl-PL",
    "tr": "tr-TR",
}


def gather_locale(stt_language: str, tts_language: str) -> str:
    """Twilio's `<Gather language>` for the orchestrator's STT language ("ru" → "ru-RU")."""
    language = tts_language if stt_language == "auto" else stt_language
    return GATHER_LOCALES.get(language.lower(), "ru-RU" if "-" not in language else language)


# ------------------------------------------------------------------------------ audio for <Play>


class AudioCache:
    """Generated audio served at `/audio/{id}`: ids from `secrets.token_urlsafe`, expiring."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._items: dict[str, tuple[bytes, str, float]] = {}

    def put(self, data: bytes, content_type: str = "audio/wav") -> str:
        self._purge()
        audio_id = secrets.token_urlsafe(24)
        self._items[audio_id] = (data, content_type, time.monotonic() + self.ttl_s)
        return audio_id

    def get(self, audio_id: str) -> tuple[bytes, str] | None:
        item = self._items.get(audio_id)
        if item is None or item[2] < time.monotonic():
            self._items.pop(audio_id, None)
            return None
        return item[0], item[1]

    def _purge(self) -> None:
        now = time.monotonic()
        for key in [k for k, (_, _, expires) in self._items.items() if expires < now]:
            del self._items[key]


# ------------------------------------------------------------------------------ the app


def create_app(
    settings: Settings | None = None,
    *,
    orchestrator_url: str | None = None,
    call_store: CallStore | None = None,
) -> FastAPI:
    """Build the phone service. A `call_store` passed in is started here but not closed."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.calls_log_dir.mkdir(parents=True, exist_ok=True)
        store = call_store or SqlCallStore(
            database_url_for(settings.database_url, settings.calls_log_dir)
        )
        await store.start()
        api_key = settings.orchestrator_api_key
        orchestrator = OrchestratorClient(
            orchestrator_url or settings.orchestrator_url,
            api_key=api_key.get_secret_value() if api_key else None,
            timeout_s=settings.phone_turn_timeout_s,
        )
        checker = TwilioSignatureChecker.from_settings(settings)
        checker.log_configuration()
        prompts = PromptCache(
            orchestrator, language=settings.tts_language, espeak_voice=settings.espeak_voice
        )
        apology = await prompts.load_apology(settings.apology_text)
        greeting = await prompts.get(settings.greeting_text)
        log.info("prompts ready (apology: %s, greeting: %s)", apology.source, greeting.source)
        app.state.phone = PhoneContext(
            settings, store, orchestrator, prompts, settings.calls_log_dir
        )
        app.state.checker = checker
        app.state.audio = AudioCache(settings.audio_ttl_s)
        retention = start_retention(settings, store)
        app.state.retention = retention
        log.info("phone service ready on port %s", settings.phone_service_port)
        try:
            yield
        finally:
            if retention is not None:
                await retention.stop()
            await app.state.phone.wait_background()
            await orchestrator.aclose()
            if call_store is None:
                await store.close()

    app = FastAPI(title=SERVICE_NAME, version=VERSION, lifespan=lifespan)
    _add_routes(app, settings)
    install_admin(app, settings)
    return app


def start_retention(settings: Settings, store: CallStore) -> RetentionTask | None:
    """With `CALLS_RETENTION_DAYS` set: purge old calls now and every hour, in the background."""
    if settings.calls_retention_days is None:
        return None
    task = RetentionTask(store, settings.calls_log_dir, settings.calls_retention_days)
    task.start()
    return task


def _phone(request: Request) -> PhoneContext:
    return request.app.state.phone


async def _twilio_form(request: Request) -> dict[str, str]:
    checker: TwilioSignatureChecker = request.app.state.checker
    return await checker.check_http(request)


PhoneDep = Annotated[PhoneContext, Depends(_phone)]
TwilioForm = Annotated[dict[str, str], Depends(_twilio_form)]


def _add_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/")
    async def service_info(request: Request) -> dict:
        return {
            "service": SERVICE_NAME,
            "version": VERSION,
            "mode": settings.phone_mode,
            "endpoints": sorted(
                f"{method} {route.path}"
                for route in request.app.routes
                # Only plain routes: included routers and mounts (the dashboard) have no path.
                if isinstance(route, (StarletteRoute, WebSocketRoute))
                for method in (getattr(route, "methods", None) or {"WS"})
                if method != "HEAD" and not route.path.startswith(("/docs", "/redoc", "/openapi"))
            ),
            "admin": "/admin",
        }

    @app.get("/health")
    async def health(request: Request, phone: PhoneDep) -> JSONResponse:
        """200 always while serving; "degraded" when the orchestrator is unreachable."""
        reachable = await phone.orchestrator.healthy()
        checker: TwilioSignatureChecker = request.app.state.checker
        return JSONResponse(
            {
                "status": "ok" if reachable else "degraded",
                "service": SERVICE_NAME,
                "orchestrator": {"url": phone.orchestrator.base_url, "reachable": reachable},
                "active_calls": len(phone.active_calls),
                "twilio_signature_validation": checker.enabled,
                "mode": settings.phone_mode,
                "apology_voice": phone.prompts.apology.source if phone.prompts.apology else None,
            }
        )

    @app.get("/audio/{audio_id}")
    async def audio(audio_id: str, request: Request) -> Response:
        item = request.app.state.audio.get(audio_id)
        if item is None:
            raise HTTPException(status_code=404, detail="unknown or expired audio")
        return Response(item[0], media_type=item[1], headers={"Cache-Control": "no-store"})

    @app.post("/twilio/voice")
    async def twilio_voice(request: Request, form: TwilioForm, phone: PhoneDep) -> Response:
        return await _never_5xx(request, phone, form, lambda: _answer_call(request, phone, form))

    @app.post("/twilio/gather")
    async def twilio_gather(request: Request, form: TwilioForm, phone: PhoneDep) -> Response:
        return await _never_5xx(request, phone, form, lambda: _gather_turn(request, phone, form))

    @app.post("/twilio/recording")
    async def twilio_recording(request: Request, form: TwilioForm, phone: PhoneDep) -> Response:
        return await _never_5xx(request, phone, form, lambda: _recording(request, phone, form))

    @app.post("/twilio/status")
    async def twilio_status(form: TwilioForm, phone: PhoneDep) -> Response:
        call_sid = form.get("CallSid", "")
        try:
            if CALL_SID_PATTERN.match(call_sid):
                duration = form.get("CallDuration")
                status = form.get("CallStatus", "completed")
                await phone.store.finish_call(
                    call_sid, status=status, duration_s=_seconds(duration)
                )
                if status in FINAL_CALL_STATUSES:
                    phone.in_background(_extract_message_when_done(phone, call_sid))
        except Exception:  # Twilio must get a 2xx; the failure is in our log
            log.exception("status callback for %s not recorded", call_sid)
        return Response(status_code=204)

    @app.websocket("/twilio/media")
    async def twilio_media(websocket: WebSocket) -> None:
        checker: TwilioSignatureChecker = websocket.app.state.checker
        if not checker.check_websocket(websocket):
            await websocket.close(code=1008)  # before accept: the upgrade gets HTTP 403
            return
        await websocket.accept()
        await MediaStreamSession(websocket.app.state.phone, websocket).run()


# ------------------------------------------------------------------------------ webhooks

# Twilio's statuses after which nothing more happens on the call.
FINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
MESSAGE_WAIT_S = 60.0


async def _extract_message_when_done(phone: PhoneContext, call_sid: str) -> None:
    """After Twilio's final status: once the media stream (if any) has written its last
    turn, extract the caller's message and store it (never raises)."""
    try:
        session = phone.active_calls.get(call_sid)
        if session is not None:
            await asyncio.wait_for(session.finished.wait(), MESSAGE_WAIT_S)
        await extract_caller_message(phone, call_sid)
    except Exception:
        log.exception("message extraction for call %s failed", call_sid)


def _base_url(request: Request, settings: Settings) -> str:
    return (settings.public_base_url or str(request.base_url)).rstrip("/")


def _twiml(response: VoiceResponse) -> Response:
    return Response(str(response), media_type=TWIML)


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
            if CALL_SID_PATTERN.match(call_sid):
                await phone.store.add_error(call_sid, f"{request.url.path}: {exc!r}")
        return _twiml(_apology_twiml(request, phone))


def _apology_twiml(request: Request, phone: PhoneContext) -> VoiceResponse:
    base = _base_url(request, phone.settings)
    response = VoiceResponse()
    apology = phone.prompts.apology
    if apology is not None:
        response.play(f"{base}/audio/{request.app.state.audio.put(apology.wav)}")
    else:
        response.say(phone.settings.apology_text, language="ru-RU")
    response.record(
        action=f"{base}/twilio/recording?purpose=message",
        method="POST",
        max_length=phone.settings.max_message_s,
        play_beep=True,
    )
    return response


async def _answer_call(request: Request, phone: PhoneContext, form: dict[str, str]) -> Response:
    settings = phone.settings
    call_sid = form.get("CallSid", "")
    if not CALL_SID_PATTERN.match(call_sid):
        raise ValueError(f"webhook without a valid CallSid: {call_sid[:64]!r}")
    await phone.store.create_call(
        call_sid, from_number=form.get("From"), to_number=form.get("To"), mode=settings.phone_mode
    )
    base = _base_url(request, settings)
    if settings.phone_mode == "stream":
        checker: TwilioSignatureChecker = request.app.state.checker
        response = VoiceResponse()
        connect = Connect()
        stream = connect.stream(
            url=checker.public_url("/twilio/media", websocket=True, fallback=base)
        )
        stream.parameter(name="callSid", value=call_sid)
        stream.parameter(name="from", value=form.get("From", ""))
        response.append(connect)
        return _twiml(response)
    greeting = await phone.prompts.get(settings.greeting_text)
    return _twiml(_gather_response(request, phone, greeting.wav))


def _gather_response(request: Request, phone: PhoneContext, wav: bytes) -> VoiceResponse:
    """`<Gather>` (with the audio inside, so the caller may talk over it), then a `<Record>`
    for callers Twilio's recognition misses."""
    settings = phone.settings
    base = _base_url(request, settings)
    response = VoiceResponse()
    gather = Gather(
        input="speech",
        language=gather_locale(settings.stt_language, settings.tts_language),
        speech_timeout="auto",
        action=f"{base}/twilio/gather",
        method="POST",
    )
    gather.play(f"{base}/audio/{request.app.state.audio.put(wav)}")
    response.append(gather)
    response.record(
        action=f"{base}/twilio/recording?purpose=turn",
        method="POST",
        max_length=int(settings.max_utterance_s),
        timeout=2,
        play_beep=False,
    )
    return response


async def _next_turn_index(phone: PhoneContext, call_sid: str) -> int:
    return len(await phone.store.turns(call_sid)) + 1


async def _gather_turn(request: Request, phone: PhoneContext, form: dict[str, str]) -> Response:
    call_sid = form["CallSid"]
    text = form.get("SpeechResult", "").strip()
    if not text:
        response = VoiceResponse()
        response.record(
            action=f"{_base_url(request, phone.settings)}/twilio/recording?purpose=turn",
            method="POST",
            max_length=int(phone.settings.max_utterance_s),
            timeout=2,
            play_beep=False,
        )
        return _twiml(response)
    started = time.perf_counter()
    result = await phone.orchestrator.chat(text, call_sid)
    chat_s = time.perf_counter() - started
    reply = str(result["reply"])
    wav = await phone.orchestrator.tts_wav(reply, phone.settings.tts_language)
    index = await _next_turn_index(phone, call_sid)
    reply_path = await _save(phone, call_sid, f"turn{index:03d}_reply.wav", wav)
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
    return _twiml(_gather_response(request, phone, wav))


async def _recording(request: Request, phone: PhoneContext, form: dict[str, str]) -> Response:
    call_sid = form["CallSid"]
    purpose = request.query_params.get("purpose", "turn")
    recording = await _fetch_recording(phone.settings, form["RecordingUrl"])
    if purpose == "message":
        path = await _save(phone, call_sid, "message.wav", recording)
        await phone.store.update_call(
            call_sid,
            message_audio_path=path,
            outcome="message",
            message_recording_url=form["RecordingUrl"],
        )
        response = VoiceResponse()
        response.hangup()
        return _twiml(response)
    index = await _next_turn_index(phone, call_sid)
    caller_path = await _save(phone, call_sid, f"turn{index:03d}_caller.wav", recording)
    result = await phone.orchestrator.process_call_json(recording, call_sid)
    wav = base64.b64decode(result["audio_base64"])
    reply_path = await _save(phone, call_sid, f"turn{index:03d}_reply.wav", wav)
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
    return _twiml(_gather_response(request, phone, wav))


async def _fetch_recording(settings: Settings, url: str) -> bytes:
    """Download a Twilio recording with the account's credentials (HTTP basic).

    Only from TWILIO_MEDIA_HOSTS over https (loopback allowed for tests and local proxies):
    with signature checks off, anyone could post a RecordingUrl and collect the credentials.
    The body is capped at STT_MAX_BYTES.
    """
    if not is_twilio_media_url(url, settings.twilio_media_hosts):
        raise ValueError(f"RecordingUrl host is not a Twilio media host: {url[:80]!r}")
    auth = None
    if settings.twilio_account_sid and settings.twilio_auth_token:
        auth = (settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value())
    data = bytearray()
    async with (
        # httpx drops the credentials if a redirect leaves the host.
        httpx.AsyncClient(timeout=30, follow_redirects=True) as client,
        client.stream("GET", url, auth=auth) as response,
    ):
        response.raise_for_status()
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > settings.stt_max_bytes:
                raise ValueError("recording is larger than STT_MAX_BYTES")
    return bytes(data)


def _seconds(value: str | None) -> float | None:
    """Twilio's CallDuration, or None when it is missing or not a finite number."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) else None


def is_twilio_media_url(url: str, allowed_hosts: str) -> bool:
    parsed = urlsplit(url)
    host = (parsed.hostname or "").lower()
    if host in ("127.0.0.1", "localhost", "::1"):
        return parsed.scheme in ("http", "https")
    allowed = [h.strip().lower() for h in allowed_hosts.split(",") if h.strip()]
    in_list = any(host == h or host.endswith("." + h) for h in allowed)
    return parsed.scheme == "https" and in_list


async def _save(phone: PhoneContext, call_sid: str, name: str, data: bytes) -> str:
    path: Path = phone.call_dir(call_sid) / name
    await asyncio.to_thread(path.write_bytes, data)  # disk I/O stays off the event loop
    return str(path)


def main() -> None:
    settings = get_settings()
    serve(
        create_app(settings),
        host=settings.phone_service_host,
        port=settings.phone_service_port,
        log_level=settings.log_level,
    )
