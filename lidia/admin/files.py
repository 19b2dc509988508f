"""Call audio on disk, as the dashboard may serve it: only files inside `calls_log/<CallSid>/`.

The URL names the call and a file name; both are checked against strict patterns and the
resolved path (symlinks followed) must still lie inside the call's folder, so `..`, absolute
paths or links cannot reach anything else.
"""

from __future__ import annotations

import re
from pathlib import Path

from lidia.phone.ids import CALL_SID_PATTERN

FILE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,127}$")
AUDIO_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
}


def call_audio_file(calls_log_dir: Path, call_sid: str, name: str) -> Path | None:
    """The file `name` of the call, or None when it does not exist or is not allowed."""
    if not CALL_SID_PATTERN.match(call_sid) or not FILE_NAME_PATTERN.match(name):
        return None
    if Path(name).suffix.lower() not in AUDIO_TYPES:
        return None
    folder = (calls_log_dir / call_sid).resolve()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        return None
    return path


def audio_media_type(path: Path) -> str:
    return AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream")


def audio_name(stored_path: str | None, call_sid: str, calls_log_dir: Path) -> str | None:
    """The file name to put in an audio URL for a stored path, if it is in the call's folder."""
    if not stored_path:
        return None
    name = Path(stored_path).name
    return name if call_audio_file(calls_log_dir, call_sid, name) else None
