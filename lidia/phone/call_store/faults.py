"""What counts as the call database being unreachable, and the error reads raise then."""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa_exc


class CallStoreUnavailable(RuntimeError):
    """The call database cannot be read right now (down, full, read-only); writes are journaled."""


# A lost connection, a refused one, a full or read-only SQLite file: the database, not our data.
_OUTAGE_TYPES = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    sqlite3.OperationalError,
    ConnectionError,
    TimeoutError,
)


def is_outage(exc: BaseException) -> bool:
    """True when `exc` says the database is unreachable or cannot write, not that a row is bad."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _OUTAGE_TYPES)


def outage_reason(exc: BaseException) -> str:
    """A one-line reason for /health and the logs (no connection strings: just the error)."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return f"{type(original).__name__}: {text}"[:300]
