"""Лидия's turn logic: persona prompt + session history + LLM, with spoken fallbacks.

`Secretary.reply` / `Secretary.reply_stream` never raise: any LLM failure (not configured,
errors after retries, safety blocks, empty replies) and any session-store failure turns into a
Russian fallback reply that offers to take a message, and the turn is still recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from lidia.core.settings import Settings
from lidia.llm.base import ChatMessage, ChatModel
from lidia.llm.errors import (
    LLMError,
    LLMInternalError,
    LLMMalformedError,
    LLMNotConfiguredError,
)
from lidia.llm.health import LLMHealth
from lidia.secretary.sessions import SessionStore

logger = logging.getLogger(__name__)

NO_SPEECH_REPLY = "Извините, я вас не расслышала. Повторите, пожалуйста."
FALLBACK_REPLY = (
    "Извините, у меня сейчас технические неполадки. Я могу записать ваше сообщение: "
    "назовите, пожалуйста, ваше имя и номер телефона, и мы вам перезвоним."
)
# Said after a reply that broke off midway: the caller already heard its beginning.
INTERRUPTED_REPLY_TAIL = (
    "Извините, у меня прервалась связь. Если хотите, я запишу ваше сообщение, и мы вам перезвоним."
)

# What the persona says when the company setting is empty, so the prompt never reads "Услуги: ."
_EMPTY_COMPANY_FIELD = "сведений нет, не придумывай их и предложи передать вопрос сотруднику"


@dataclass(frozen=True)
class TurnResult:
    """One finished turn. `llm_first_token_s` is None when no LLM text arrived."""

    reply: str
    fallback: bool
    error: str | None
    llm_first_token_s: float | None
    llm_total_s: float


def render_persona(template: str, settings: Settings) -> str:
    """Fill `{company_name}`, `{company_hours}`, `{company_services}`, `{company_contacts}`.

    Only these placeholders are replaced, so a custom prompt may omit any of them and may
    contain other braces freely.
    """
    values = {
        "company_name": settings.company_name,
        "company_hours": settings.company_hours,
        "company_services": settings.company_services,
        "company_contacts": settings.company_contacts,
    }
    for name, value in values.items():
        template = template.replace("{" + name + "}", value.strip() or _EMPTY_COMPANY_FIELD)
    return template.strip()


def load_persona(path: Path, settings: Settings) -> str:
    """Read and fill the prompt file; a missing file is a configuration error at startup."""
    try:
        template = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FileNotFoundError(f"SECRETARY_PROMPT_FILE cannot be read: {path}: {exc}") from exc
    return render_persona(template, settings)


class Secretary:
    """Runs conversation turns. Use from the event loop; engines are async throughout.

    `chat_model` should already carry the retry policy (`retries.with_retries`); None means
    the LLM is not configured and every turn gets the fallback reply.
    """

    def __init__(
        self,
        chat_model: ChatModel | None,
        store: SessionStore,
        settings: Settings,
        health: LLMHealth,
    ) -> None:
        self.chat_model = chat_model
        self.store = store
        self.health = health
        self._system_prompt = load_persona(settings.secretary_prompt_file, settings)

    def system_prompt(self) -> str:
        return self._system_prompt

    async def reply(self, session_id: str, text: str) -> TurnResult:
        """Answer `text` in session `session_id` with one complete (non-streamed) LLM call."""
        messages = await self._messages_for(session_id, text)
        started = time.perf_counter()
        try:
            reply = (await self._model().complete(self._system_prompt, messages)).strip()
            if not reply:
                raise LLMMalformedError("the LLM returned an empty reply")
        except Exception as exc:
            error = self._record_failure(exc)
            result = TurnResult(FALLBACK_REPLY, True, error, None, time.perf_counter() - started)
        else:
            self.health.record_success()
            elapsed = time.perf_counter() - started
            # A complete call delivers its first token together with the last one.
            result = TurnResult(reply, False, None, elapsed, elapsed)
        await self._record_turn(session_id, text, result.reply)
        return result

    def reply_stream(self, session_id: str, text: str) -> TurnStream:
        """Answer `text` as a stream of text pieces; see `TurnStream`."""
        return TurnStream(self, session_id, text)

    def _model(self) -> ChatModel:
        if self.chat_model is None:
            raise LLMNotConfiguredError(self.health.description)
        return self.chat_model

    async def _messages_for(self, session_id: str, text: str) -> list[ChatMessage]:
        try:
            history = await self.store.get_history(session_id)
        except Exception:
            # A broken store must not silence the call: answer without context.
            logger.exception("Could not read the history of session %r", session_id)
            history = []
        return [*history, ChatMessage("user", text)]

    async def _record_turn(self, session_id: str, user: str, assistant: str) -> None:
        try:
            await self.store.append_turn(session_id, user, assistant)
        except Exception:
            logger.exception("Could not record a turn of session %r", session_id)

    def _record_failure(self, exc: Exception) -> str:
        """Update health for a failed turn; returns the error text for the `TurnResult`."""
        if isinstance(exc, LLMError):
            error = exc
            logger.warning("LLM turn failed (%s): %s", error.kind, error.message)
        else:
            error = LLMInternalError(f"unexpected {type(exc).__name__}: {exc}")
            logger.exception("LLM turn failed unexpectedly")
        self.health.record_failure(error)
        return error.message


class TurnStream:
    """An async iterator of reply pieces for one turn; `result` is set once it is exhausted.

    Iterate it to the end (`async for piece in stream`), then read `stream.result`. The turn is
    recorded in the session when the stream ends. If the consumer stops early, call
    `await stream.aclose()`: the part generated so far is recorded as the reply and `result`
    says `error="interrupted"` (a stream closed before its first piece records nothing, and
    an empty reply is never recorded). A failure before any text yields `FALLBACK_REPLY`; a failure
    after some text yields `" " + INTERRUPTED_REPLY_TAIL`. Never raises LLM or store errors.
    """

    def __init__(self, secretary: Secretary, session_id: str, text: str) -> None:
        self._secretary = secretary
        self._session_id = session_id
        self._text = text
        self.result: TurnResult | None = None
        self._pieces = self._run()

    def __aiter__(self) -> TurnStream:
        return self

    async def __anext__(self) -> str:
        return await anext(self._pieces)

    async def aclose(self) -> None:
        await self._pieces.aclose()

    async def _run(self) -> AsyncIterator[str]:
        secretary = self._secretary
        messages = await secretary._messages_for(self._session_id, self._text)
        said: list[str] = []
        first_token_s: float | None = None
        error: str | None = "interrupted"  # until the stream finishes one way or another
        fallback = False
        started = time.perf_counter()
        try:
            try:
                model = secretary._model()
                async for piece in model.stream(secretary.system_prompt(), messages):
                    if not piece:
                        continue
                    if first_token_s is None:
                        first_token_s = time.perf_counter() - started
                    said.append(piece)
                    yield piece
                if not "".join(said).strip():
                    raise LLMMalformedError("the LLM returned an empty reply")
            except Exception as exc:
                error = secretary._record_failure(exc)
                fallback = True
                tail = " " + INTERRUPTED_REPLY_TAIL if "".join(said).strip() else FALLBACK_REPLY
                said.append(tail)
                yield tail
            else:
                secretary.health.record_success()
                error = None
        finally:
            reply = "".join(said).strip()
            self.result = TurnResult(
                reply, fallback, error, first_token_s, time.perf_counter() - started
            )
            if reply:  # an empty assistant turn would be rejected by Gemini on the next call
                await secretary._record_turn(self._session_id, self._text, reply)
