"""The calls list's filters as SQL conditions (`CallQuery` → WHERE clauses)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select

from lidia.phone.call_store.records import CallQuery
from lidia.phone.call_store.schema import calls_table, turns_table

# The caller's message columns the text search looks in, besides the turns.
MESSAGE_SEARCH_COLUMNS = ("message_transcript", "message_name", "message_reason", "message_summary")


def like_pattern(value: str) -> str:
    """`%value%` with LIKE's wildcards in `value` escaped (searched for literally)."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def query_conditions(query: CallQuery) -> list[Any]:
    conditions: list[Any] = []
    if query.date_from is not None:
        start = dt.datetime.combine(query.date_from, dt.time(), tzinfo=dt.UTC)
        conditions.append(calls_table.c.started_at >= start)
    if query.date_to is not None:
        end = dt.datetime.combine(query.date_to + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        conditions.append(calls_table.c.started_at < end)
    if query.caller and query.caller.strip():
        pattern = like_pattern(query.caller.strip())
        conditions.append(calls_table.c.from_number.like(pattern, escape="\\"))
    if query.text and query.text.strip():
        conditions.append(_text_condition(like_pattern(query.text.strip())))
    return conditions


def _text_condition(pattern: str) -> Any:
    in_turns = (
        select(turns_table.c.call_sid)
        .where(
            or_(
                turns_table.c.transcript.ilike(pattern, escape="\\"),
                turns_table.c.reply.ilike(pattern, escape="\\"),
            )
        )
        .scalar_subquery()
    )
    return or_(
        calls_table.c.call_sid.in_(in_turns),
        *(calls_table.c[name].ilike(pattern, escape="\\") for name in MESSAGE_SEARCH_COLUMNS),
    )
