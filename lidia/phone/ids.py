"""Identifiers that name a call on disk and in URLs: checked before they touch a path.

A call's id is Twilio's CallSid ("CA" + 32 hex) as Twilio sends it, or, for a call through
Asterisk, `AST-` + the id the dialplan gives (`${UNIQUEID}` like `1733561234.42`, or
AudioSocket's UUID) with its dots made underscores: `AST-1733561234_42`. Either is a safe
folder name (letters, digits, `-`, `_`; no dots, no slashes).
"""

from __future__ import annotations

import re

CALL_SID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$")
# What a dialplan may name its call by: UNIQUEID or a UUID (no `_`: the mapping stays one-to-one).
ASTERISK_CALL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,59}$")
ASTERISK_PREFIX = "AST-"


def is_call_sid(value: str) -> bool:
    """A call id (Twilio's CallSid or an `AST-…` id): safe as a folder name."""
    return bool(CALL_SID_PATTERN.match(value))


def asterisk_call_id(dialplan_id: str) -> str | None:
    """The call id for the dialplan's own id for the call; None when it is not one."""
    if not ASTERISK_CALL_PATTERN.match(dialplan_id):
        return None
    return ASTERISK_PREFIX + dialplan_id.replace(".", "_")
