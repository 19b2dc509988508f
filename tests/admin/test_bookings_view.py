"""The owner sees appointments: the call's page shows what Лидия booked on it, the calls list
shows upcoming bookings (from the bookings table the orchestrator writes), and the owner's
notice says what was booked."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lidia.booking.store import CANCELLED, CONFIRMED, Booking, BookingStore
from lidia.core.clock import FixedClock
from lidia.phone.app import create_app
from lidia.phone.appointments import appointment_lines
from lidia.phone.call_store import SqlCallStore
from lidia.phone.notify.notice import notice_for_call, notice_text
from tests.conftest import make_settings

pytestmark = pytest.mark.time_dependent

AUTH = ("owner", "s3cret-пароль")
NOW = dt.datetime(2026, 12, 7, 5, 0, tzinfo=dt.UTC)  # Monday 08:00 in Moscow
CALL = "CA" + "b" * 32
BOOKED = {
    "start": "2026-12-10T09:30:00+03:00",
    "spoken": "в четверг, 10 декабря, в 9:30",
    "service": "Консультация",
    "name": "Анна",
    "phone": "+79161234567",
}


def booking(uid: str, start: dt.datetime, status: str, name: str) -> Booking:
    return Booking(
        uid=uid,
        calendar="cal",
        start=start,
        end=start + dt.timedelta(minutes=30),
        service="Консультация",
        name=name,
        phone="+79161234567",
        comment=None,
        call_id=CALL,
        status=status,
    )


@pytest.fixture
async def store(tmp_path: Path) -> SqlCallStore:
    store = SqlCallStore(f"sqlite:///{tmp_path / 'calls.db'}")
    await store.start()
    await store.create_call(CALL, from_number="+79161234567", to_number="+74950000000")
    await store.add_event(CALL, "appointment_booked", BOOKED)
    return store


async def test_the_call_page_and_the_calls_list_show_the_bookings(
    tmp_path: Path, store: SqlCallStore
) -> None:
    bookings = BookingStore(f"sqlite:///{tmp_path / 'bookings.db'}")
    bookings.create()
    thursday = dt.datetime(2026, 12, 10, 6, 30, tzinfo=dt.UTC)
    for item in (
        booking("lidia-1", thursday, CONFIRMED, "Анна"),
        booking("lidia-2", thursday + dt.timedelta(hours=2), CANCELLED, "Отменивший"),
        booking("lidia-3", NOW - dt.timedelta(days=1), CONFIRMED, "Вчерашний"),
    ):
        bookings.reserve(item, dt.timedelta(), NOW)
        bookings.set_status(item.uid, item.status, NOW)
    bookings.close()
    settings = make_settings(
        tmp_path,
        admin_username=AUTH[0],
        admin_password=AUTH[1],
        admin_secret="test-secret",
        booking_caldav_url="http://127.0.0.1:9/",
        booking_database=f"sqlite:///{tmp_path / 'bookings.db'}",
        timezone="Europe/Moscow",
    )
    app = create_app(
        settings, orchestrator_url="http://127.0.0.1:9", call_store=store, clock=FixedClock(NOW)
    )
    with TestClient(app) as client:
        page = client.get(f"/admin/calls/{CALL}", auth=AUTH).text
        assert "Запись на приём" in page
        assert "Запись: Консультация, в четверг, 10 декабря, в 9:30 — Анна, +79161234567" in page
        listing = client.get("/admin", auth=AUTH).text
    assert "Предстоящие записи" in listing
    assert "четверг, 10 декабря, в 9:30 — Консультация, Анна" in listing
    assert "Отменивший" not in listing and "Вчерашний" not in listing
    await store.close()


async def test_the_owners_notice_says_what_was_booked(store: SqlCallStore) -> None:
    await store.add_event(CALL, "appointment_cancelled", {**BOOKED, "name": "Анна"})
    record = await store.get_call(CALL)
    assert record is not None
    lines = appointment_lines(await store.events(CALL))
    notice = notice_for_call(record, "https://lidia.example.com", lines)
    text = notice_text(notice, "Europe/Moscow")
    assert "Запись: Консультация, в четверг, 10 декабря, в 9:30 — Анна, +79161234567" in text
    assert "Отмена записи: Консультация, в четверг, 10 декабря, в 9:30" in text
    assert notice.as_json()["appointments"] == lines
    await store.close()
