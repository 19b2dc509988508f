"""The caller's message: the conversation as text, and its extraction onto the call record."""

from __future__ import annotations

import logging

from lidia.phone.call_store import TurnRecord
from lidia.phone.context import PhoneContext
from lidia.phone.orchestrator_client import OrchestratorError
from lidia.secretary.caller_message import CallerMessage, fallback_message

log = logging.getLogger("phone.messages")


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
    fields = message.store_fields()
    if record.message_left:  # Лидия took it herself (`take_message`): her fields win
        taken = {"message_name": record.message_name, "message_phone": record.message_phone}
        taken["message_reason"] = record.message_reason
        fields.update({key: value for key, value in taken.items() if value})
        fields["message_left"] = True
    await ctx.store.update_call(call_sid, **fields)
    return message
