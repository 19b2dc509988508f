"""`POST /extract_message`: the caller's message (name, callback number, reason, summary)
from a call's transcript, by the secretary's LLM.

Never a 5xx for an LLM problem: when no LLM is configured, or it fails, or its answer is not
the JSON asked for, the answer is the fallback (the raw transcript as the reason, the phone
number found by a regex), marked `"source": "fallback"`.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lidia.core.errors import InvalidTextError
from lidia.core.openapi import NOT_BLANK, error_responses
from lidia.llm.base import ChatMessage, ChatModel
from lidia.orchestrator.deps import ServicesDep
from lidia.secretary.caller_message import (
    EXTRACTION_PROMPT,
    CallerMessage,
    fallback_message,
    parse_llm_message,
)

router = APIRouter(tags=["conversation"])
log = logging.getLogger(__name__)

MAX_TRANSCRIPT_CHARS = 20_000


class ExtractMessageRequest(BaseModel):
    transcript: str = Field(
        description="The call as lines 'Звонящий: …' / 'Лидия: …'",
        max_length=MAX_TRANSCRIPT_CHARS,
        json_schema_extra=NOT_BLANK,
    )
    caller_number: str | None = Field(default=None, max_length=64)


class ExtractMessageResponse(BaseModel):
    name: str | None
    phone: str | None
    reason: str | None
    summary: str | None
    message_left: bool
    source: str = Field(description='"llm", or "fallback" when the LLM was not used')


@router.post("/extract_message", responses=error_responses(400, 422))
async def extract_message(
    request: ExtractMessageRequest, services: ServicesDep
) -> ExtractMessageResponse:
    """Extract the caller's message; the fallback when the LLM is missing or fails."""
    if not request.transcript.strip():
        raise InvalidTextError("transcript is empty", param="transcript")
    message = await extract_with_llm(services.chat_model, request.transcript, request.caller_number)
    return ExtractMessageResponse(**message.as_dict())


async def extract_with_llm(
    model: ChatModel | None, transcript: str, caller_number: str | None = None
) -> CallerMessage:
    """Ask `model` for the message; any failure (LLMError, bad JSON) gives the fallback."""
    if model is None:
        return fallback_message(transcript)
    header = f"Номер звонящего: {caller_number}\n" if caller_number else ""
    prompt = f"{header}Расшифровка звонка:\n{transcript.strip()}"
    try:
        answer = await model.complete(EXTRACTION_PROMPT, [ChatMessage("user", prompt)])
        return parse_llm_message(answer)
    except Exception as exc:  # the message must never be lost to an LLM problem
        log.warning("message extraction fell back to the raw transcript: %s", exc)
        return fallback_message(transcript)
