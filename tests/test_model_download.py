"""model_download.py: the read-only conversion of XTTS checkpoints and offline failures."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lidia.tts.engines.xtts import XttsEngine, checkpoint_pickles_config
from model_download import (
    DEFAULT_WHISPER,
    DownloadError,
    convert_xtts_checkpoint,
    parse_args,
    whisper_repo,
)
from tests.support.xtts_tiny import make_voice_clips, save_with_pickled_config

PROJECT_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture
def released_style_checkpoint(tiny_checkpoint: Path, tmp_path: Path) -> Path:
    """A copy of the tiny checkpoint saved like the release: with a pickled XttsConfig."""
    folder = tmp_path / "xtts_v2"
    shutil.copytree(tiny_checkpoint, folder)
    save_with_pickled_config(folder)
    return folder


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there once the probe is closed


def run_offline(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HF_ENDPOINT": closed_port_url(),
        "HF_HOME": str(home / "hf"),
        "HF_HUB_ETAG_TIMEOUT": "3",
        "HF_HUB_DOWNLOAD_TIMEOUT": "3",
    }
    env.pop("HF_HUB_OFFLINE", None)
    return subprocess.run(
        [sys.executable, "model_download.py", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_conversion_makes_a_released_checkpoint_load_read_only(
    released_style_checkpoint: Path, tmp_path: Path
) -> None:
    model_path = released_style_checkpoint / "model.pth"
    assert checkpoint_pickles_config(model_path)

    assert convert_xtts_checkpoint(model_path) is True
    assert not checkpoint_pickles_config(model_path)
    converted = model_path.read_bytes()
    assert convert_xtts_checkpoint(model_path) is False  # idempotent: nothing to do
    assert model_path.read_bytes() == converted
    assert sorted(p.name for p in released_style_checkpoint.iterdir()) == [
        "config.json",
        "model.pth",
        "vocab.json",
    ]  # no temp files left behind

    model_path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    clips = make_voice_clips(tmp_path / "clips", n=1)
    engine = XttsEngine.load(
        released_style_checkpoint, clips, device="cpu", cache_dir=tmp_path / "cache"
    )
    assert len(engine.synthesize("Да.", "ru")) > 0
    assert model_path.read_bytes() == converted  # the load wrote nothing


def test_unconverted_release_is_rewritten_by_coqui_on_load(
    released_style_checkpoint: Path, tmp_path: Path
) -> None:
    """The trap the conversion exists for: coqui rewrites such a model.pth on every host."""
    model_path = released_style_checkpoint / "model.pth"
    original = model_path.read_bytes()
    clips = make_voice_clips(tmp_path / "clips", n=1)
    XttsEngine.load(released_style_checkpoint, clips, device="cpu", cache_dir=tmp_path / "c")
    assert model_path.read_bytes() != original
    assert not checkpoint_pickles_config(model_path)


def test_offline_download_fails_with_one_clear_line_per_model(tmp_path: Path) -> None:
    result = run_offline("--models-dir", str(tmp_path / "models"), home=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2
    assert errors[0].startswith("error: XTTS v2: download of coqui/XTTS-v2 failed")
    assert f"into {tmp_path / 'models' / 'xtts_v2'}/ by hand" in errors[0]
    assert errors[1].startswith(f"error: faster-whisper {DEFAULT_WHISPER}: download of")
    assert "Coqui Public Model License" in result.stdout


def test_offline_with_files_copied_by_hand_converts_and_succeeds(
    released_style_checkpoint: Path, tmp_path: Path
) -> None:
    models_dir = released_style_checkpoint.parent
    result = run_offline("--xtts", "--models-dir", str(models_dir), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "converted" in result.stdout
    assert not checkpoint_pickles_config(released_style_checkpoint / "model.pth")


def test_no_flags_means_both_production_models() -> None:
    args = parse_args([])
    assert args.xtts is True and args.whisper == DEFAULT_WHISPER
    only_whisper = parse_args(["--whisper", "small"])
    assert only_whisper.xtts is False and only_whisper.whisper == "small"


def test_whisper_names_map_to_faster_whisper_repos() -> None:
    assert whisper_repo("large-v3-turbo") == "mobiuslabsgmbh/faster-whisper-large-v3-turbo"
    assert whisper_repo("someone/custom-ct2") == "someone/custom-ct2"
    with pytest.raises(DownloadError, match="unknown model name"):
        whisper_repo("gigantic-v9")
