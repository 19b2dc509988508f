"""Operator commands.

python -m manage voice prepare [--count N] [--force]
    Precompute the cloned voice's XTTS conditioning latents from the clips the service
    uses (VOICE_SAMPLES_DIR, the first VOICE_SAMPLES_COUNT of them unless --count says
    otherwise; 0 = all) and cache them under models/voice_cache/, so the first request
    after a start does not pay for them.
python -m manage voice list
    The clips the service would use, in order.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lidia.core.errors import LidiaError
from lidia.core.settings import Settings, get_settings
from lidia.tts.registry import cloned_voice_clips
from lidia.tts.voice_clips import voice_clips


def clips_to_prepare(settings: Settings, count: int | None = None) -> list[Path]:
    """The clips `voice prepare` computes latents from: the service's own choice unless
    `count` overrides VOICE_SAMPLES_COUNT."""
    if count is None:
        return cloned_voice_clips(settings)
    return voice_clips(settings.voice_samples_dir, count)


def voice_prepare(settings: Settings, count: int | None, force: bool) -> int:
    # Imported here: torch and coqui-tts take seconds, `voice list` needs neither.
    from lidia.tts.engines.xtts import prepare_voice_latents

    clips = voice_clips(settings.voice_samples_dir)
    chosen = clips_to_prepare(settings, count)
    if not chosen:
        print(f"error: no voice clips in {settings.voice_samples_dir}", file=sys.stderr)
        return 1
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
    if chosen != cloned_voice_clips(settings):
        print(
            f"The service uses these latents when VOICE_SAMPLES_COUNT={count} "
            f"(0 = all clips) is set in .env."
        )
    return 0


def voice_list(settings: Settings) -> int:
    clips = voice_clips(settings.voice_samples_dir)
    used = set(cloned_voice_clips(settings))
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
    prepare.add_argument(
        "--count",
        type=int,
        default=None,
        help="first N clips (0 = all; default VOICE_SAMPLES_COUNT)",
    )
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
