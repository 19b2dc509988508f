"""Identifiers that name a call on disk and in URLs: checked before they touch a path."""

from __future__ import annotations

import re

# Twilio's CallSid ("CA" + 32 hex); strict enough to be a folder name under calls_log/.
CALL_SID_PATTERN = re.compile(r"^[A-Za-z0-9]{2,64}$")


def is_call_sid(value: str) -> bool:
    return bool(CALL_SID_PATTERN.match(value))
