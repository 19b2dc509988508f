"""Call records: every call, its turns, DTMF and errors (SQLite by default, PostgreSQL by URL).

`schema.py` defines the tables once, as mapped dataclasses that are also the records;
`migrate.py` brings a database to the newest Alembic revision at `SqlCallStore.start()`;
`store.py` is the store itself. Import the public names from here.
"""

from lidia.phone.call_store.engine import database_url_for
from lidia.phone.call_store.migrate import (
    current_revision,
    downgrade_schema,
    schema_diffs,
    upgrade_schema,
)
from lidia.phone.call_store.protocol import CallStore
from lidia.phone.call_store.records import CallQuery, CallSummary
from lidia.phone.call_store.schema import (
    CALL_UPDATABLE,
    LEGACY_SCHEMA_VERSION,
    TURN_UPDATABLE,
    CallRecord,
    DeliveryRecord,
    EventRecord,
    TurnRecord,
    calls_table,
    deliveries_table,
    events_table,
    metadata,
    schema_version_table,
    turns_table,
)
from lidia.phone.call_store.store import SqlCallStore

# The old name of the legacy version: tests and tools written before Alembic import it.
SCHEMA_VERSION = LEGACY_SCHEMA_VERSION

__all__ = [
    "CALL_UPDATABLE",
    "LEGACY_SCHEMA_VERSION",
    "SCHEMA_VERSION",
    "TURN_UPDATABLE",
    "CallQuery",
    "CallRecord",
    "CallStore",
    "CallSummary",
    "DeliveryRecord",
    "EventRecord",
    "SqlCallStore",
    "TurnRecord",
    "calls_table",
    "current_revision",
    "database_url_for",
    "deliveries_table",
    "downgrade_schema",
    "events_table",
    "metadata",
    "schema_diffs",
    "schema_version_table",
    "turns_table",
    "upgrade_schema",
]
