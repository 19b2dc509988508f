"""Alembic's configuration for one of our stores' migration folders (the call store's and the
bookings'), on an open connection or a new one to a URL."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy import Connection


def alembic_config(
    script_location: Path,
    connection: Connection | None = None,
    *,
    schema: str | None = None,
    url: str | None = None,
) -> Config:
    """The migrations in `script_location`: on `connection`, or a new one to `url`."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    return config
