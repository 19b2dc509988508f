"""The calendar clock: one injectable source of "now", and a guard that keeps it the only one."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lidia.core.clock import SYSTEM_CLOCK, Clock, FixedClock, local_now

PACKAGE = Path(__file__).resolve().parents[2] / "lidia"
# Wall-clock reads that decide nothing by date: an OpenAI response's `created` stamp, the
# time of an LLM error shown on /health, and file ages compared with file mtimes.
ALLOWED_WALL_CLOCK = {
    "lidia/core/clock.py",
    "lidia/orchestrator/routes/openai_chat.py",
    "lidia/llm/health.py",
    "lidia/phone/audio_cache.py",
}


def test_a_fixed_clock_stands_still_until_moved() -> None:
    clock = FixedClock(dt.datetime(2031, 2, 28, 23, 30, tzinfo=ZoneInfo("Europe/Moscow")))
    assert clock.now() == dt.datetime(2031, 2, 28, 20, 30, tzinfo=dt.UTC)
    assert clock.now().tzinfo is dt.UTC
    assert clock.advance(hours=4) == dt.datetime(2031, 3, 1, 0, 30, tzinfo=dt.UTC)
    clock.set(dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
    assert local_now(clock, "Asia/Vladivostok").isoformat() == "2040-01-01T10:00:00+10:00"


def test_a_fixed_clock_refuses_a_naive_moment() -> None:
    with pytest.raises(ValueError, match="time zone"):
        FixedClock(dt.datetime(2031, 1, 1))


def test_both_clocks_speak_the_protocol() -> None:
    assert isinstance(SYSTEM_CLOCK, Clock) and isinstance(FixedClock(SYSTEM_CLOCK.now()), Clock)
    assert SYSTEM_CLOCK.now().tzinfo is dt.UTC


def _wall_clock_reads(source: str) -> list[int]:
    """Lines that call `datetime.now()`, `datetime.utcnow()`, `date.today()` or `time.time()`."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if (name, node.func.attr) in {
                ("datetime", "now"),
                ("datetime", "utcnow"),
                ("date", "today"),
                ("time", "time"),
            }:
                lines.append(node.lineno)
    return lines


def test_only_the_clock_reads_the_calendar() -> None:
    """Code that decides by date asks a `Clock`; a new `datetime.now()` elsewhere fails here."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).as_posix()
        if relative not in ALLOWED_WALL_CLOCK and (lines := _wall_clock_reads(path.read_text())):
            found[relative] = lines
    assert found == {}, f"read the injected Clock instead of the wall clock: {found}"
