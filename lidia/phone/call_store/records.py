"""What the store hands out besides the table records: list rows, list filters, and the one
generic row → record conversion (field names come from the record's dataclass)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from lidia.phone.call_store.schema import CallRecord

R = TypeVar("R")


@dataclass
class CallSummary:
    """A row of the calls list: the call and how many turns it has."""

    call: CallRecord
    turn_count: int


@dataclass(frozen=True)
class CallQuery:
    """Filters of the calls list. Dates are UTC days, both ends included; `caller` matches
    part of the caller's number; `text` searches transcripts, replies and the message."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    caller: str | None = None
    text: str | None = None


def record_from_row(record_type: type[R], row: Mapping[str, Any]) -> R:
    """The record of a table row: each dataclass field from the column of the same name
    (column types already convert: booleans, JSON, aware datetimes)."""
    names = (field.name for field in dataclasses.fields(record_type))  # type: ignore[arg-type]
    return record_type(**{name: row[name] for name in names})


def record_values(record: Any, **extra: Any) -> dict[str, Any]:
    """A record's fields as insert values, plus the columns it does not carry."""
    values = {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}
    return {**values, **extra}
