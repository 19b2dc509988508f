"""Exports: one call as JSON (everything recorded), the calls list as CSV."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from typing import Any

from lidia.admin.conversation import conversation
from lidia.phone.call_store import CallRecord, CallSummary, EventRecord, TurnRecord

# Excel on Windows reads a CSV as the system code page (cp1251) unless it starts with a BOM.
CSV_BOM = "\ufeff"
CSV_COLUMNS = [
    "call_sid",
    "started_at",
    "ended_at",
    "duration_s",
    "from_number",
    "to_number",
    "mode",
    "carrier",
    "status",
    "outcome",
    "turns",
    "message_left",
    "message_name",
    "message_phone",
    "message_reason",
    "message_summary",
    "dtmf",
    "errors",
]


def call_json(call: CallRecord, turns: list[TurnRecord], events: list[EventRecord]) -> dict:
    """The whole record as JSON-ready data (datetimes as ISO 8601 UTC), with both sides'
    lines in call order (`conversation`: who, kind, text, offset_s)."""
    return {
        "call": _jsonable(dataclasses.asdict(call)),
        "turns": [_jsonable(dataclasses.asdict(turn)) for turn in turns],
        "events": [_jsonable(dataclasses.asdict(event)) for event in events],
        "conversation": [dataclasses.asdict(line) for line in conversation(turns, events)],
    }


def calls_csv(rows: list[CallSummary]) -> str:
    """The list as CSV (header row first); spreadsheet-safe: cells never start a formula."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        call = row.call
        values = {
            **dataclasses.asdict(call),
            "turns": row.turn_count,
            "errors": "; ".join(call.errors),
        }
        writer.writerow([_csv_cell(values.get(column)) for column in CSV_COLUMNS])
    return buffer.getvalue()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    text = str(value)
    if not text:
        return text
    # A cell starting with = + - @ is run as a formula by spreadsheets (CSV injection);
    # phone numbers start with + though: keep them when they are just a number.
    if text[:1] in ("=", "@", "\t", "\r") or (text[:1] in "+-" and not _is_number(text)):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    return text[1:].replace(".", "", 1).isdigit()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value
