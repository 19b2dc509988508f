"""The calls this process touched lately, kept in memory, so a live call can still read its own
record (the media stream's `start`, the turn count, the call's end) while the database is down.

Fed by every journaled write and every successful read; bounded (oldest calls forgotten).
"""

from __future__ import annotations

import copy
import dataclasses
from collections import OrderedDict
from typing import Any

from lidia.phone.call_store.schema import CallRecord, TurnRecord


@dataclasses.dataclass
class _Recent:
    call: CallRecord
    turns: dict[int, TurnRecord] = dataclasses.field(default_factory=dict)


class RecentCalls:
    def __init__(self, max_calls: int = 512) -> None:
        self.max_calls = max_calls
        self._calls: OrderedDict[str, _Recent] = OrderedDict()

    def call(self, call_sid: str) -> CallRecord | None:
        recent = self._calls.get(call_sid)
        return copy.deepcopy(recent.call) if recent else None

    def turns(self, call_sid: str) -> list[TurnRecord] | None:
        recent = self._calls.get(call_sid)
        if recent is None:
            return None
        return [copy.deepcopy(recent.turns[i]) for i in sorted(recent.turns)]

    def remember(self, call: CallRecord, turns: list[TurnRecord] | None = None) -> None:
        recent = self._calls.get(call.call_sid)
        if recent is None:
            recent = self._calls[call.call_sid] = _Recent(copy.deepcopy(call))
            while len(self._calls) > self.max_calls:
                self._calls.popitem(last=False)
        else:
            recent.call = copy.deepcopy(call)
        self._calls.move_to_end(call.call_sid)
        for turn in turns or []:
            recent.turns[turn.turn_index] = copy.deepcopy(turn)

    def note(self, op: str, args: dict[str, Any]) -> None:
        """Reflect one journaled write (the same arguments the journal holds)."""
        if op == "create_call":
            if args["call_sid"] not in self._calls:
                self.remember(CallRecord(**args))
            return
        recent = self._calls.get(args.get("call_sid", ""))
        if recent is None:
            return
        call = recent.call
        if op == "update_call":
            for name, value in args["fields"].items():
                setattr(call, name, value)
        elif op == "finish_call":
            call.status = args["status"]
            call.ended_at = args["ended_at"]
            started = call.started_at
            measured = (args["ended_at"] - started).total_seconds() if started.tzinfo else None
            call.duration_s = args["duration_s"] if args["duration_s"] is not None else measured
            call.outcome = args["outcome"] or call.outcome or args["status"]
        elif op == "add_turn":
            turn = TurnRecord(**args["turn"])
            recent.turns.setdefault(turn.turn_index, turn)
        elif op == "update_turn" and args["turn_index"] in recent.turns:
            for name, value in args["fields"].items():
                setattr(recent.turns[args["turn_index"]], name, value)
        elif op == "add_error":
            call.errors = [*call.errors, args["message"]]
        elif op == "claim_stream" and call.stream_claimed_at is None:
            call.stream_claimed_at = args["at"]
        elif op == "add_dtmf":
            call.dtmf = (call.dtmf + args["digit"])[:256]
