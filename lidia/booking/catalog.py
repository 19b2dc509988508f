"""What can be booked: `BOOKING_SERVICES=Консультация=30; Стрижка=60` (name = minutes)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class BookableService:
    name: str
    minutes: int

    @property
    def duration(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.minutes)


def parse_services(text: str) -> tuple[BookableService, ...]:
    """Parse `text`; `ValueError` names the part that is not understood."""
    services: list[BookableService] = []
    for part in filter(None, (piece.strip() for piece in text.split(";"))):
        name, sep, minutes = part.rpartition("=")
        if not sep or not name.strip() or not minutes.strip().isdigit():
            raise ValueError(f"bad service {part!r} (use 'Консультация=30; Стрижка=60')")
        if not 5 <= int(minutes) <= 24 * 60:
            raise ValueError(f"service {name.strip()!r}: minutes must be 5..1440")
        services.append(BookableService(name.strip(), int(minutes)))
    if not services:
        raise ValueError(f"no services in {text!r} (e.g. 'Консультация=30')")
    return tuple(services)


def find_service(services: tuple[BookableService, ...], asked: str) -> BookableService | None:
    """The service the model named: exact (any case), then another case form of it
    («консультацию», «на стрижку»), else the only one there is."""
    wanted = asked.strip().casefold()
    for service in services:
        if service.name.casefold() == wanted:
            return service
    for service in services:
        if _same_word(service.name.casefold(), wanted.removeprefix("на ").strip()):
            return service
    return services[0] if len(services) == 1 else None


def _same_word(name: str, asked: str) -> bool:
    """Equal but for a Russian case ending (at most two letters)."""
    shared = next(
        (i for i, (a, b) in enumerate(zip(name, asked, strict=False)) if a != b),
        min(len(name), len(asked)),
    )
    return shared >= 4 and shared >= max(len(name), len(asked)) - 2
