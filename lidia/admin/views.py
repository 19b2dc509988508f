"""The dashboard's pages and actions under `/admin` (server-rendered with Jinja2).

GET pages: the calls list (filters, pagination), a call's page, exports, call audio, the
voice playground. POST actions (CSRF token + same origin): speak in the playground (proxied
to the orchestrator's `/tts`, so the browser never needs its API key), run retention now,
extract a call's message again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from lidia.admin.conversation import conversation
from lidia.admin.exports import CSV_BOM, call_json, calls_csv
from lidia.admin.files import audio_media_type, audio_name, call_audio_file
from lidia.admin.local_time import LocalClock
from lidia.admin.security import AdminAuth
from lidia.admin.voice_status import VoiceStatus, voice_label, voice_status
from lidia.admin.wording import (
    carrier_ru,
    channel_ru,
    count_ru,
    delivery_state_ru,
    event_ru,
    mode_ru,
    outcome_ru,
    plural_ru,
)
from lidia.audio.stereo import mono_mixdown
from lidia.core.clock import SYSTEM_CLOCK
from lidia.phone.appointments import appointment_lines
from lidia.phone.call_files import CALL_FILE, WHOLE_CALL_FILE
from lidia.phone.call_store import CallQuery
from lidia.phone.call_store.faults import CallStoreUnavailable, is_outage
from lidia.phone.caller_messages import extract_caller_message
from lidia.phone.deps import PhoneDep as Phone
from lidia.phone.orchestrator_client import OrchestratorError
from lidia.phone.retention import purge_old_calls

PAGE_SIZE = 25
MAX_EXPORT_ROWS = 100_000
MAX_PLAYGROUND_CHARS = 1000

ADMIN_DIR = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=ADMIN_DIR / "templates")
templates.env.filters.update(
    plural_ru=plural_ru,
    count_ru=count_ru,
    outcome_ru=outcome_ru,
    event_ru=event_ru,
    mode_ru=mode_ru,
    carrier_ru=carrier_ru,
    channel_ru=channel_ru,
    delivery_state_ru=delivery_state_ru,
)


class StoreOutageRoute(APIRoute):
    """A dashboard route that answers a clear 503 page, not a 500, while the call database
    is down (issue 15); the calls recorded meanwhile are journaled and appear once it is back."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                if not (isinstance(exc, CallStoreUnavailable) or is_outage(exc)):
                    raise
                return HTMLResponse(STORE_DOWN_PAGE, status_code=503, headers={"Retry-After": "10"})

        return handle


STORE_DOWN_PAGE = """<!doctype html><html lang="ru"><head><meta charset="utf-8">
<title>База звонков недоступна</title></head><body>
<h1>База звонков временно недоступна</h1>
<p>Звонки продолжают приниматься: всё записывается в локальный журнал и появится здесь,
как только база данных снова заработает. Обновите страницу через минуту.</p>
</body></html>"""
router = APIRouter(prefix="/admin", include_in_schema=False, route_class=StoreOutageRoute)


def admin_user(request: Request) -> str:
    auth: AdminAuth = request.app.state.admin_auth
    return auth.authenticate(request.headers.get("authorization"))


AdminUser = Annotated[str, Depends(admin_user)]


def checked_post(request: Request, user: AdminUser, csrf_token: Annotated[str, Form()] = "") -> str:
    """A POST's user, after its CSRF token and origin were checked (403 otherwise)."""
    request.app.state.admin_auth.check_post(request, user, csrf_token)
    return user


PostUser = Annotated[str, Depends(checked_post)]


def call_query(
    date_from: str | None = None,
    date_to: str | None = None,
    caller: str | None = None,
    q: str | None = None,
) -> CallQuery:
    return CallQuery(
        date_from=_date(date_from, "date_from"),
        date_to=_date(date_to, "date_to"),
        caller=(caller or "").strip() or None,
        text=(q or "").strip() or None,
    )


Filters = Annotated[CallQuery, Depends(call_query)]


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise HTTPException(
            status_code=400, detail=f"{name}: нужна дата в виде ГГГГ-ММ-ДД (2026-03-10)"
        ) from None


