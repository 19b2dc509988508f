"""The booking tests' settings (against the session's Radicale, `radicale` in tests/conftest.py)
and desk factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lidia.booking.desk import BookingDesk
from lidia.core.clock import FixedClock
from lidia.core.settings import Settings
from tests.support.radicale_server import PASSWORD, USERNAME, RadicaleServer


def booking_settings(radicale: RadicaleServer, calendar: str, database: Path, **extra: Any):
    values: dict[str, Any] = {
        "booking_caldav_url": radicale.url,
        "booking_caldav_username": USERNAME,
        "booking_caldav_password": PASSWORD,
        "booking_calendar": calendar,
        "booking_database": f"sqlite:///{database}",
        "booking_hours": "Mo-Fr 09:00-18:00",
        "booking_services": "Консультация=30; Стрижка=60",
        "booking_slot_step_min": 30,
        "booking_buffer_min": 0,
        "booking_min_notice_min": 60,
        "booking_horizon_days": 30,
        "timezone": "Europe/Moscow",
        "calls_log_dir": database.parent,
    }
    values.update(extra)
    return Settings(_env_file=None, **values)


@pytest.fixture
async def desks() -> AsyncIterator[Any]:
    """`make(settings, clock)`: a started desk, closed after the test."""
    made: list[BookingDesk] = []

    async def make(settings: Settings, clock: FixedClock) -> BookingDesk:
        desk = BookingDesk.from_settings(settings, clock)
        assert desk is not None
        await desk.start()
        made.append(desk)
        return desk

    yield make
    for desk in made:
        await desk.close()
