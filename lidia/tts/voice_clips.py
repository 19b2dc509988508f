"""The cloned voice's reference clips: which files of the voice folder are used, in order.

One rule for everyone who needs it (the XTTS loader, `python -m manage voice prepare`,
benches): the order is part of the latents cache key, so two callers that listed clips
differently would compute latents the other never finds.
"""

from __future__ import annotations

from pathlib import Path

# What the XTTS clip reader (soundfile / libsndfile) decodes.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


def voice_clips(folder: Path, count: int = 0) -> list[Path]:
    """The first `count` audio clips of `folder` sorted by name; `count=0` = all of them
    (VOICE_SAMPLES_COUNT=0). Empty when the folder is missing."""
    if not folder.is_dir():
        return []
    clips = sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS
    )
    return clips[:count] if count > 0 else clips