def _filter_params(query: CallQuery) -> dict[str, str]:
    params = {
        "date_from": query.date_from.isoformat() if query.date_from else "",
        "date_to": query.date_to.isoformat() if query.date_to else "",
        "caller": query.caller or "",
        "q": query.text or "",
    }
    return {key: value for key, value in params.items() if value}


def _page(request: Request, name: str, user: str, **context: Any) -> HTMLResponse:
    auth: AdminAuth = request.app.state.admin_auth
    phone = request.app.state.phone
    clock = LocalClock(request.app.state.admin_timezone, phone.clock if phone else SYSTEM_CLOCK)
    response = templates.TemplateResponse(
        request,
        name,
        {"user": user, "csrf_token": auth.csrf_token(user), "clock": clock, **context},
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("", response_class=HTMLResponse)
async def calls_list(
    request: Request,
    user: AdminUser,
    phone: Phone,
    filters: Filters,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = PAGE_SIZE,
) -> HTMLResponse:
    rows, total = await phone.store.search_calls(
        filters, offset=(page - 1) * per_page, limit=per_page
    )
    pages = max(1, math.ceil(total / per_page))
    params = _filter_params(filters)

    def page_url(number: int) -> str:
        extra = {"per_page": per_page} if per_page != PAGE_SIZE else {}
        return "/admin?" + urlencode({**params, **extra, "page": number})

    return _page(
        request,
        "admin/calls.html",
        user,
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        prev_url=page_url(page - 1) if page > 1 else None,
        next_url=page_url(page + 1) if page < pages else None,
        filters=filters,
        export_url="/admin/export.csv" + (f"?{urlencode(params)}" if params else ""),
        retention_days=phone.settings.calls_retention_days,
        notice=request.query_params.get("notice"),
        bookings=await phone.bookings.rows(phone.clock.now()) if phone.bookings else None,
    )


@router.get("/export.csv")
async def export_csv(user: AdminUser, phone: Phone, filters: Filters) -> Response:
    rows, _ = await phone.store.search_calls(filters, limit=MAX_EXPORT_ROWS)
    stamp = phone.clock.now().strftime("%Y%m%d-%H%M%S")
    # The BOM makes Excel on Windows read the file as UTF-8 (Cyrillic), not as cp1251.
    return Response(
        CSV_BOM + calls_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="calls-{stamp}.csv"'},
    )


@router.get("/calls/{call_sid}", response_class=HTMLResponse)
async def call_page(request: Request, call_sid: str, user: AdminUser, phone: Phone) -> HTMLResponse:
    call = await phone.store.get_call(call_sid)
    if call is None:
        raise HTTPException(status_code=404, detail="звонок не найден")
    turns = await phone.store.turns(call_sid)
    events = await phone.store.events(call_sid)
    folder = phone.settings.calls_log_dir

    def audio_url(stored: str | None) -> str | None:
        name = audio_name(stored, call_sid, folder)
        return f"/admin/calls/{call_sid}/audio/{name}" if name else None

    # The stereo call (caller left, Лидия right): written by the stream, or Twilio's dual
    # recording in gather mode; else the caller's side alone (older streamed calls).
    two_sided = audio_url(str(folder / call_sid / CALL_FILE))
    whole_call = two_sided or audio_url(str(folder / call_sid / WHOLE_CALL_FILE))
    return _page(
        request,
        "admin/call.html",
        user,
        call=call,
        turns=[
            (turn, audio_url(turn.caller_audio_path), audio_url(turn.reply_audio_path))
            for turn in turns
        ],
        events=[event for event in events if event.kind not in ("dtmf", "prompt")],
        deliveries=await phone.store.deliveries(call_sid),
        whole_call_url=whole_call,
        two_sided=two_sided is not None,
        lines=conversation(turns, events),
        appointments=appointment_lines(events),
        message_url=audio_url(call.message_audio_path),
        notice=request.query_params.get("notice"),
    )


@router.get("/calls/{call_sid}/export.json")
async def export_call(call_sid: str, user: AdminUser, phone: Phone) -> Response:
    call = await phone.store.get_call(call_sid)
    if call is None:
        raise HTTPException(status_code=404, detail="звонок не найден")
    data = call_json(call, await phone.store.turns(call_sid), await phone.store.events(call_sid))
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="call-{call_sid}.json"'},
    )


