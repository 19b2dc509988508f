"""Both sides of a call in the order they were heard: the caller's turns, Лидия's replies and
her fixed prompts (greeting, fillers, apology), each with its offset in the call.

Streamed calls carry offsets (turns: `caller_offset_s` / `reply_offset_s`; prompts: `prompt`
events); lines without one (gather-mode calls, older records) keep their turn order at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from lidia.phone.call_store import EventRecord, TurnRecord


@dataclass(frozen=True)
class Line:
    """One thing said: by whom, what, and when (seconds from the call's start)."""

    who: Literal["caller", "lidia"]
    kind: Literal["utterance", "reply", "prompt"]
    text: str
    offset_s: float | None
    turn_index: int | None = None
    prompt: str | None = None  # the prompt's name: greeting | apology | ...

    @property
    def clock(self) -> str:
        """The offset as м:сс (or "—" when unknown)."""
        if self.offset_s is None:
            return "—"
        minutes, seconds = divmod(int(self.offset_s), 60)
        return f"{minutes}:{seconds:02d}"


def conversation(turns: list[TurnRecord], events: list[EventRecord]) -> list[Line]:
    lines: list[Line] = []
    for event in events:
        if event.kind == "prompt":
            lines.append(_prompt_line(event.data))
    for turn in turns:
        text = turn.transcript or "(не распознано)"
        lines.append(Line("caller", "utterance", text, turn.caller_offset_s, turn.turn_index))
        if turn.reply:
            lines.append(Line("lidia", "reply", turn.reply, turn.reply_offset_s, turn.turn_index))
    return sorted(lines, key=lambda line: math.inf if line.offset_s is None else line.offset_s)


def _prompt_line(data: dict) -> Line:
    offset = data.get("offset_s")
    return Line(
        "lidia",
        "prompt",
        str(data.get("text") or ""),
        float(offset) if isinstance(offset, int | float) else None,
        prompt=str(data.get("name") or ""),
    )
