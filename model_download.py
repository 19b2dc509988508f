"""Download the production models into `models/` and prepare XTTS for read-only use.

    python model_download.py                      # both: XTTS v2 and faster-whisper
    python model_download.py --xtts               # only XTTS v2 → models/xtts_v2/
    python model_download.py --whisper large-v3-turbo --models-dir models

Downloads come from the Hugging Face Hub (`HF_ENDPOINT` / `HF_TOKEN` are honoured), show
progress bars and resume after an interruption: just run the command again. Files that
are already in place are not fetched again, so copying them in by hand works offline.

After the XTTS files are in place, `model.pth` is converted once so that it loads from a
read-only directory (see `convert_xtts_checkpoint`). Exit code 0 when every requested
model is ready, 1 when any failed (one line per failure on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

XTTS_REPO = "coqui/XTTS-v2"
# What `Xtts.load_checkpoint` needs for cloned voices. `speakers_xtts.pth` (the built-in
# studio speakers) is optional there and unused by us, so it is not fetched.
XTTS_FILES = ("config.json", "model.pth", "vocab.json")
DEFAULT_WHISPER = "large-v3-turbo"
# faster-whisper's own file list (`faster_whisper.utils.download_model`).
WHISPER_PATTERNS = (
    "config.json",
    "preprocessor_config.json",
    "model.bin",
    "tokenizer.json",
    "vocabulary.*",
)
WHISPER_REQUIRED = ("config.json", "model.bin", "tokenizer.json")
# Used only if faster-whisper's private name table moves.
_FALLBACK_WHISPER_REPOS = {
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "large-v3": "Systran/faster-whisper-large-v3",
    "tiny": "Systran/faster-whisper-tiny",
    "small": "Systran/faster-whisper-small",
    "medium": "Systran/faster-whisper-medium",
}

LICENSE_NOTICE = (
    "NOTE: the XTTS v2 weights are licensed under the Coqui Public Model License (CPML): "
    "non-commercial use only. See https://coqui.ai/cpml before using them in a business."
)


class DownloadError(Exception):
    """A model could not be made ready; the message is the one line shown to the user."""


# --- XTTS ----------------------------------------------------------------------------------


def xtts_dir(models_dir: Path) -> Path:
    return models_dir / "xtts_v2"


def download_xtts(models_dir: Path, *, revision: str | None = None) -> Path:
    """Fetch the XTTS v2 files into `models/xtts_v2/` (skipped when present), then convert."""
    target = xtts_dir(models_dir)
    if not _all_present(target, XTTS_FILES):
        print(LICENSE_NOTICE, flush=True)
        _snapshot(XTTS_REPO, target, XTTS_FILES, revision=revision, what="XTTS v2")
    missing = [name for name in XTTS_FILES if not (target / name).is_file()]
    if missing:
        raise DownloadError(f"XTTS v2: {', '.join(missing)} missing in {target} after download")
    try:
        converted = convert_xtts_checkpoint(target / "model.pth")
    except Exception as exc:  # damaged file, full disk, read-only folder
        raise DownloadError(
            f"XTTS v2: converting {target / 'model.pth'} for read-only loading failed "
            f"({_short_reason(exc)}). Make the folder writable (or free disk space) and rerun; "
            "delete model.pth first if it is damaged."
        ) from exc
    if converted:
        print(f"converted {target / 'model.pth'} for read-only loading", flush=True)
    return target


def convert_xtts_checkpoint(model_path: Path) -> bool:
    """Make a released XTTS checkpoint loadable from a read-only directory. Idempotent.

    coqui's `Xtts._load_checkpoint` first tries a safe (`weights_only`) load; the released
    `model.pth` pickles an `XttsConfig` object, so that fails, and coqui then loads it
    unsafely, turns the config into a dict and `torch.save`s over `model.pth` in place,
    which fails on a read-only mount. This does that same conversion once, atomically
    (temp file + `os.replace`). Returns True if the file was converted, False if it
    already loads safely. Blocking; needs about twice the file's size in RAM.
    """
    import torch

    from lidia.tts.engines.xtts import checkpoint_pickles_config

    if not checkpoint_pickles_config(model_path):
        return False
    from TTS.tts.configs.xtts_config import XttsConfig

    # The file is the official release we just fetched; its pickle names coqui classes
    # (some under old module paths that `TTS.tts.models.xtts` still re-exports).
    checkpoint = torch.load(model_path, map_location="cpu", weights_only=False)
    config = checkpoint.get("config")
    if isinstance(config, XttsConfig):
        config.speakers = []  # as coqui does: the speaker list is not part of the weights
        checkpoint["config"] = config.to_dict()
    _atomic_torch_save(checkpoint, model_path)
    return True


def _atomic_torch_save(obj: object, path: Path) -> None:
    import torch

    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pth")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


# --- faster-whisper ------------------------------------------------------------------------


def whisper_repo(name: str) -> str:
    """The Hub repo faster-whisper maps `name` to (or `name` itself if it is `owner/repo`)."""
    if "/" in name:
        return name
    try:
        from faster_whisper.utils import _MODELS as repos
    except ImportError:
        repos = _FALLBACK_WHISPER_REPOS
    if name not in repos:
        raise DownloadError(
            f"faster-whisper: unknown model name {name!r}; use one of {', '.join(sorted(repos))} "
            "or an owner/repo id"
        )
    return repos[name]


def download_whisper(models_dir: Path, name: str, *, revision: str | None = None) -> Path:
    """Fetch a faster-whisper model into `models/whisper/<name>/` (skipped when present)."""
    target = models_dir / "whisper" / name.replace("/", "--")
    if not _all_present(target, WHISPER_REQUIRED):
        _snapshot(
            whisper_repo(name),
            target,
            WHISPER_PATTERNS,
            revision=revision,
            what=f"faster-whisper {name}",
        )
    return target


# --- Shared --------------------------------------------------------------------------------


def _all_present(folder: Path, names: Sequence[str]) -> bool:
    return all((folder / name).is_file() and (folder / name).stat().st_size > 0 for name in names)


def _snapshot(
    repo_id: str, target: Path, patterns: Sequence[str], *, revision: str | None, what: str
) -> None:
    """`snapshot_download` into `target` (progress bars, resumable), errors as one line."""
    from huggingface_hub import snapshot_download

    target.mkdir(parents=True, exist_ok=True)
    try:
        snapshot_download(
            repo_id, revision=revision, local_dir=target, allow_patterns=list(patterns)
        )
    except Exception as exc:  # network, auth, disk: all become one actionable line
        raise DownloadError(
            f"{what}: download of {repo_id} failed ({_short_reason(exc)}). Check the network "
            f"(HF_ENDPOINT, HF_TOKEN, proxy) and rerun to resume, or copy the files "
            f"({', '.join(patterns)}) from {repo_id} into {target}/ by hand and rerun."
        ) from exc


def _short_reason(exc: BaseException) -> str:
    first_line = (str(exc).strip().splitlines() or [""])[0]
    reason = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
    return reason if len(reason) <= 200 else reason[:197] + "..."


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--xtts", action="store_true", help="download XTTS v2")
    parser.add_argument(
        "--whisper", metavar="NAME", help=f"faster-whisper model, e.g. {DEFAULT_WHISPER}"
    )
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--revision", help="Hub revision (branch, tag or commit) for XTTS")
    args = parser.parse_args(argv)
    if not args.xtts and args.whisper is None:  # no choice = both production models
        args.xtts, args.whisper = True, DEFAULT_WHISPER
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    jobs = []
    if args.xtts:
        jobs.append(("XTTS v2", lambda: download_xtts(args.models_dir, revision=args.revision)))
    if args.whisper is not None:
        jobs.append(
            (
                f"faster-whisper {args.whisper}",
                lambda: download_whisper(args.models_dir, args.whisper),
            )
        )
    failures = 0
    for label, job in jobs:
        try:
            path = job()
        except DownloadError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            failures += 1
        except KeyboardInterrupt:
            print(f"error: {label}: interrupted; rerun to resume", file=sys.stderr)
            return 130
        else:
            print(f"{label}: ready in {path}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