@router.get("/calls/{call_sid}/audio/{name}", response_model=None)
async def call_audio(
    call_sid: str,
    name: str,
    user: AdminUser,
    phone: Phone,
    mix: Annotated[Literal["mono"] | None, Query()] = None,
) -> FileResponse | Response:
    """A call's audio file; FileResponse answers `Range` requests, so `<audio>` can seek.
    `?mix=mono` averages a stereo WAV (the two-sided call) to one channel for players
    that want mono."""
    path = call_audio_file(phone.settings.calls_log_dir, call_sid, name)
    if path is None:
        raise HTTPException(status_code=404, detail="такой записи нет")
    if mix == "mono":
        if path.suffix.lower() != ".wav":
            raise HTTPException(status_code=400, detail="mix: моно-сведение только для WAV")
        mono = await asyncio.to_thread(lambda: mono_mixdown(path.read_bytes()))
        return Response(
            mono, media_type="audio/wav", headers={"Cache-Control": "private, no-store"}
        )
    return FileResponse(
        path, media_type=audio_media_type(path), headers={"Cache-Control": "private, no-store"}
    )


@router.post("/calls/{call_sid}/extract")
async def extract_again(call_sid: str, user: PostUser, phone: Phone) -> RedirectResponse:
    message = await extract_caller_message(phone, call_sid)
    notice = (
        "Сообщение извлечено заново." if message else "Звонящий ничего не сказал: извлекать нечего."
    )
    return RedirectResponse(
        f"/admin/calls/{call_sid}?" + urlencode({"notice": notice}), status_code=303
    )


@router.post("/retention")
async def run_retention(user: PostUser, phone: Phone) -> RedirectResponse:
    days = phone.settings.calls_retention_days
    if days is None:
        notice = "Срок хранения не задан (CALLS_RETENTION_DAYS): ничего не удалено."
    else:
        result = await purge_old_calls(phone.store, Path(phone.settings.calls_log_dir), days)
        deleted = count_ru(len(result.deleted), "звонок", "звонка", "звонков")
        notice = f"Удалено: {deleted} старше {count_ru(days, 'дня', 'дней', 'дней')}"
        if result.kept:
            kept = count_ru(len(result.kept), "звонок", "звонка", "звонков")
            notice += f"; оставлено {kept}: их файлы не удалось удалить"
        notice += "."
    return RedirectResponse("/admin?" + urlencode({"notice": notice}), status_code=303)


@router.get("/playground", response_class=HTMLResponse)
async def playground(request: Request, user: AdminUser, phone: Phone) -> HTMLResponse:
    status: VoiceStatus | None = None
    engines: list[str] = []  # the orchestrator's registry: the phone service knows no engine
    try:
        voices = await phone.orchestrator.voices()
        status = voice_status(await phone.orchestrator.health_report())
        engines = await phone.orchestrator.tts_engines()
        error = None
    except OrchestratorError as exc:
        voices, error = [], str(exc)
    return _page(
        request,
        "admin/playground.html",
        user,
        voices=[{**voice, "label": voice_label(voice, status)} for voice in voices],
        voice_status=status,
        engines=["", *engines],  # "" = the orchestrator's choice
        voices_error=error,
        max_chars=MAX_PLAYGROUND_CHARS,
    )


@router.post("/playground/speak")
async def playground_speak(
    user: PostUser,
    phone: Phone,
    text: Annotated[str, Form(max_length=MAX_PLAYGROUND_CHARS)],
    voice: Annotated[str, Form()] = "",
    engine: Annotated[str, Form()] = "",
) -> Response:
    """The orchestrator's `/tts` for the typed text, as WAV (502 with the reason on failure)."""
    if not text.strip():
        raise HTTPException(status_code=400, detail="введите текст, который нужно озвучить")
    try:
        if engine and engine not in await phone.orchestrator.tts_engines():
            raise HTTPException(status_code=400, detail=f"неизвестный движок {engine!r}")
        wav = await phone.orchestrator.tts_wav(
            text, phone.settings.tts_language, voice=voice or None, engine=engine or None
        )
    except OrchestratorError as exc:
        raise HTTPException(status_code=502, detail=f"Оркестратор не озвучил текст: {exc}") from exc
    return Response(wav, media_type="audio/wav", headers={"Cache-Control": "no-store"})
