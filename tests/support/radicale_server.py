"""A real CalDAV server for the booking tests: Radicale on 127.0.0.1 with a password.

`RadicaleServer` runs `python -m radicale` (htpasswd auth, plain passwords, storage in a
temporary folder) on a free port; `new_calendar()` makes a calendar of its own for one test,
and `seed()` puts events into it through the caldav client, as the owner would.
"""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import caldav

USERNAME = "owner"
PASSWORD = "app-password-1"
_START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RadicaleServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> RadicaleServer:
        users = self.folder / "users"
        users.write_text(f"{USERNAME}:{PASSWORD}\n", encoding="utf-8")
        config = self.folder / "config"
        config.write_text("", encoding="utf-8")  # no system or user config is read
        log = (self.folder / "radicale.log").open("wb")
        command = [
            sys.executable,
            "-m",
            "radicale",
            "--config",
            str(config),
            "--server-hosts",
            f"127.0.0.1:{self.port}",
            "--auth-type",
            "htpasswd",
            "--auth-htpasswd-filename",
            str(users),
            "--auth-htpasswd-encryption",
            "plain",
            "--auth-delay",
            "0",
            "--storage-filesystem-folder",
            str(self.folder / "collections"),
        ]
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"radicale exited: {(self.folder / 'radicale.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("radicale did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def client(self, password: str = PASSWORD) -> caldav.DAVClient:
        return caldav.DAVClient(url=self.url, username=USERNAME, password=password)

    def new_calendar(self, prefix: str = "Приём") -> tuple[str, Any]:
        """A fresh calendar (its display name, and the caldav object)."""
        name = f"{prefix} {uuid.uuid4().hex[:8]}"
        calendar = self.client().principal().make_calendar(name=name)
        return name, calendar

    def events(self, calendar: Any) -> list[Any]:
        return [event.icalendar_component for event in calendar.events()]


def seed_event(
    calendar: Any,
    start: dt.datetime | dt.date,
    end: dt.datetime | dt.date,
    summary: str,
    *,
    extra: str = "",
    uid: str | None = None,
) -> None:
    """One event, written as raw iCalendar (so RRULE, TRANSP, STATUS go in as they are)."""
    calendar.add_event(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//lidia tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid or uuid.uuid4().hex}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"{_ical_time('DTSTART', start)}\r\n{_ical_time('DTEND', end)}\r\n"
        f"SUMMARY:{summary}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def _ical_time(name: str, value: dt.datetime | dt.date) -> str:
    if not isinstance(value, dt.datetime):
        return f"{name};VALUE=DATE:{value:%Y%m%d}"
    zone = getattr(value.tzinfo, "key", None)
    if zone:
        return f"{name};TZID={zone}:{value:%Y%m%dT%H%M%S}"
    return f"{name}:{value.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}"
