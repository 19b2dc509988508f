"""Carrying out what Лидия decided: put the caller through to a person, hang up, keep the
message she took. The orchestrator's turns announce these as actions; this module acts.

A live call (any carrier): `take_message` lands on the call record at once; `transfer_call` and
`end_call` wait until the caller has heard Лидия's sentence (the line told back the turn's last
mark), then the line acts (`media.line.CallLine`): on Twilio through its REST API (`<Dial>`
the `TRANSFER_NUMBER`, whose `action` brings an unanswered call back to `/twilio/dial`, or
`status=completed`); on Asterisk by ending Лидия's leg, the dialplan then asking what next.
DTMF `0` transfers at any moment (inside `TRANSFER_HOURS`), with the notice said first (by
Twilio's TwiML, or by Лидия on lines that cannot play it themselves).
Gather mode answers the same actions with TwiML directly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from twilio.twiml.voice_response import VoiceResponse

from lidia.phone.call.line import CallLine, LineError
from lidia.phone.call.playback import Playback
from lidia.phone.call_store import CallStore
from lidia.phone.context import PhoneContext
from lidia.phone.prompts import PhonePrompt
from lidia.phone.twiml import dial_twiml, play_then_hangup_twiml
from lidia.secretary.actions import (
    APPOINTMENT_BOOKED,
    APPOINTMENT_CANCELLED,
    END_CALL,
    TAKE_MESSAGE,
    TRANSFER_CALL,
    TRANSFER_NOTICE,
    transfer_available,
)

log = logging.getLogger("phone.transfer")

TRANSFER_DIGIT = "0"
# `<Dial action>`'s DialCallStatus values after which the caller is still with us.
DIAL_NOT_ANSWERED = frozenset({"busy", "no-answer", "failed", "canceled"})
TRANSFER_UNANSWERED_TEXT = (
    "К сожалению, сотрудник сейчас не может ответить. Оставьте, пожалуйста, сообщение "
    "после сигнала: назовите имя, номер телефона и причину звонка, и вам перезвонят."
)
# What a booking tool did (the orchestrator ran it): kept as call events for the owner.
APPOINTMENT_ACTIONS = (APPOINTMENT_BOOKED, APPOINTMENT_CANCELLED)
# How long past the audio's own length to wait for Twilio to confirm it has played.
PLAYOUT_SLACK_S = 3.0


async def save_message(store: CallStore, call_sid: str, arguments: dict[str, Any]) -> None:
    """`take_message`'s name, callback number and reason onto the call record."""
    fields = {
        "message_name": arguments.get("name"),
        "message_phone": arguments.get("callback_number"),
        "message_reason": arguments.get("reason"),
        "message_left": True,
    }
    await store.update_call(call_sid, **{k: v for k, v in fields.items() if v is not None})
    await store.add_event(call_sid, "message_taken", arguments)


def dial_action_url(ctx: PhoneContext, base_url: str | None = None) -> str:
    base = (base_url or ctx.settings.public_base_url or "").rstrip("/")
    return f"{base}/twilio/dial"


