"""Operator commands.

python -m manage voice prepare [--count N] [--force]
    Precompute the cloned voice's XTTS conditioning latents from the clips in
    VOICE_SAMPLES_DIR (default: all of them) and cache them under models/voice_cache/,
    so the first request after a start does not pay for them.
python -m manage voice list
    The clips the service would use, in order.
"""

from __future__ import annotations

import argparse
import sys

from lidia.core.errors import LidiaError
from lidia.core.settings import Settings, get_settings
from lidia.tts.engines.xtts import list_voice_clips, prepare_voice_latents
from lidia.tts.service import voice_clips


def voice_prepare(settings: Settings, count: int, force: bool) -> int:
    clips = list_voice_clips(settings.voice_samples_dir)
    if not clips:
        print(f"error: no voice clips in {settings.voice_samples_dir}", file=sys.stderr)
        return 1
    chosen = clips[:count] if count > 0 else clips
    print(
        f"Preparing voice latents from {len(chosen)} of {len(clips)} clips "
        f"in {settings.voice_samples_dir} (checkpoint {settings.xtts_dir}, "
        f"device {settings.tts_device})"
    )
    path = prepare_voice_latents(
        settings.xtts_dir,
        chosen,
        cache_dir=settings.models_dir / "voice_cache",
        device=settings.tts_device,
        progress=True,
        force=force,
    )
    print(f"Cached: {path}")
    if len(chosen) != settings.voice_samples_count:
        print(
            f"The service uses these latents when VOICE_SAMPLES_COUNT={count or 0} "
            f"(0 = all clips) is set in .env."
        )
    return 0


def voice_list(settings: Settings) -> int:
    clips = list_voice_clips(settings.voice_samples_dir)
    used = set(voice_clips(settings.voice_samples_dir, settings.voice_samples_count))
    for clip in clips:
        print(f"{'*' if clip in used else ' '} {clip.name}")
    print(
        f"{len(clips)} clips; * = used by the service (VOICE_SAMPLES_COUNT="
        f"{settings.voice_samples_count})"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m manage",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    groups = parser.add_subparsers(dest="group", required=True)
    voice = groups.add_parser("voice", help="the cloned voice").add_subparsers(
        dest="command", required=True
    )
    prepare = voice.add_parser("prepare", help="precompute and cache the voice latents")
    prepare.add_argument("--count", type=int, default=0, help="first N clips (0 = all)")
    prepare.add_argument("--force", action="store_true", help="recompute even if cached")
    voice.add_parser("list", help="list the voice clips")
    args = parser.parse_args(argv)
    settings = get_settings()
    try:
        if args.command == "prepare":
            return voice_prepare(settings, args.count, args.force)
        return voice_list(settings)
    except LidiaError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
