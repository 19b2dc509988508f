"""Лидия's turn logic: persona prompt + session history + LLM, with spoken fallbacks.

`Secretary.reply` / `Secretary.reply_stream` never raise: any LLM failure (not configured,
errors after retries, safety blocks, empty replies) and any session-store failure turns into a
Russian fallback reply that offers to take a message, and the turn is still recorded.

Tools (`secretary.tools`): where the backend supports function calling, each turn offers the
tools its channel allows (`secretary.channel`: a phone turn names its call's actions, a text
chat gets no phone tool) plus the booking tools when booking is configured. Phone tools come
back as `TurnResult.actions`; booking tools run here (`secretary.booking_tools`), their results
go back to the model, which goes on from them (a few rounds at most). A model that
acted without a word gets a short spoken line (or, for `take_message`, its own continuation
after the tool result), so the caller never hears silence. A model that refuses tools (HTTP
400/404/422 with tools sent) is asked again without them, and `/health` says so from then on.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lidia.booking.desk import BookingDesk
from lidia.core.clock import SYSTEM_CLOCK, Clock
from lidia.core.settings import Settings
from lidia.llm.base import ChatMessage, ChatModel, ToolCall, ToolSpec, supports_tools
from lidia.llm.errors import (
    LLMError,
    LLMInternalError,
    LLMMalformedError,
    LLMNotConfiguredError,
)
from lidia.llm.health import LLMHealth
from lidia.secretary.booking_tools import (
    BOOKING_TOOL_NAMES,
    booking_instructions,
    booking_tool_specs,
    result_json,
    run_booking_tool,
)
from lidia.secretary.channel import TEXT_CHAT, TurnChannel, channel_lines
from lidia.secretary.sessions import SessionStore
from lidia.secretary.tools import (
    MESSAGE_SAVED_RESULT,
    MESSAGE_TAKEN,
    TAKE_MESSAGE,
    action_for,
    phone_tools,
    spoken_for_silent,
    tool_instructions,
)

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
_KNOWLEDGE_HEADING = "Справочные сведения о компании:"
# HTTP statuses with which OpenAI-compatible servers and Gemini refuse a request's `tools`.
_TOOLS_REFUSED_STATUSES = frozenset({400, 404, 422})
# Rounds of tools run here (find a slot, then book it) before the model must talk.
MAX_TOOL_ROUNDS = 4


@dataclass(frozen=True)
class TurnResult:
    """One finished turn. `llm_first_token_s` is None when no LLM text arrived."""

    reply: str
    fallback: bool
    error: str | None
    llm_first_token_s: float | None
    llm_total_s: float
    actions: tuple[dict[str, Any], ...] = field(default=())


def render_persona(
    template: str,
    settings: Settings,
    *,
    tools: Sequence[ToolSpec] = (),
    knowledge: str | None = None,
    channel: TurnChannel = TEXT_CHAT,
    tool_lines: Sequence[str] = (),
) -> str:
    """Fill `{company_name}`, `{company_hours}`, `{company_services}`, `{company_contacts}`,
    `{knowledge}` (the `KNOWLEDGE_FILE`), `{channel}` (phone call or text chat) and `{tools}`
    (when to use each offered tool, then `tool_lines`).

    Only these placeholders are replaced, so a custom prompt may omit any of them and may
    contain other braces freely; configured knowledge is appended when `{knowledge}` is
    missing. `knowledge` None reads the file.
    """
    values = {
        "company_name": settings.company_name,
        "company_hours": settings.company_hours,
        "company_services": settings.company_services,
        "company_contacts": settings.company_contacts,
    }
    for name, value in values.items():
        template = template.replace("{" + name + "}", value.strip() or _EMPTY_COMPANY_FIELD)
    known = load_knowledge(settings) if knowledge is None else knowledge
    section = f"{_KNOWLEDGE_HEADING}\n{known}" if known else ""
    if "{knowledge}" in template:
        template = template.replace("{knowledge}", section)
    elif section:
        template = f"{template.rstrip()}\n\n{section}"
    template = template.replace("{channel}", channel_lines(channel))
    instructions = tool_instructions(tools, phone=channel.phone, extra=tool_lines)
    template = template.replace("{tools}", instructions)
    return _without_blank_runs(template).strip()


def load_knowledge(settings: Settings) -> str:
    """The `KNOWLEDGE_FILE`'s Markdown ("" when unset); unreadable is a startup error."""
    path = settings.knowledge_file
    if path is None:
        return ""
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise FileNotFoundError(f"KNOWLEDGE_FILE cannot be read: {path}: {exc}") from exc


