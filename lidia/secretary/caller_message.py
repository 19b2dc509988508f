"""The message a caller left: who (name, callback number), why (reason), and a one-line summary.

Pure functions shared by the orchestrator (`routes/messages.py`, which asks the LLM) and the
phone service (which falls back on its own when the orchestrator cannot be reached):
- `EXTRACTION_PROMPT`: the strict JSON-extraction instruction, in Russian;
- `parse_llm_message(text)`: the LLM's answer → `CallerMessage`, or `ValueError`;
- `fallback_message(transcript)`: no LLM: the raw transcript is the reason, and the phone
  number is whatever digits in it look like one.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

MAX_NAME_CHARS = 256
MAX_PHONE_CHARS = 64
MAX_SUMMARY_CHARS = 200
MAX_REASON_CHARS = 4000

EXTRACTION_PROMPT = """Ты помощник, который разбирает расшифровку телефонного звонка секретарю.
Извлеки сообщение, которое оставил звонящий. Ответь ТОЛЬКО одним JSON-объектом, без
пояснений и без Markdown, строго с такими ключами:
{"name": строка или null, "phone": строка или null, "reason": строка или null,
 "summary": строка, "message_left": true или false}
- name: как представился звонящий (null, если не назвался);
- phone: номер для обратного звонка, только цифры и ведущий "+" (null, если не назвал);
- reason: зачем звонил и что просил передать, своими словами, 1–3 предложения;
- summary: одна короткая строка (до 120 символов) для списка звонков;
- message_left: true, если звонящий о чём-то просил, оставил сообщение или ждёт ответа.
Ничего не выдумывай: чего нет в расшифровке, то null."""

# A run of digits with the usual separators, long enough to be a phone number.
_PHONE_PATTERN = re.compile(r"\+?\d[\d\s\-().]{5,}\d")


@dataclass(frozen=True)
class CallerMessage:
    name: str | None
    phone: str | None
    reason: str | None
    summary: str | None
    message_left: bool
    source: str  # "llm" | "fallback"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def store_fields(self) -> dict[str, Any]:
        """The `message_*` fields of the call record (`CallStore.update_call`)."""
        return {
            "message_name": self.name,
            "message_phone": self.phone,
            "message_reason": self.reason,
            "message_summary": self.summary,
            "message_left": self.message_left,
        }


def phone_digits(text: str) -> str | None:
    """The first phone-like number in `text`, normalised to digits (and a leading +)."""
    for match in _PHONE_PATTERN.finditer(text):
        raw = match.group(0)
        digits = re.sub(r"\D", "", raw)
        if 7 <= len(digits) <= 15:
            return ("+" if raw.startswith("+") else "") + digits
    return None


def fallback_message(transcript: str) -> CallerMessage:
    """No LLM: keep everything the caller said as the reason, so nothing is lost."""
    text = transcript.strip()
    first_line = text.splitlines()[0] if text else ""
    return CallerMessage(
        name=None,
        phone=phone_digits(text),
        reason=text[:MAX_REASON_CHARS] or None,
        summary=_clip(first_line, MAX_SUMMARY_CHARS) or None,
        message_left=bool(text),
        source="fallback",
    )


def parse_llm_message(answer: str) -> CallerMessage:
    """Parse the LLM's JSON answer (a ```json fence or text around it is tolerated).

    Raises `ValueError` when there is no JSON object or a field has the wrong type."""
    data = json.loads(_json_object_text(answer))
    if not isinstance(data, dict):
        raise ValueError("the LLM did not answer with a JSON object")
    phone = _optional_str(data, "phone", MAX_PHONE_CHARS)
    message_left = data.get("message_left", False)
    if not isinstance(message_left, bool):
        raise ValueError("message_left must be true or false")
    return CallerMessage(
        name=_optional_str(data, "name", MAX_NAME_CHARS),
        phone=(phone_digits(phone) or phone) if phone else None,
        reason=_optional_str(data, "reason", MAX_REASON_CHARS),
        summary=_optional_str(data, "summary", MAX_SUMMARY_CHARS),
        message_left=message_left,
        source="llm",
    )


def _json_object_text(answer: str) -> str:
    start, end = answer.find("{"), answer.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the LLM's answer")
    return answer[start : end + 1]


def _optional_str(data: dict[str, Any], key: str, limit: int) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string or null")
    return _clip(value.strip(), limit) or None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
