"""What one reply sent to Twilio, and how much of it Twilio says has played (its marks)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Playback:
    """Audio sent to the carrier for one reply, and how much of it the carrier says has played."""

    name: str
    turn_index: int | None
    sent_ms: int = 0
    marks: dict[str, int] = field(default_factory=dict)  # sent, not yet echoed → ms
    echoed_ms: int = 0
    anchor: float | None = None  # when playback of the audio after `echoed_ms` began
    finished_sending: bool = False
    utterance_start: int | None = None  # where the caller's words this answers began
    continued: bool = False  # cut off unsaid because the caller went on speaking
    text: str = ""  # what a fixed prompt says (greeting, apology), for the transcript
    acted: bool = False  # played out, then Лидия hung up or transferred: the call ends by her

    @property
    def playing(self) -> bool:
        return not self.finished_sending or bool(self.marks) or self.echoed_ms < self.sent_ms

    def heard_ms(self, now: float) -> int:
        """Played so far: the last echoed mark, plus real time since then (capped)."""
        if self.anchor is None:
            return self.echoed_ms
        return min(self.sent_ms, self.echoed_ms + int((now - self.anchor) * 1000))
