"""Where a turn comes from, and so what Лидия may do in it.

The channel decides the tools (issue 20): a phone turn carries the actions its call can carry
out (`transfer_call`, `end_call`, `take_message`: the phone service knows the carrier, the
transfer number and its hours) and the caller's number; a text chat (`/chat`,
`/v1/chat/completions`) gets none of the phone-only tools and a persona that does not talk
about callers. Booking tools are offered on both when booking is configured.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lidia.secretary.actions import PHONE_ACTIONS


@dataclass(frozen=True)
class TurnChannel:
    phone: bool = False
    actions: tuple[str, ...] = ()  # phone actions this call can carry out
    caller: str | None = None  # the caller's number (phone), for bookings


TEXT_CHAT = TurnChannel()

# The persona's `{channel}`: who Лидия talks to and how her words reach them.
_CHANNEL_LINES = {
    True: "Ты отвечаешь на телефонные звонки на русском языке. Твой ответ будет произнесён "
    "голосом по телефону, поэтому говори так, как говорят вслух, одним или двумя короткими "
    "предложениями.",
    False: "Ты отвечаешь на сообщения в чате на русском языке. Отвечай коротко, одним или "
    "тремя предложениями.",
}


def channel_lines(channel: TurnChannel) -> str:
    return _CHANNEL_LINES[channel.phone]


def parse_actions(values: Iterable[str]) -> tuple[str, ...]:
    """Action names from a list or comma-separated strings; `ValueError` names an unknown one."""
    names: list[str] = []
    for value in values:
        for name in (part.strip() for part in value.split(",")):
            if not name:
                continue
            if name not in PHONE_ACTIONS:
                known = ", ".join(PHONE_ACTIONS)
                raise ValueError(f"unknown action {name!r} (known: {known})")
            if name not in names:
                names.append(name)
    return tuple(names)


def phone_channel(actions: Iterable[str], caller: str | None = None) -> TurnChannel:
    return TurnChannel(phone=True, actions=parse_actions(actions), caller=caller or None)