def load_template(path: Path) -> str:
    """Read the prompt file; a missing file is a configuration error at startup."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FileNotFoundError(f"SECRETARY_PROMPT_FILE cannot be read: {path}: {exc}") from exc


def load_persona(path: Path, settings: Settings) -> str:
    """Read and fill the prompt file (a text chat's persona, no tools)."""
    return render_persona(load_template(path), settings)


def _without_blank_runs(text: str) -> str:
    while "\n\n\n" in text:  # an empty {knowledge} or {tools} leaves a gap
        text = text.replace("\n\n\n", "\n\n")
    return text


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
        *,
        booking: BookingDesk | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.chat_model = chat_model
        self.booking = booking
        self.clock = clock
        self.store = store
        self.health = health
        self.settings = settings
        self._template = load_template(settings.secretary_prompt_file)
        self._knowledge = load_knowledge(settings)
        if chat_model is None:
            health.tools_unavailable("off", "no LLM configured")
        elif not supports_tools(chat_model):
            health.tools_unavailable("off", f"{chat_model.name}: this backend offers no tools")
        render_persona(self._template, settings, knowledge=self._knowledge)  # fail at startup

    def booking_ready(self) -> bool:
        return self.booking is not None and self.booking.available

    def tools_now(self, channel: TurnChannel = TEXT_CHAT) -> list[ToolSpec]:
        """The tools a turn on `channel` offers: none once the backend or model cannot take
        them; phone tools only for the actions a phone turn names; booking when it works."""
        if self.health.tools_status != "on":
            return []
        tools = phone_tools(channel.actions) if channel.phone else []
        if self.booking is not None and self.booking.available:
            services = [service.name for service in self.booking.config.services]
            tools.extend(booking_tool_specs(services))
        return tools

    def system_prompt(
        self,
        tools: Sequence[ToolSpec] | None = None,
        channel: TurnChannel = TEXT_CHAT,
        session_id: str | None = None,
    ) -> str:
        """The persona for a turn on `channel` offering `tools` (default: `tools_now()`)."""
        offered = self.tools_now(channel) if tools is None else tools
        lines: list[str] = []
        if self.booking is not None and any(t.name in BOOKING_TOOL_NAMES for t in offered):
            now = self.clock.now()
            lines = booking_instructions(self.booking, now, self.settings.timezone, session_id)
        return render_persona(
            self._template,
            self.settings,
            tools=offered,
            knowledge=self._knowledge,
            channel=channel,
            tool_lines=lines,
        )

    async def reply(
        self,
        session_id: str,
        text: str,
        turn_id: str | None = None,
        channel: TurnChannel = TEXT_CHAT,
    ) -> TurnResult:
        """Answer `text` in session `session_id` with complete (non-streamed) LLM calls."""
        messages = await self._messages_for(session_id, text)
        started = time.perf_counter()
        actions: tuple[dict[str, Any], ...] = ()
        try:
            reply, actions = await self._complete(messages, session_id, channel)
            if not reply:
                raise LLMMalformedError("the LLM returned an empty reply")
        except Exception as exc:
            error = self._record_failure(exc)
            result = TurnResult(FALLBACK_REPLY, True, error, None, time.perf_counter() - started)
        else:
            self.health.record_success()
            elapsed = time.perf_counter() - started
            # A complete call delivers its first token together with the last one.
            result = TurnResult(reply, False, None, elapsed, elapsed, actions)
        await self._record_turn(session_id, text, result.reply, turn_id)
        return result

    async def _complete(
        self, messages: list[ChatMessage], session_id: str, channel: TurnChannel
    ) -> tuple[str, tuple[dict[str, Any], ...]]:
        """One whole answer and its actions; a silent action gets words (see the module)."""
        model = self._model()
        tools = self.tools_now(channel)
        if not tools:
            system = self.system_prompt(tools, channel)
            return (await model.complete(system, messages)).strip(), ()
        tool_model: Any = model
        try:
            answer = await tool_model.complete_turn(
                self.system_prompt(tools, channel, session_id), messages, tools
            )
        except LLMError as exc:
            if not self._tools_refused(exc):
                raise
            return (await model.complete(self.system_prompt([], channel), messages)).strip(), ()
        history = list(messages)
        said = [answer.text]
        phone_calls: list[ToolCall] = []
        done: list[dict[str, Any]] = []
        for round_number in range(MAX_TOOL_ROUNDS + 1):
            phone_calls.extend(c for c in answer.tool_calls if c.name not in BOOKING_TOOL_NAMES)
            if round_number == MAX_TOOL_ROUNDS or not _runs_here(answer.tool_calls):
                break
            exchange, booked = await self._run_tools(
                answer.tool_calls, answer.text, session_id, channel
            )
            history.extend(exchange)
            done.extend(booked)
            system = self.system_prompt(tools, channel, session_id)
            answer = await tool_model.complete_turn(system, history, tools)
            said.append(answer.text)
        actions = (*_actions(phone_calls, tools), *done)
        text = " ".join(part.strip() for part in said if part.strip())
        if not text and actions:
            system = self.system_prompt(tools, channel, session_id)
            text = await self._words_after_tools(history, phone_calls, actions, tools, system)
        return text, actions

    async def _run_tools(
        self, calls: Sequence[ToolCall], said: str, session_id: str, channel: TurnChannel
    ) -> tuple[list[ChatMessage], list[dict[str, Any]]]:
        """Run the booking calls among `calls`: the messages to continue from (every call
        answered, as the APIs require) and the actions the bookings became."""
        assert self.booking is not None
        results: list[ChatMessage] = []
        done: list[dict[str, Any]] = []
        for call in calls:
            if call.name in BOOKING_TOOL_NAMES:
                result, action = await run_booking_tool(self.booking, call, session_id, channel)
                if action is not None:
                    done.append(action)
                content = result_json(result)
            else:
                content = _phone_tool_result(call)
            results.append(ChatMessage("tool", content, tool_call=call))
        return [ChatMessage("assistant", said, tool_calls=tuple(calls)), *results], done

    async def _words_after_tools(
        self,
        messages: list[ChatMessage],
        calls: Sequence[ToolCall],
        actions: Sequence[dict[str, Any]],
        tools: list[ToolSpec],
        system: str,
    ) -> str:
        """What to say after tools called in silence: the model's continuation after the
        `take_message` result, or a fixed line (always something)."""
        names = {action["name"] for action in actions}
        if names != {TAKE_MESSAGE}:
            return spoken_for_silent(actions)
        follow_up = [*messages, *_tool_exchange(calls)]
        model: Any = self._model()
        try:
            # The tools go along: servers check that each call in the history was offered.
            answer = await model.complete_turn(system, follow_up, tools)
            text = answer.text.strip()
        except LLMError as exc:
            logger.warning("no words after take_message (%s): %s", exc.kind, exc.message)
            return MESSAGE_TAKEN
        return text or MESSAGE_TAKEN

    def _tools_refused(self, error: LLMError) -> bool:
        """True (and `/health` says so) when the model rejected the request's tools."""
        message = error.message.lower()
        # Ollama: "does not support tools"; vLLM: "auto" tool choice requires ...; Gemini:
        # "Function calling is not enabled": other 400s must not switch tools off for good.
        if error.status not in _TOOLS_REFUSED_STATUSES or not (
            "tool" in message or "function" in message
        ):
            return False
        self.health.tools_unavailable(
            "unsupported", f"the model refused tools; talking without them: {error.message}"
        )
        logger.warning("LLM refused tools, continuing without them: %s", error.message)
        return True

    async def _stream_items(
        self,
        messages: list[ChatMessage],
        tools: list[ToolSpec],
        channel: TurnChannel,
        session_id: str,
    ) -> AsyncIterator[str | ToolCall]:
        """The model's stream with `tools`; asked again without them if it refuses them."""
        model: Any = self._model()
        if not tools:
            async for piece in model.stream(self.system_prompt(tools, channel), messages):
                yield piece
            return
        yielded = False
        system = self.system_prompt(tools, channel, session_id)
        try:
            async for item in model.stream(system, messages, tools=tools):
                yielded = True
                yield item
        except LLMError as exc:
            if yielded or not self._tools_refused(exc):
                raise
            async for piece in model.stream(self.system_prompt([], channel), messages):
                yield piece

    def reply_stream(
        self,
        session_id: str,
        text: str,
        turn_id: str | None = None,
        channel: TurnChannel = TEXT_CHAT,
    ) -> TurnStream:
        """Answer `text` as a stream of text pieces; see `TurnStream`.

        `turn_id` names the recorded turn, so that `SessionStore.forget_turn` can remove it."""
        return TurnStream(self, session_id, text, turn_id, channel)

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

    async def _record_turn(
        self, session_id: str, user: str, assistant: str, turn_id: str | None = None
    ) -> None:
        try:
            await self.store.append_turn(session_id, user, assistant, turn_id)
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

    def __init__(
        self,
        secretary: Secretary,
        session_id: str,
        text: str,
        turn_id: str | None = None,
        channel: TurnChannel = TEXT_CHAT,
    ) -> None:
        self._secretary = secretary
        self._channel = channel
        self._session_id = session_id
        self._text = text
        self._turn_id = turn_id
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
        calls: list[ToolCall] = []
        actions: tuple[dict[str, Any], ...] = ()
        first_token_s: float | None = None
        error: str | None = "interrupted"  # until the stream finishes one way or another
        fallback = False
        started = time.perf_counter()
        channel, session_id = self._channel, self._session_id
        try:
            try:
                tools = secretary.tools_now(channel)
                history = list(messages)
                done: list[dict[str, Any]] = []
                for round_number in range(MAX_TOOL_ROUNDS + 1):
                    round_calls: list[ToolCall] = []
                    round_said: list[str] = []
                    async for item in secretary._stream_items(history, tools, channel, session_id):
                        if isinstance(item, ToolCall):
                            round_calls.append(item)
                            continue
                        if not item:
                            continue
                        if first_token_s is None:
                            first_token_s = time.perf_counter() - started
                        if said and not round_said and not said[-1].endswith(" "):
                            item = " " + item  # words after a tool round: keep them apart
                        said.append(item)
                        round_said.append(item)
                        yield item
                    calls.extend(c for c in round_calls if c.name not in BOOKING_TOOL_NAMES)
                    if round_number == MAX_TOOL_ROUNDS or not _runs_here(round_calls):
                        break
                    exchange, booked = await secretary._run_tools(
                        round_calls, "".join(round_said), session_id, channel
                    )
                    history.extend(exchange)
                    done.extend(booked)
                actions = (*_actions(calls, tools), *done)
                if actions and not "".join(said).strip():
                    system = secretary.system_prompt(tools, channel, session_id)
                    words = await secretary._words_after_tools(
                        history, calls, actions, tools, system
                    )
                    first_token_s = first_token_s or time.perf_counter() - started
                    said.append(words)
                    yield words
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
                reply, fallback, error, first_token_s, time.perf_counter() - started, actions
            )
            if reply:  # an empty assistant turn would be rejected by Gemini on the next call
                await secretary._record_turn(self._session_id, self._text, reply, self._turn_id)


def _actions(calls: Sequence[ToolCall], offered: Sequence[ToolSpec]) -> tuple[dict[str, Any], ...]:
    """The actions of the calls to offered tools, each tool once, in the order called."""
    actions: dict[str, dict[str, Any]] = {}
    for call in calls:
        action = action_for(call, offered)
        if action is not None:
            actions.setdefault(action["name"], action)
    return tuple(actions.values())


def _runs_here(calls: Sequence[ToolCall]) -> bool:
    """Whether `calls` include a tool the orchestrator runs itself (booking)."""
    return any(call.name in BOOKING_TOOL_NAMES for call in calls)


def _phone_tool_result(call: ToolCall) -> str:
    """What the model hears back from a phone tool (the phone service carries it out)."""
    result = MESSAGE_SAVED_RESULT if call.name == TAKE_MESSAGE else {"status": "ok"}
    return json.dumps(result, ensure_ascii=False)


def _tool_exchange(calls: Sequence[ToolCall]) -> list[ChatMessage]:
    """The model's tool calls and their results, to continue the conversation from."""
    results = [ChatMessage("tool", _phone_tool_result(call), tool_call=call) for call in calls]
    return [ChatMessage("assistant", "", tool_calls=tuple(calls)), *results]