class CallActions:
    """One live call's actions: noted as the turn streams, done once it has played."""

    def __init__(
        self,
        ctx: PhoneContext,
        line: CallLine,
        say_then_transfer: Callable[[PhonePrompt], Awaitable[None]] | None = None,
    ) -> None:
        self.ctx = ctx
        self.line = line
        # Lines that cannot play the notice themselves: the conversation says it, then
        # calls `transfer_after` (never from the receive loop: the marks come through it).
        self.say_then_transfer = say_then_transfer
        self.pending: list[str] = []
        self.outcome: str | None = None  # "transferred" once the call was put through

    async def note(self, call_sid: str, event: dict[str, Any]) -> None:
        name = str(event.get("name", ""))
        arguments = event.get("arguments")
        if name == TAKE_MESSAGE:
            await save_message(self.ctx.store, call_sid, arguments or {})
        elif name in APPOINTMENT_ACTIONS:
            await self.ctx.store.add_event(call_sid, name, dict(arguments or {}))
        elif name in (TRANSFER_CALL, END_CALL) and name not in self.pending:
            self.pending.append(name)

    async def carry_out(self, call_sid: str, playback: Playback) -> None:
        """After a turn's audio is sent: wait until it has played, then act (never raises)."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        playback.finished_sending = True  # the turn's last frame and mark are out
        await _played_out(playback)
        playback.acted = True  # the close this action brings cancels the turn: no barge-in
        try:
            if TRANSFER_CALL in pending:
                await self.transfer(call_sid)
            elif END_CALL in pending:
                # Noted first: the hang-up ends the call, whose close cancels this turn (an
                # Asterisk leg closes before the line's call returns).
                await self.ctx.store.add_event(call_sid, "hangup", {"by": "lidia"})
                await self.line.hang_up()
        except LineError as exc:
            log.error("call %s: %s", call_sid, exc)
            await self.ctx.store.add_error(call_sid, f"call action {pending}: {exc}")

    async def on_digit(self, call_sid: str, digit: str) -> bool:
        """DTMF `0` puts the caller through (True) when a transfer can work now."""
        if digit != TRANSFER_DIGIT or not transfer_available(
            self.ctx.settings, self.ctx.clock.now()
        ):
            return False
        notice = await self.ctx.prompts.get(TRANSFER_NOTICE)
        if not self.line.speaks_transfer_notice and self.say_then_transfer is not None:
            await self.say_then_transfer(notice)
            return True
        try:
            await self.transfer(call_sid, notice=notice)
        except LineError as exc:
            log.error("call %s: DTMF transfer failed: %s", call_sid, exc)
            await self.ctx.store.add_error(call_sid, f"DTMF transfer: {exc}")
            return False  # the conversation goes on: the digit becomes a normal turn
        return True

    async def transfer_after(self, call_sid: str, playback: Playback) -> None:
        """Once `playback` (the notice) has been heard, put the caller through (never raises)."""
        await _played_out(playback)
        try:
            await self.transfer(call_sid)
        except LineError as exc:
            log.error("call %s: DTMF transfer failed: %s", call_sid, exc)
            await self.ctx.store.add_error(call_sid, f"DTMF transfer: {exc}")

    async def transfer(self, call_sid: str, *, notice: PhonePrompt | None = None) -> None:
        number = self.ctx.settings.transfer_number
        if not number:
            raise LineError("transfer asked for, but TRANSFER_NUMBER is not set")
        # Set first: the carrier may end the call (and the conversation close the record)
        # before the line's call returns.
        self.outcome = "transferred"
        try:
            await self.line.transfer(number, notice)
        except LineError:
            self.outcome = None
            raise
        await self.ctx.store.add_event(call_sid, "transfer", {"to": number})


async def _played_out(playback: Playback) -> None:
    """Until Twilio has echoed the last mark of `playback` (bounded by its length)."""
    deadline = time.monotonic() + playback.sent_ms / 1000 + PLAYOUT_SLACK_S
    while playback.playing and time.monotonic() < deadline:  # noqa: ASYNC110 (marks mutate it)
        await asyncio.sleep(0.05)


async def gather_actions_twiml(
    ctx: PhoneContext,
    call_sid: str,
    actions: Sequence[dict[str, Any]],
    *,
    base_url: str,
    reply_url: str,
) -> VoiceResponse | None:
    """Gather mode: TwiML for the turn's actions (None: none changes the call's course)."""
    names = [str(action.get("name")) for action in actions]
    for action in actions:
        if action.get("name") == TAKE_MESSAGE:
            await save_message(ctx.store, call_sid, action.get("arguments") or {})
        elif action.get("name") in APPOINTMENT_ACTIONS:
            await ctx.store.add_event(call_sid, str(action["name"]), action.get("arguments") or {})
    number = ctx.settings.transfer_number
    if TRANSFER_CALL in names and number:
        await ctx.store.update_call(call_sid, outcome="transferred")
        await ctx.store.add_event(call_sid, "transfer", {"to": number})
        action_url = dial_action_url(ctx, base_url)
        return dial_twiml(ctx.settings, number, action_url, notice_url=reply_url)
    if END_CALL in names:
        await ctx.store.add_event(call_sid, "hangup", {"by": "lidia"})
        return play_then_hangup_twiml(reply_url)
    return None
